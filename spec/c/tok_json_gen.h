/*
** tok_json_gen.h: writes the two Hugging Face tokenizer.json files the tokenizer tests use,
** too large to commit: Llama 3's, from its ranks (llama3-tokenizer.model) and the names of its
** special tokens (llama3-vocab.gguf), and SmolLM2's, from the model's GGUF. The fixture script
** (spec/fixtures/tokenizer/make_fixtures.py) runs this same code (test_tok_hf --write) and
** records a digest of each file, so the test knows it reads the file PyPI's tokenizers read.
**
** Llama 3's merges follow transformers' TikTokenConverter: every split of a token into two
** tokens, by the rank of the token, then by the ranks of the two halves.
*/
#ifndef QORA_TOK_JSON_GEN_H
#define QORA_TOK_JSON_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "gguf.h"

/* ------------------------------------------------------------ helpers */

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n. */
static inline uint32_t gen_byte_cp(unsigned char b) {
  uint32_t n = 0;

  for (int c = 0; c < 256; c++) {
    int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;

    if (c == b)
      return printable ? (uint32_t)c : 256 + n;
    n += !printable;
  }
  return 0;
}


/* Writes bytes as a JSON string in the byte-level alphabet. */
static inline void gen_bytes_json(FILE *f, const unsigned char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    utf8proc_uint8_t buf[4];
    uint32_t cp = gen_byte_cp(s[i]);

    if (cp == '"' || cp == '\\')
      fputc('\\', f);
    fwrite(buf, 1, (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, buf), f);
  }
  fputc('"', f);
}


/* Writes UTF-8 text as a JSON string (quotes, backslashes and controls escaped). */
static inline void gen_text_json(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}


static inline void gen_cstr_json(FILE *f, const char *s) {
  gen_text_json(f, s, strlen(s));
}


static inline uint64_t gen_fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;

  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}


/* FNV-1a 64 of a file, or 0 when it cannot be read. */
static inline uint64_t gen_file_digest(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned char buf[1 << 16];
  uint64_t h = 0xcbf29ce484222325ull;
  size_t n;

  if (f == NULL)
    return 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < n; i++)
      h = (h ^ buf[i]) * 0x100000001b3ull;
  fclose(f);
  return h;
}


static inline FILE *gen_open(const char *dir, const char *name) {
  char path[1024];

  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return fopen(path, "wb");
}


static inline void gen_added(FILE *f, int32_t id, const char *s, size_t n, int first) {
  fprintf(f, "%s\n    {\"id\": %d, \"content\": ", first ? "" : ",", id);
  gen_text_json(f, s, n);
  fprintf(f, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
          "\"normalized\": false, \"special\": true}");
}


#define GEN_BYTE_LEVEL(prefix, regex) "{\"type\": \"ByteLevel\", \"add_prefix_space\": " prefix \
  ", \"trim_offsets\": true, \"use_regex\": " regex "}"

static inline void gen_model_head(FILE *f, int ignore_merges) {
  fprintf(f, "  \"decoder\": " GEN_BYTE_LEVEL("true", "true") ",\n  \"model\": "
          "{\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
          "\"continuing_subword_prefix\": null, "
          "\"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, "
          "\"ignore_merges\": %s,\n  \"vocab\": {", ignore_merges ? "true" : "false");
}


/* ----------------------------------------------------------- Llama 3 */

typedef struct gen_rank {
  unsigned char *bytes;     /* token bytes */
  size_t len;
} gen_rank;

typedef struct gen_ranks {
  gen_rank *tok;            /* by rank */
  int32_t n;
  int32_t *slot;            /* open addressing: bytes -> rank, -1 empty */
  uint32_t mask;
} gen_ranks;

static inline int32_t gen_rank_of(const gen_ranks *r, const unsigned char *s, size_t n) {
  for (uint32_t i = (uint32_t)gen_fnv(s, n) & r->mask;; i = (i + 1) & r->mask) {
    int32_t k = r->slot[i];

    if (k < 0 || (r->tok[k].len == n && memcmp(r->tok[k].bytes, s, n) == 0))
      return k;
  }
}


static inline int gen_b64(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}


