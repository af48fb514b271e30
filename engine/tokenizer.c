/*
** tokenizer.c: the tokenizer that tok_gguf.c and tok_hf.c describe; building its tables,
** tokenizing text, and answering questions about tokens.
**
** Special tokens: a CONTROL token written in the text becomes that token only with
** QORA_TOK_SPECIAL; a USER_DEFINED token always does. Both llama.cpp (parse_special leaves
** user-defined tokens matched) and Hugging Face (added tokens that are not "special" are
** always matched) behave this way. Where two specials could match, the leftmost wins, then the
** longest (Hugging Face's rule; llama.cpp tries the longest token first over the whole text,
** which differs only for specials that overlap each other). tok_special.c finds them.
*/
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"
#include "tokenizer.h"
#include "utf8.h"

/* Texts of control tokens that end a turn or the text (llama.cpp's list, by text). */
static const char *const eog_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|end_of_text|>", "<|endoftext|>", "<|eom_id|>",
  "<end_of_turn>", "<|return|>", "<|call|>", "<EOT>", "_<EOT>", "<end_of_utterance>",
};

#define MAX_TEXT_BYTES (UINT32_MAX / 2)

int tok_push(qora_tokens *out, int32_t id, qora_err *err) {
  if (out->n == out->cap) {
    size_t cap = out->cap ? 2 * out->cap : 64;
    int32_t *ids = realloc(out->ids, cap * sizeof *ids);

    if (ids == NULL)
      return qora_fail(err, "out of memory for %zu token ids", cap);
    out->ids = ids;
    out->cap = cap;
  }
  out->ids[out->n++] = id;
  return 0;
}


void qora_tokens_free(qora_tokens *t) {
  if (t == NULL)
    return;
  free(t->ids);
  t->ids = NULL;
  t->n = t->cap = 0;
}


/* --------------------------------------------------------------- building */

static int copy_vocab(qora_tokenizer *tk, const tok_spec *sp, qora_err *err) {
  uint64_t total = 0;

  for (int32_t i = 0; i < sp->n_vocab; i++) {
    if (sp->tokens[i].len == 0)
      return qora_fail(err, "%s: token %d is empty; the vocabulary is damaged", sp->source, i);
    total += sp->tokens[i].len + 1;
    if (total > MAX_TEXT_BYTES)
      return qora_fail(err, "%s: the token texts exceed %u bytes", sp->source, MAX_TEXT_BYTES);
  }
  tk->text = malloc(total);
  tk->bytes = malloc(total);
  tk->text_off = malloc(((size_t)(uint32_t)sp->n_vocab + 1) * sizeof *tk->text_off);
  tk->bytes_off = malloc(((size_t)(uint32_t)sp->n_vocab + 1) * sizeof *tk->bytes_off);
  tk->type = malloc((size_t)(uint32_t)sp->n_vocab);
  tk->attr = calloc((size_t)(uint32_t)sp->n_vocab, 1);
  if (!tk->text || !tk->bytes || !tk->text_off || !tk->bytes_off || !tk->type || !tk->attr)
    return qora_fail(err, "out of memory for a vocabulary of %d tokens", sp->n_vocab);

  total = 0;
  for (int32_t i = 0; i < sp->n_vocab; i++) {
    int t = sp->types ? sp->types[i] : QORA_TOKEN_NORMAL;

    if (t > QORA_TOKEN_BYTE)
      return qora_fail(err, "%s: token %d has type %d; GGUF token types are 1 to 6",
                       sp->source, i, t);
    tk->type[i] = (uint8_t)(t == 0 ? QORA_TOKEN_NORMAL : t);
    if (tok_is_special(tk, i) && !qora_utf8_valid(sp->tokens[i].ptr, sp->tokens[i].len))
      return qora_fail(err, "%s: special token %d ('%.*s') is not valid UTF-8, so it could "
                       "match half a character of a text; the vocabulary is damaged",
                       sp->source, i, (int)(sp->tokens[i].len > 40 ? 40 : sp->tokens[i].len),
                       sp->tokens[i].ptr);
    tk->text_off[i] = (uint32_t)total;
    memcpy(tk->text + total, sp->tokens[i].ptr, sp->tokens[i].len);
    total += sp->tokens[i].len;
    tk->text[total++] = '\0';
  }
  tk->text_off[sp->n_vocab] = (uint32_t)total;
  return 0;
}


