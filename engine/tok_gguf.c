/*
** tok_gguf.c: the tokenizer a GGUF file's tokenizer.ggml.* metadata describes.
** Only byte-level BPE ("gpt2") is read. tokenizer.ggml.pre names the pre-tokenizer; the names
** below select what llama.cpp selects for them, ignore_merges included.
*/
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"
#include "tokenizer.h"

typedef struct pre_name {
  const char *name;
  int steps[2];
  int n_steps;
  int ignore_merges;
} pre_name;

static const pre_name pre_names[] = {
  { "llama-bpe", { TOK_STEP_LLAMA3 }, 1, 1 },
  { "llama3", { TOK_STEP_LLAMA3 }, 1, 1 },
  { "llama-v3", { TOK_STEP_LLAMA3 }, 1, 1 },
  { "smaug-bpe", { TOK_STEP_LLAMA3 }, 1, 0 },     /* llama.cpp: same split, merges always */
  { "dbrx", { TOK_STEP_LLAMA3 }, 1, 0 },
  { "smollm", { TOK_STEP_DIGITS, TOK_STEP_GPT2 }, 2, 0 },
  { "gpt-2", { TOK_STEP_GPT2 }, 1, 0 },
};

#define KNOWN_PRE "llama-bpe, llama3, llama-v3, smaug-bpe, dbrx, smollm, gpt-2"

static int set_pre(const gguf_file *f, tok_spec *sp, qora_err *err) {
  gguf_str pre;
  int rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);

  if (rc < 0)
    return -1;
  if (rc == 0)
    return qora_fail(err, "tokenizer.ggml.pre is missing, so the pre-tokenizer is unknown; "
                     "qora knows " KNOWN_PRE);
  for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
    if (gguf_str_eq(pre, pre_names[i].name)) {
      memcpy(sp->steps, pre_names[i].steps, sizeof pre_names[i].steps);
      sp->n_steps = pre_names[i].n_steps;
      sp->ignore_merges = pre_names[i].ignore_merges;
      return 0;
    }
  }
  return qora_fail(err, "tokenizer.ggml.pre '%.*s' is a pre-tokenizer qora does not know; it "
                   "knows " KNOWN_PRE, (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
}


/* Reads an optional token id; absent leaves -1. */
static int get_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *id,
                  qora_err *err) {
  uint32_t v;
  int rc = gguf_get_u32(f, key, &v, err);

  *id = -1;
  if (rc < 0)
    return -1;
  if (rc == 0)
    return 0;
  if (v >= (uint32_t)n_vocab)
    return qora_fail(err, "metadata %s is %u, outside the vocabulary of %d tokens", key, v,
                     n_vocab);
  *id = (int32_t)v;
  return 0;
}


static const gguf_kv *get_array(const gguf_file *f, const char *key, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, key);

  if (kv == NULL) {
    qora_fail(err, "metadata %s is missing; the file has no usable vocabulary", key);
    return NULL;
  }
  if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING) {
    qora_fail(err, "metadata %s should be an array of strings; the file is corrupt", key);
    return NULL;
  }
  return kv;
}


static int is_int_array(const gguf_kv *kv) {
  uint32_t t = kv->arr_type;

  return kv->type == GGUF_ARRAY && (t <= GGUF_I32 || t == GGUF_U64 || t == GGUF_I64);
}


static int read_types(const gguf_file *f, int32_t n, uint8_t **types, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.token_type");

  *types = NULL;
  if (kv == NULL)
    return 0;
  if (!is_int_array(kv) || kv->n != (uint64_t)n)
    return qora_fail(err, "tokenizer.ggml.token_type should be %d integers, one per token; "
                     "the file is corrupt", n);
  *types = malloc((size_t)n);
  if (*types == NULL)
    return qora_fail(err, "out of memory for %d token types", n);
  for (int32_t i = 0; i < n; i++) {
    int64_t t = gguf_arr_int(kv, (uint64_t)i);

    if (t < 0 || t > QORA_TOKEN_BYTE)
      return qora_fail(err, "tokenizer.ggml.token_type[%d] is %lld; token types are 1 to 6",
                       i, (long long)t);
    (*types)[i] = (uint8_t)t;
  }
  return 0;
}