/* Reads "base64 rank" lines; ranks must be 0 .. n-1. Returns 0, or -1 on a bad file. */
static inline int gen_read_ranks(const char *path, gen_ranks *r) {
  FILE *f = fopen(path, "rb");
  char line[1024];

  if (f == NULL)
    return -1;
  r->n = 0;
  r->tok = calloc(1 << 18, sizeof *r->tok);
  while (fgets(line, sizeof line, f)) {
    char *sp = strchr(line, ' ');
    long rank = sp ? strtol(sp + 1, NULL, 10) : -1;
    unsigned char *out = malloc(sizeof line);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (rank < 0 || rank >= (1 << 18) || r->tok[rank].bytes)
      return fclose(f), -1;
    for (char *p = line; p < sp && *p != '='; p++) {
      acc = acc << 6 | (uint32_t)gen_b64(*p);
      if ((bits += 6) >= 8)
        out[n++] = (unsigned char)(acc >> (bits -= 8));
    }
    r->tok[rank] = (gen_rank){ out, n };
    r->n = rank + 1 > r->n ? (int32_t)rank + 1 : r->n;
  }
  fclose(f);
  r->mask = (1u << 19) - 1;
  r->slot = malloc(((size_t)r->mask + 1) * sizeof *r->slot);
  memset(r->slot, 0xff, ((size_t)r->mask + 1) * sizeof *r->slot);
  for (int32_t k = 0; k < r->n; k++) {
    uint32_t i;

    if (r->tok[k].bytes == NULL)
      return -1;
    i = (uint32_t)gen_fnv(r->tok[k].bytes, r->tok[k].len) & r->mask;
    while (r->slot[i] >= 0)
      i = (i + 1) & r->mask;
    r->slot[i] = k;
  }
  return 0;
}


static inline int gen_pair_order(const void *a, const void *b) {
  const int32_t *x = a, *y = b;

  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}


static inline void gen_llama3_merges(FILE *f, const gen_ranks *r) {
  int32_t (*pairs)[3] = malloc(1024 * sizeof *pairs);
  int first = 1;

  for (int32_t k = 0; k < r->n; k++) {
    const gen_rank *t = &r->tok[k];
    size_t n = 0;

    for (size_t i = 1; i < t->len && n < 1024; i++) {
      int32_t a = gen_rank_of(r, t->bytes, i), b = gen_rank_of(r, t->bytes + i, t->len - i);

      if (a >= 0 && b >= 0)
        pairs[n][0] = a, pairs[n][1] = b, pairs[n++][2] = (int32_t)i;
    }
    qsort(pairs, n, sizeof *pairs, gen_pair_order);
    for (size_t j = 0; j < n; j++) {
      fputs(first ? "\n    [" : ",\n    [", f);
      gen_bytes_json(f, t->bytes, (size_t)pairs[j][2]);
      fputs(", ", f);
      gen_bytes_json(f, t->bytes + pairs[j][2], t->len - (size_t)pairs[j][2]);
      fputc(']', f);
      first = 0;
    }
  }
  free(pairs);
}


#define GEN_LLAMA3_PATTERN "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static inline void gen_llama3_head(FILE *f, const gguf_str *names, int32_t n_ranks,
                                   int32_t n_tokens) {
  const char *bos = "<|begin_of_text|>";

  fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
          "  \"added_tokens\": [");
  for (int32_t i = n_ranks; i < n_tokens; i++)
    gen_added(f, i, names[i].ptr, names[i].len, i == n_ranks);
  fprintf(f, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"Sequence\", "
          "\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ");
  gen_cstr_json(f, GEN_LLAMA3_PATTERN);
  fprintf(f, "}, \"behavior\": \"Isolated\", \"invert\": false}, "
          GEN_BYTE_LEVEL("false", "false") "]},\n  \"post_processor\": {\"type\": \"Sequence\", "
          "\"processors\": [" GEN_BYTE_LEVEL("true", "true") ", "
          "{\"type\": \"TemplateProcessing\", "
          "\"single\": [{\"SpecialToken\": {\"id\": \"%s\", \"type_id\": 0}}, {\"Sequence\": "
          "{\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": {\"id\": \"%s\", "
          "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
          "{\"id\": \"%s\", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
          "\"special_tokens\": {\"%s\": {\"id\": \"%s\", \"ids\": [%d], "
          "\"tokens\": [\"%s\"]}}}]},\n",
          bos, bos, bos, bos, bos, n_ranks, bos);
}