/* Undoes the byte-level alphabet of token id into dst; returns the length, or 0 when the
** text has a character outside the alphabet (then the text stands for itself, as Hugging
** Face's ByteLevel decoder has it). */
static size_t byte_decode(const qora_tokenizer *tk, int32_t id, char *dst) {
  const unsigned char *s = (const unsigned char *)tk->text + tk->text_off[id];
  size_t n = tok_text_len(tk, id), w = 0;

  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int k, b;

    if (s[i] >= 0x21 && s[i] <= 0x7E) {     /* printable ASCII stands for itself */
      dst[w++] = (char)s[i++];
      continue;
    }
    k = utf8_decode(s + i, n - i, &cp);
    if (k == 0 || (b = tok_cp_to_byte(cp)) < 0)
      return 0;
    dst[w++] = (char)b;
    i += (size_t)k;
  }
  return w;
}


/*
** An unused token (a padded embedding row, "[PAD<id>]") stands for no bytes: llama.cpp's
** token_to_piece writes nothing for one, and tokenizers' decode skips an id it does not know.
*/
static void decode_vocab(qora_tokenizer *tk) {
  uint32_t w = 0;

  for (int32_t i = 0; i < tk->n_vocab; i++) {
    const char *t = tk->text + tk->text_off[i];
    size_t n = tok_text_len(tk, i), k = 0;

    tk->bytes_off[i] = w;
    if (tk->type[i] == QORA_TOKEN_UNUSED) {
      tk->bytes[w++] = '\0';
      continue;
    }
    if (!tok_is_special(tk, i))
      k = byte_decode(tk, i, tk->bytes + w);
    if (k == 0) {
      memcpy(tk->bytes + w, t, n);
      k = n;
    }
    w += (uint32_t)k;
    tk->bytes[w++] = '\0';
  }
  tk->bytes_off[tk->n_vocab] = w;
}


static void find_byte_tokens(qora_tokenizer *tk) {
  for (int b = 0; b < 256; b++) {
    char enc[4];
    int n = utf8_encode(tok_byte_to_cp((unsigned char)b), enc);

    tk->byte_tok[b] = tok_strmap_find(tk, enc, (size_t)n);
  }
}


static int merge_error(const tok_spec *sp, uint64_t i, const tok_key *k, const int32_t *ids,
                       qora_err *err) {
  return qora_fail(err, "%s: merge %llu ('%.*s' '%.*s') %s is not in the vocabulary",
                   sp->source, (unsigned long long)i, (int)(k[0].na > 40 ? 40 : k[0].na),
                   k[0].a, (int)(k[1].na > 40 ? 40 : k[1].na), k[1].a,
                   ids[0] < 0 ? "names a left token that" : ids[1] < 0 ?
                   "names a right token that" : "makes a token that");
}


/* Looks up the merges of [base, base + n): the two halves and the joined token. */
static int add_merge_batch(qora_tokenizer *tk, const tok_spec *sp, uint64_t base, size_t n,
                           qora_err *err) {
  tok_key keys[3 * (TOK_BATCH / 3)] = {0};   /* gcc -O1 cannot see the loop fill it */
  int32_t ids[3 * (TOK_BATCH / 3)];
  tok_merge e[TOK_BATCH / 3];

  for (size_t j = 0; j < n; j++) {
    gguf_str l, r;

    if (sp->merge(sp->merge_ctx, base + j, &l, &r, err) < 0)
      return -1;
    keys[3 * j] = tok_key_of(l.ptr, l.len, "", 0);
    keys[3 * j + 1] = tok_key_of(r.ptr, r.len, "", 0);
    keys[3 * j + 2] = tok_key_of(l.ptr, l.len, r.ptr, r.len);
  }
  tok_strmap_find_many(tk, keys, 3 * n, ids);
  for (size_t j = 0; j < n; j++) {
    const int32_t *id = ids + 3 * j;

    if (id[0] < 0 || id[1] < 0 || id[2] < 0)
      return merge_error(sp, base + j, keys + 3 * j, id, err);
    e[j] = (tok_merge){ (uint64_t)(uint32_t)id[0] << 32 | (uint32_t)id[1],
                        (int32_t)(base + j), id[2] };
  }
  tok_pairmap_add_many(&tk->merges, e, n);
  return 0;
}