/*
** The merges are read in order straight from the file's string array (u64 length, then the
** bytes, for each one; gguf_open checked that they all lie inside the file), without a table
** of 280,000 string descriptors in between.
*/
typedef struct merge_cursor {
  const uint8_t *at;        /* the next string */
  uint64_t next;            /* its index */
} merge_cursor;

/* A merge is "left right", split at the first space after the first byte (as llama.cpp). */
static int split_merge(void *ctx, uint64_t i, gguf_str *left, gguf_str *right, qora_err *err) {
  merge_cursor *c = ctx;
  gguf_str m;
  const char *sp;

  if (i != c->next)
    return qora_fail(err, "internal error: merges read out of order");
  memcpy(&m.len, c->at, 8);
  m.ptr = (const char *)c->at + 8;
  c->at += 8 + m.len;
  c->next++;
  sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
  if (sp == NULL)
    return qora_fail(err, "tokenizer.ggml.merges[%llu] ('%.*s') is not two tokens separated "
                     "by a space", (unsigned long long)i, (int)(m.len > 40 ? 40 : m.len), m.ptr);
  left->ptr = m.ptr;
  left->len = (uint64_t)(sp - m.ptr);
  right->ptr = sp + 1;
  right->len = m.len - left->len - 1;
  return 0;
}


typedef struct loaded {
  gguf_str *tokens;
  uint8_t *types;
  merge_cursor merges;
} loaded;

static int read_spec(const gguf_file *f, tok_spec *sp, loaded *ld, qora_err *err) {
  const gguf_kv *tokens, *merges;
  gguf_str model;
  int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);

  if (rc <= 0)
    return rc < 0 ? -1 : qora_fail(err, "the file has no vocabulary (no tokenizer.ggml.model)");
  if (!gguf_str_eq(model, "gpt2"))
    return qora_fail(err, "tokenizer.ggml.model is '%.*s'; qora reads only byte-level BPE "
                     "vocabularies ('gpt2')", (int)(model.len > 64 ? 64 : model.len), model.ptr);
  if (set_pre(f, sp, err) < 0)
    return -1;
  if ((tokens = get_array(f, "tokenizer.ggml.tokens", err)) == NULL ||
      (merges = get_array(f, "tokenizer.ggml.merges", err)) == NULL)
    return -1;
  if (tokens->n == 0 || tokens->n > INT32_MAX)
    return qora_fail(err, "tokenizer.ggml.tokens has %llu tokens; the file is corrupt",
                     (unsigned long long)tokens->n);
  sp->n_vocab = (int32_t)tokens->n;
  ld->tokens = malloc(tokens->n * sizeof *ld->tokens);
  if (ld->tokens == NULL)
    return qora_fail(err, "out of memory for the vocabulary's %llu tokens",
                     (unsigned long long)tokens->n);
  if (gguf_str_array(tokens, ld->tokens, err) < 0)
    return -1;
  if (read_types(f, sp->n_vocab, &ld->types, err) < 0)
    return -1;
  sp->tokens = ld->tokens;
  sp->types = ld->types;
  sp->n_merges = merges->n;
  sp->merge = split_merge;
  ld->merges = (merge_cursor){ merges->data, 0 };
  sp->merge_ctx = &ld->merges;

  if (get_id(f, "tokenizer.ggml.bos_token_id", sp->n_vocab, &sp->bos, err) < 0 ||
      get_id(f, "tokenizer.ggml.eos_token_id", sp->n_vocab, &sp->eos, err) < 0 ||
      get_id(f, "tokenizer.ggml.eot_token_id", sp->n_vocab, &sp->eot, err) < 0 ||
      get_id(f, "tokenizer.ggml.eom_token_id", sp->n_vocab, &sp->eom, err) < 0)
    return -1;
  if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &sp->add_bos, err) < 0 ||
      gguf_get_str(f, "tokenizer.chat_template", &sp->chat_template, err) < 0)
    return -1;
  return 0;
}


qora_tokenizer *qora_tokenizer_from_gguf(const gguf_file *f, qora_err *err) {
  tok_spec sp = { .bos = -1, .eos = -1, .eot = -1, .eom = -1, .source = "GGUF vocabulary" };
  loaded ld = { NULL, NULL, { NULL, 0 } };
  qora_tokenizer *tk = NULL;

  if (read_spec(f, &sp, &ld, err) == 0)
    tk = tok_build(&sp, err);
  free(ld.tokens);
  free(ld.types);
  return tk;
}