/* Writes dir/tokenizer.json and dir/tokenizer_config.json for Llama 3. 0, or -1 on error. */
static inline int gen_llama3(const char *model_path, const char *vocab_gguf, const char *dir) {
  qora_err err;
  gen_ranks r = { 0 };
  gguf_file *g = gguf_open(vocab_gguf, &err);
  const gguf_kv *kv = g ? gguf_find(g, "tokenizer.ggml.tokens") : NULL;
  gguf_str *names = kv ? malloc(kv->n * sizeof *names) : NULL;
  FILE *f;

  if (!names || gguf_str_array(kv, names, &err) < 0 || gen_read_ranks(model_path, &r) < 0 ||
      (f = gen_open(dir, "tokenizer.json")) == NULL)
    return -1;
  gen_llama3_head(f, names, r.n, (int32_t)kv->n);
  gen_model_head(f, 1);
  for (int32_t k = 0; k < r.n; k++) {
    fputs(k ? ",\n    " : "\n    ", f);
    gen_bytes_json(f, r.tok[k].bytes, r.tok[k].len);
    fprintf(f, ": %d", k);
  }
  fputs("\n  },\n  \"merges\": [", f);
  gen_llama3_merges(f, &r);
  fputs("\n  ]}\n}\n", f);
  fclose(f);

  f = gen_open(dir, "tokenizer_config.json");
  fprintf(f, "{\n  \"bos_token\": \"<|begin_of_text|>\",\n  \"eos_token\": \"<|eot_id|>\",\n"
          "  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n");
  fclose(f);
  for (int32_t k = 0; k < r.n; k++)
    free(r.tok[k].bytes);
  free(r.tok);
  free(r.slot);
  free(names);
  gguf_close(g);
  return 0;
}


/* ----------------------------------------------------------- SmolLM2 */

static inline void gen_smollm2_json(FILE *f, const gguf_str *tok, const gguf_kv *types,
                                    const gguf_str *merges, uint64_t n_merges, uint64_t n) {
  int first = 1;

  fprintf(f, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
          "  \"added_tokens\": [");
  for (uint64_t i = 0; i < n; i++) {
    if (gguf_arr_int(types, i) == QORA_TOKEN_CONTROL) {
      gen_added(f, (int32_t)i, tok[i].ptr, tok[i].len, first);
      first = 0;
    }
  }
  fprintf(f, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"Sequence\", "
          "\"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, "
          GEN_BYTE_LEVEL("false", "true") "]},\n  \"post_processor\": "
          GEN_BYTE_LEVEL("true", "true") ",\n");
  gen_model_head(f, 0);
  for (uint64_t i = 0; i < n; i++) {
    fputs(i ? ",\n    " : "\n    ", f);
    gen_text_json(f, tok[i].ptr, tok[i].len);
    fprintf(f, ": %d", (int)i);
  }
  fputs("\n  },\n  \"merges\": [", f);
  for (uint64_t i = 0; i < n_merges; i++) {
    fputs(i ? ",\n    " : "\n    ", f);
    gen_text_json(f, merges[i].ptr, merges[i].len);
  }
  fputs("\n  ]}\n}\n", f);
}


/* Writes dir/tokenizer.json and dir/tokenizer_config.json for SmolLM2. 0, or -1 on error. */
static inline int gen_smollm2(const char *gguf_path, const char *dir) {
  qora_err err;
  gguf_file *g = gguf_open(gguf_path, &err);
  const gguf_kv *tk = g ? gguf_find(g, "tokenizer.ggml.tokens") : NULL;
  const gguf_kv *ty = g ? gguf_find(g, "tokenizer.ggml.token_type") : NULL;
  const gguf_kv *mg = g ? gguf_find(g, "tokenizer.ggml.merges") : NULL;
  gguf_str *tok = NULL, *merges = NULL, tpl;
  FILE *f;
  int ok = 0;

  if (tk && ty && mg && (tok = malloc(tk->n * sizeof *tok)) && (merges = malloc(mg->n *
      sizeof *merges)) && gguf_str_array(tk, tok, &err) == 0 &&
      gguf_str_array(mg, merges, &err) == 0 && (f = gen_open(dir, "tokenizer.json"))) {
    gen_smollm2_json(f, tok, ty, merges, mg->n, tk->n);
    fclose(f);
    f = gen_open(dir, "tokenizer_config.json");
    fprintf(f, "{\n  \"bos_token\": \"<|im_start|>\",\n  \"eos_token\": \"<|im_end|>\",\n");
    if (gguf_get_str(g, "tokenizer.chat_template", &tpl, &err) == 1) {
      fprintf(f, "  \"chat_template\": ");
      gen_text_json(f, tpl.ptr, tpl.len);
      fprintf(f, ",\n");
    }
    fprintf(f, "  \"tokenizer_class\": \"GPT2Tokenizer\"\n}\n");
    fclose(f);
    ok = 1;
  }
  free(tok);
  free(merges);
  gguf_close(g);
  return ok ? 0 : -1;
}

#endif