static int add_merges(qora_tokenizer *tk, const tok_spec *sp, qora_err *err) {
  const uint64_t batch = TOK_BATCH / 3;

  if (sp->n_merges > INT32_MAX)
    return qora_fail(err, "%s: %llu merges is more than qora handles", sp->source,
                     (unsigned long long)sp->n_merges);
  if (tok_pairmap_init(&tk->merges, sp->n_merges, err) < 0)
    return -1;
  for (uint64_t base = 0; base < sp->n_merges; base += batch) {
    uint64_t n = sp->n_merges - base < batch ? sp->n_merges - base : batch;

    if (add_merge_batch(tk, sp, base, (size_t)n, err) < 0)
      return -1;
  }
  return 0;
}


static int check_id(const tok_spec *sp, int32_t id, const char *what, qora_err *err) {
  if (id < -1 || id >= sp->n_vocab)
    return qora_fail(err, "%s: the %s id %d is outside the vocabulary of %d tokens",
                     sp->source, what, id, sp->n_vocab);
  return 0;
}


static void mark_eog(qora_tokenizer *tk) {
  int32_t ids[] = { tk->eos, tk->eot, tk->eom };

  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (ids[i] >= 0)
      tk->attr[ids[i]] |= TOK_ATTR_EOG;
  for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++) {
    int32_t id = tok_strmap_find(tk, eog_texts[i], strlen(eog_texts[i]));

    if (id >= 0 && tok_is_special(tk, id))
      tk->attr[id] |= TOK_ATTR_EOG;
  }
}


/* An id given by its text (tokenizer_config.json names BOS and EOS that way). */
static int resolve(qora_tokenizer *tk, const tok_spec *sp, const char *text, const char *what,
                   int32_t *id, qora_err *err) {
  if (*id >= 0 || text == NULL)
    return 0;
  *id = tok_strmap_find(tk, text, strlen(text));
  if (*id < 0)
    return qora_fail(err, "%s: the %s token '%.64s' is not in the vocabulary", sp->source, what,
                     text);
  return 0;
}


static int copy_template(qora_tokenizer *tk, const tok_spec *sp, qora_err *err) {
  if (sp->named.len > 0) {
    tk->named = malloc(sp->named.len);
    if (tk->named == NULL)
      return qora_fail(err, "out of memory for named chat templates");
    memcpy(tk->named, sp->named.ptr, sp->named.len);
    tk->named_len = sp->named.len;
    tk->n_named = sp->n_named;
  }
  if (sp->chat_template.len == 0)
    return 0;
  tk->chat_template = malloc(sp->chat_template.len + 1);
  if (tk->chat_template == NULL)
    return qora_fail(err, "out of memory for a chat template");
  memcpy(tk->chat_template, sp->chat_template.ptr, sp->chat_template.len);
  tk->chat_template[sp->chat_template.len] = '\0';
  tk->chat_template_len = sp->chat_template.len;
  return 0;
}


static int build(qora_tokenizer *tk, const tok_spec *sp, qora_err *err) {
  if (sp->n_vocab <= 0)
    return qora_fail(err, "%s: the vocabulary is empty", sp->source);
  if (check_id(sp, sp->bos, "BOS", err) < 0 || check_id(sp, sp->eos, "EOS", err) < 0 ||
      check_id(sp, sp->eot, "end-of-turn", err) < 0 ||
      check_id(sp, sp->eom, "end-of-message", err) < 0)
    return -1;
  tk->n_vocab = sp->n_vocab;
  tk->bos = sp->bos, tk->eos = sp->eos, tk->eot = sp->eot, tk->eom = sp->eom;
  tk->add_bos = sp->add_bos;
  tk->ignore_merges = sp->ignore_merges;
  tk->n_steps = sp->n_steps;
  memcpy(tk->steps, sp->steps, sizeof tk->steps);

  if (copy_vocab(tk, sp, err) < 0 || tok_strmap_build(tk, err) < 0)
    return -1;
  if (resolve(tk, sp, sp->bos_text, "BOS", &tk->bos, err) < 0 ||
      resolve(tk, sp, sp->eos_text, "EOS", &tk->eos, err) < 0)
    return -1;
  if (tk->add_bos && tk->bos < 0)
    return qora_fail(err, "%s: BOS is to be added but no BOS id is given", sp->source);
  decode_vocab(tk);
  find_byte_tokens(tk);
  if (add_merges(tk, sp, err) < 0 || tok_specials_build(tk, sp->source, err) < 0 ||
      copy_template(tk, sp, err) < 0)
    return -1;
  mark_eog(tk);
  return 0;
}


qora_tokenizer *tok_build(const tok_spec *sp, qora_err *err) {
  qora_tokenizer *tk = calloc(1, sizeof *tk);

  if (tk == NULL) {
    qora_fail(err, "out of memory for a tokenizer");
    return NULL;
  }
  if (build(tk, sp, err) < 0) {
    qora_tokenizer_free(tk);
    return NULL;
  }
  return tk;
}


void qora_tokenizer_free(qora_tokenizer *tk) {
  if (tk == NULL)
    return;
  tok_tables_free(tk);
  free(tk->text);
  free(tk->text_off);
  free(tk->bytes);
  free(tk->bytes_off);
  free(tk->type);
  free(tk->attr);
  tok_specials_free(&tk->specials);
  free(tk->chat_template);
  free(tk->named);
  free(tk);
}


/* ------------------------------------------------------------- tokenizing */

/* Scratch for one call, sized by the text: the special token starting at each byte, code
** points, their classes and byte offsets, piece ends, and the BPE scratch. */
typedef struct work {
  int32_t *special;
  uint32_t *cp;
  uint8_t *cls;
  uint32_t *off;
  uint32_t *ends, *tmp;
  bpe_scratch bpe;
} work;

static void work_free(work *w) {
  free(w->special);
  free(w->cp);
  free(w->cls);
  free(w->off);
  free(w->ends);
  free(w->tmp);
  bpe_scratch_free(&w->bpe);
}


static int work_init(work *w, size_t n, qora_err *err) {
  memset(w, 0, sizeof *w);
  w->special = malloc((n + 1) * sizeof *w->special);
  w->cp = malloc((n + 1) * sizeof *w->cp);
  w->cls = malloc(n + 1);
  w->off = malloc((n + 1) * sizeof *w->off);
  w->ends = malloc((n + 1) * sizeof *w->ends);
  w->tmp = malloc((n + 1) * sizeof *w->tmp);
  if (!w->special || !w->cp || !w->cls || !w->off || !w->ends || !w->tmp ||
      bpe_scratch_init(&w->bpe, n) < 0) {
    work_free(w);
    return qora_fail(err, "out of memory to tokenize %zu bytes", n);
  }
  return 0;
}


/* Pre-tokenizes and merges text[0..n), a stretch without special tokens (valid UTF-8). */
static int encode_plain(const qora_tokenizer *tk, const char *text, size_t n, work *w,
                        qora_tokens *out, qora_err *err) {
  const unsigned char *u = (const unsigned char *)text;
  size_t n_cp = 0, n_pieces, start = 0;

  for (size_t i = 0; i < n; n_cp++) {
    int k = utf8_decode(u + i, n - i, &w->cp[n_cp]);

    w->off[n_cp] = (uint32_t)i;
    w->cls[n_cp] = tok_class(w->cp[n_cp]);
    i += (size_t)k;
  }
  w->off[n_cp] = (uint32_t)n;

  n_pieces = tok_split(tk->steps, tk->n_steps, w->cp, w->cls, n_cp, w->ends, w->tmp);
  for (size_t i = 0; i < n_pieces; i++) {
    uint32_t a = w->off[start], b = w->off[w->ends[i]];

    if (bpe_piece(tk, u + a, b - a, &w->bpe, out, err) < 0)
      return -1;
    start = w->ends[i];
  }
  return 0;
}


static int encode(const qora_tokenizer *tk, const char *text, size_t len, int flags, work *w,
                  qora_tokens *out, qora_err *err) {
  size_t plain = 0;

  if ((flags & QORA_TOK_BOS) && tk->add_bos && tok_push(out, tk->bos, err) < 0)
    return -1;
  tok_specials_find(tk, text, len, flags, w->special);
  for (size_t i = 0; i < len;) {
    int32_t id = w->special[i];

    if (id < 0) {
      i++;
      continue;
    }
    if (encode_plain(tk, text + plain, i - plain, w, out, err) < 0 || tok_push(out, id, err) < 0)
      return -1;
    i += tok_text_len(tk, id);
    plain = i;
  }
  return encode_plain(tk, text + plain, len - plain, w, out, err);
}


int qora_tokenize(const qora_tokenizer *tk, const char *text, size_t len, int flags,
                  qora_tokens *out, qora_err *err) {
  size_t bad, n0;
  work w;
  int rc;

  if (tk == NULL || out == NULL || (text == NULL && len > 0))
    return qora_fail(err, "qora_tokenize: missing tokenizer, text or output");
  if (len > MAX_TEXT_BYTES)
    return qora_fail(err, "text of %zu bytes is too long to tokenize at once; split it", len);
  if ((bad = utf8_check(text, len)) < len)
    return qora_fail(err, "text is not valid UTF-8 at byte %zu (0x%02x); convert it to UTF-8 "
                     "first", bad + 1, (unsigned char)text[bad]);   /* counted from 1 */
  if (work_init(&w, len, err) < 0)
    return -1;
  n0 = out->n;
  rc = encode(tk, text, len, flags, &w, out, err);
  if (rc < 0)
    out->n = n0;
  work_free(&w);
  return rc;
}


/* ------------------------------------------------------------- questions */

static int valid_id(const qora_tokenizer *tk, int32_t id) {
  return tk != NULL && id >= 0 && id < tk->n_vocab;
}


int qora_vocab_size(const qora_tokenizer *tk) {
  return tk ? tk->n_vocab : 0;
}


const char *qora_token_bytes(const qora_tokenizer *tk, int32_t id, size_t *len) {
  if (!valid_id(tk, id))
    return NULL;
  if (len)
    *len = tk->bytes_off[id + 1] - tk->bytes_off[id] - 1;
  return tk->bytes + tk->bytes_off[id];
}


const char *qora_token_text(const qora_tokenizer *tk, int32_t id, size_t *len) {
  if (!valid_id(tk, id))
    return NULL;
  if (len)
    *len = tok_text_len(tk, id);
  return tk->text + tk->text_off[id];
}


int qora_token_type(const qora_tokenizer *tk, int32_t id) {
  return valid_id(tk, id) ? tk->type[id] : 0;
}


int32_t qora_token_find(const qora_tokenizer *tk, const char *text, size_t len) {
  if (tk == NULL || text == NULL)
    return -1;
  return tok_strmap_find(tk, text, len);
}


int32_t qora_token_bos(const qora_tokenizer *tk) {
  return tk ? tk->bos : -1;
}


int32_t qora_token_eos(const qora_tokenizer *tk) {
  return tk ? tk->eos : -1;
}


int qora_token_is_eog(const qora_tokenizer *tk, int32_t id) {
  return valid_id(tk, id) && (tk->attr[id] & TOK_ATTR_EOG);
}


const char *qora_tokenizer_chat_template(const qora_tokenizer *tk, size_t *len) {
  if (tk == NULL || tk->chat_template == NULL)
    return NULL;
  if (len)
    *len = tk->chat_template_len;
  return tk->chat_template;
}


const char *qora_tokenizer_named_template(const qora_tokenizer *tk, int i, const char **name,
                                          size_t *len) {
  const char *p = tk ? tk->named : NULL;

  if (p == NULL || i < 0 || i >= tk->n_named)
    return NULL;
  for (int k = 0; k < i; k++) {
    p += strlen(p) + 1;       /* the name */
    p += strlen(p) + 1;       /* its template */
  }
  *name = p;
  p += strlen(p) + 1;
  *len = strlen(p);
  return p;
}
