/*
** tok_hf.c: the tokenizer of a Hugging Face folder (tokenizer.json, tokenizer_config.json).
**
** qora reads what byte-level BPE vocabularies use (Llama 3, SmolLM2, SmolLM3): a BPE model,
** no normalizer, pre-tokenizers Split (with Llama 3's or GPT-2's pattern), Digits and a final
** ByteLevel, the ByteLevel decoder, and post-processors that at most put BOS first. Anything
** else would be approximated, so it is refused, by name.
*/
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fileio.h"
#include "json_keys.h"
#include "tok_internal.h"
#include "tokenizer.h"

#define LLAMA3_PATTERN "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|" \
  "\\s+(?!\\S)|\\s+"

#define MAX_JSON_BYTES ((size_t)1 << 30)

/* What the two files say, gathered before the tokenizer is built. */
typedef struct hf {
  const char *dir;
  cJSON *json, *config;
  int32_t n_vocab;
  int32_t pad_to;           /* the embedding's rows: unused tokens fill the ids up to it */
  gguf_str *tokens;         /* (n_vocab) into the cJSON tree or pads; NULL until an id is seen */
  char *pads;               /* the texts of the padding tokens */
  uint8_t *types;
  const cJSON **merges;     /* (n_merges) the merge items, for access by index */
  char *named;              /* spec.named's bytes */
  json_fraction *fractions; /* (n_fractions) tokenizer.json's numbers written as 3.0 or 3e0 */
  size_t n_fractions;
  tok_spec spec;
} hf;

static const cJSON *get(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}


/* The "type" of a component, for messages. */
static const char *type_of(const cJSON *c) {
  const cJSON *t = get(c, "type");

  return cJSON_IsString(t) ? t->valuestring : "(without a type)";
}


/* 1 when key is absent, null, false, or a number equal to zero. */
static int unset(const cJSON *obj, const char *key) {
  const cJSON *v = get(obj, key);

  return v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v) || (cJSON_IsNumber(v) &&
         v->valuedouble == 0) || (cJSON_IsString(v) && v->valuestring[0] == '\0');
}


/* ---------------------------------------------------------------- files */

/* Parses dir/name; NULL with err on error, or with *missing set when the file is absent. */
/*
** Parses dir/name; with h, also finds its numbers written with a point or an exponent, which
** cJSON reads as integers where tokenizers refuses them as ids.
*/
static cJSON *parse_file(const char *dir, const char *name, int *missing, hf *h,
                         qora_err *err) {
  char path[4096];
  size_t len;
  char *text;
  cJSON *json;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (missing && (*missing = !qora_exists(path)))
    return NULL;
  if ((text = qora_read_file(path, MAX_JSON_BYTES, &len, err)) == NULL)
    return NULL;
  json = json_object_of(text, len, path, err);
  if (json && h && json_fractions(text, len, json, &h->fractions, &h->n_fractions) < 0) {
    qora_fail(err, "out of memory reading %s", path);
    cJSON_Delete(json);
    json = NULL;
  }
  free(text);
  return json;
}


/* How the number v is written when it has a point or an exponent ("3.0"), else NULL. */
static const char *fraction_of(const hf *h, const cJSON *v) {
  return json_fraction_of(h->fractions, h->n_fractions, v);
}


/* The lowest id whose text is text, or -1. */
static int32_t id_of_text(const hf *h, const char *text) {
  size_t n = strlen(text);

  for (int32_t id = 0; id < h->n_vocab; id++)
    if (h->tokens[id].len == n && memcmp(h->tokens[id].ptr, text, n) == 0)
      return id;
  return -1;
}


/* -------------------------------------------------------- pre-tokenizer */

static int add_step(hf *h, int step, qora_err *err) {
  if (h->spec.n_steps == TOK_MAX_STEPS)
    return qora_fail(err, "tokenizer.json: the pre_tokenizer has more than %d steps",
                     TOK_MAX_STEPS);
  h->spec.steps[h->spec.n_steps++] = step;
  return 0;
}


static int read_split(hf *h, const cJSON *c, qora_err *err) {
  const cJSON *pat = get(c, "pattern"), *re = get(pat, "Regex"), *beh = get(c, "behavior");

  if (!cJSON_IsString(re))
    return qora_fail(err, "tokenizer.json: a Split pre-tokenizer without a Regex pattern; qora "
                     "knows only Llama 3's and GPT-2's patterns");
  if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0 || !unset(c, "invert"))
    return qora_fail(err, "tokenizer.json: a Split with behavior %s%s; qora honours only "
                     "Isolated, not inverted", cJSON_IsString(beh) ? beh->valuestring : "(none)",
                     unset(c, "invert") ? "" : ", inverted");
  if (strcmp(re->valuestring, LLAMA3_PATTERN) == 0)
    return add_step(h, TOK_STEP_LLAMA3, err);
  if (strcmp(re->valuestring, GPT2_PATTERN) == 0)
    return add_step(h, TOK_STEP_GPT2, err);
  return qora_fail(err, "tokenizer.json: the Split pattern '%.80s' is not one qora knows (Llama "
                   "3's or GPT-2's)", re->valuestring);
}


/* ByteLevel must come last: after it, a pattern would see the byte alphabet, not the text. */
static int read_byte_level(hf *h, const cJSON *c, int last, qora_err *err) {
  const cJSON *regex = get(c, "use_regex");

  if (!last)
    return qora_fail(err, "tokenizer.json: a ByteLevel pre-tokenizer before other steps; qora "
                     "needs it last");
  if (!unset(c, "add_prefix_space"))
    return qora_fail(err, "tokenizer.json: ByteLevel with add_prefix_space is not supported");
  if (regex == NULL || cJSON_IsTrue(regex))
    return add_step(h, TOK_STEP_GPT2, err);
  if (!cJSON_IsFalse(regex))
    return qora_fail(err, "tokenizer.json: ByteLevel use_regex should be true or false");
  return 0;
}


static int read_step(hf *h, const cJSON *c, int last, qora_err *err) {
  const char *type = type_of(c);

  if (strcmp(type, "Split") == 0)
    return read_split(h, c, err);
  if (strcmp(type, "Digits") == 0)
    return add_step(h, cJSON_IsTrue(get(c, "individual_digits")) ? TOK_STEP_DIGITS :
                    TOK_STEP_DIGIT_RUNS, err);
  if (strcmp(type, "ByteLevel") == 0)
    return read_byte_level(h, c, last, err);
  return qora_fail(err, "tokenizer.json: the pre-tokenizer %s is not supported (qora reads "
                   "Sequence, Split, Digits and ByteLevel)", type);
}


static int read_pre(hf *h, qora_err *err) {
  const cJSON *pre = get(h->json, "pre_tokenizer"), *list, *c;
  int seen_byte_level = 0;

  if (pre == NULL || cJSON_IsNull(pre))
    return qora_fail(err, "tokenizer.json has no pre_tokenizer; qora reads byte-level BPE, "
                     "which needs ByteLevel");
  list = strcmp(type_of(pre), "Sequence") == 0 ? get(pre, "pretokenizers") : NULL;
  if (list != NULL && !cJSON_IsArray(list))
    return qora_fail(err, "tokenizer.json: the pre_tokenizer Sequence has no list");
  if (list == NULL)
    return read_step(h, pre, 1, err) < 0 ? -1 :
           strcmp(type_of(pre), "ByteLevel") == 0 ? 0 :
           qora_fail(err, "tokenizer.json: the pre_tokenizer has no ByteLevel step");
  cJSON_ArrayForEach(c, list) {
    if (read_step(h, c, c->next == NULL, err) < 0)
      return -1;
    seen_byte_level |= strcmp(type_of(c), "ByteLevel") == 0;
  }
  if (!seen_byte_level)
    return qora_fail(err, "tokenizer.json: the pre_tokenizer has no ByteLevel step");
  return 0;
}


/* ---------------------------------------------------- other components */

static int check_components(hf *h, qora_err *err) {
  const cJSON *norm = get(h->json, "normalizer"), *dec = get(h->json, "decoder");
  const cJSON *trunc = get(h->json, "truncation");

  if (norm != NULL && !cJSON_IsNull(norm))
    return qora_fail(err, "tokenizer.json: the normalizer %s is not supported", type_of(norm));
  if (dec == NULL || strcmp(type_of(dec), "ByteLevel") != 0)
    return qora_fail(err, "tokenizer.json: the decoder %s is not supported (qora decodes "
                     "ByteLevel)", dec && !cJSON_IsNull(dec) ? type_of(dec) : "null");
  if (trunc != NULL && !cJSON_IsNull(trunc))
    return qora_fail(err, "tokenizer.json: truncation is set; qora does not truncate");
  return 0;
}


/*
** The id TemplateProcessing puts first for the special token name: the one id its
** special_tokens.<name>.ids lists, which tokenizers adds as it is. It must be the vocabulary's
** id for that text, or tokenizers and qora would start the same text with different ids.
*/
static int read_template_id(hf *h, const cJSON *p, const char *name, qora_err *err) {
  const cJSON *ids = get(get(get(p, "special_tokens"), name), "ids"), *id;
  const char *written;
  int32_t want;

  if (!cJSON_IsArray(ids))
    return qora_fail(err, "tokenizer.json: the post_processor puts the special token '%.64s' "
                     "first, but its special_tokens gives no ids for it (tokenizers refuses "
                     "such a file)", name);
  if (cJSON_GetArraySize(ids) != 1)
    return qora_fail(err, "tokenizer.json: post_processor.special_tokens.%.64s.ids lists %d "
                     "ids; qora puts one token first", name, cJSON_GetArraySize(ids));
  id = ids->child;
  if (!cJSON_IsNumber(id))
    return qora_fail(err, "tokenizer.json: post_processor.special_tokens.%.64s.ids holds a "
                     "value that is not a number; write the id as a whole number", name);
  written = fraction_of(h, id);
  if (written)
    return qora_fail(err, "tokenizer.json: post_processor.special_tokens.%.64s.ids holds %s, "
                     "which is not written as an integer (tokenizers refuses it); write it "
                     "as a whole number", name, written);
  if (!(id->valuedouble >= 0 && id->valuedouble < h->n_vocab))
    return qora_fail(err, "tokenizer.json: post_processor.special_tokens.%.64s.ids holds %g, "
                     "which is not a token id (0 to %d)", name, id->valuedouble,
                     h->n_vocab - 1);
  want = id_of_text(h, name);
  if (want < 0)
    return qora_fail(err, "tokenizer.json: the post_processor puts the special token '%.64s' "
                     "first, which the vocabulary does not hold", name);
  if (want != (int32_t)id->valuedouble)
    return qora_fail(err, "tokenizer.json: post_processor.special_tokens.%.64s.ids says %d, "
                     "but the vocabulary gives that token the id %d: tokenizers would put %d "
                     "first, where the text means %d; make them agree", name,
                     (int32_t)id->valuedouble, want, (int32_t)id->valuedouble, want);
  h->spec.bos = want;
  h->spec.bos_text = name;
  return 0;
}


/* TemplateProcessing's single template: the text alone, or one special token then the text. */
static int read_template(hf *h, const cJSON *p, qora_err *err) {
  const cJSON *single = get(p, "single"), *first, *second;
  const cJSON *tok;

  first = cJSON_IsArray(single) ? single->child : NULL;
  second = first ? first->next : NULL;
  if (first && !second && get(first, "Sequence"))
    return 0;
  tok = first ? get(get(first, "SpecialToken"), "id") : NULL;
  if (cJSON_IsString(tok) && second && !second->next && get(second, "Sequence")) {
    h->spec.add_bos = 1;
    return read_template_id(h, p, tok->valuestring, err);
  }
  return qora_fail(err, "tokenizer.json: a TemplateProcessing other than [special, text] or "
                   "[text] is not supported");
}


static int read_post_one(hf *h, const cJSON *p, qora_err *err) {
  const char *type = type_of(p);

  if (strcmp(type, "ByteLevel") == 0)
    return 0;                     /* only moves offsets */
  if (strcmp(type, "TemplateProcessing") == 0)
    return read_template(h, p, err);
  return qora_fail(err, "tokenizer.json: the post_processor %s is not supported", type);
}


static int read_post(hf *h, qora_err *err) {
  const cJSON *post = get(h->json, "post_processor"), *c;

  if (post == NULL || cJSON_IsNull(post))
    return 0;
  if (strcmp(type_of(post), "Sequence") != 0)
    return read_post_one(h, post, err);
  cJSON_ArrayForEach(c, get(post, "processors"))
    if (read_post_one(h, c, err) < 0)
      return -1;
  return 0;
}


/* ------------------------------------------------------------ the model */

static int check_model(const cJSON *m, qora_err *err) {
  static const char *const unsupported[] = {
    "dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback"
  };

  if (!cJSON_IsObject(m) || strcmp(type_of(m), "BPE") != 0)
    return qora_fail(err, "tokenizer.json: the model %s is not supported (qora reads BPE)",
                     m ? type_of(m) : "(missing)");
  for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
    if (!unset(m, unsupported[i]))
      return qora_fail(err, "tokenizer.json: the BPE model sets %s, which qora does not "
                       "support", unsupported[i]);
  return 0;
}


/*
** Puts model.vocab's text at its id, the number item; an id that is not an integer from 0 to
** the size - 1, or a second, different text for the same id is an error.
*/
static int place(hf *h, const cJSON *item, const char *text, qora_err *err) {
  const char *written = fraction_of(h, item);
  double v = item->valuedouble;
  int32_t id;

  if (written)
    return qora_fail(err, "tokenizer.json: model.vocab: the token '%.64s' has the id %s, "
                     "which is not written as an integer (tokenizers refuses it); write it "
                     "as a whole number", text, written);
  /* Checked before the conversion: a double outside int32_t's range does not convert. */
  if (!(v >= 0 && v < h->n_vocab) || v != (double)(id = (int32_t)v))
    return qora_fail(err, "tokenizer.json: model.vocab: the token '%.64s' has the id %g, "
                     "which is not from 0 to %d: its %d tokens are numbered from 0, without a "
                     "gap", text, v, h->n_vocab - 1, h->n_vocab);
  if (text[0] == '\0')
    return qora_fail(err, "tokenizer.json: the token %d is empty", id);
  if (h->tokens[id].ptr != NULL && strcmp(h->tokens[id].ptr, text) != 0)
    return qora_fail(err, "tokenizer.json: id %d is both '%.64s' and '%.64s'", id,
                     h->tokens[id].ptr, text);
  h->tokens[id] = (gguf_str){ text, strlen(text) };
  return 0;
}


/*
** Text -> id while the added tokens are numbered: open addressing over h->tokens, whose texts
** the slots hold the ids of (-1: empty).
*/
typedef struct textmap {
  int32_t *slot;
  uint64_t mask;
} textmap;

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 0xCBF29CE484222325u;

  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001B3u;
  return h;
}


/* The slot that holds text's id, or the empty slot where it would go. */
static int32_t *textmap_slot(const hf *h, const textmap *m, const char *text) {
  size_t n = strlen(text);
  uint64_t i = fnv1a(text, n) & m->mask;

  while (m->slot[i] >= 0 && !(h->tokens[m->slot[i]].len == n &&
                              memcmp(h->tokens[m->slot[i]].ptr, text, n) == 0))
    i = (i + 1) & m->mask;
  return &m->slot[i];
}


/* A map of model.vocab's texts (ids 0 .. n_vocab - 1), with room for cap texts in all. */
static int textmap_init(const hf *h, textmap *m, int64_t cap, qora_err *err) {
  uint64_t n = 16;

  while (n < 2 * (uint64_t)cap)
    n *= 2;
  m->mask = n - 1;
  if ((m->slot = malloc(n * sizeof *m->slot)) == NULL)
    return qora_fail(err, "out of memory for the added tokens");
  memset(m->slot, 0xFF, n * sizeof *m->slot);
  for (int32_t id = 0; id < h->n_vocab; id++) {
    int32_t *slot = textmap_slot(h, m, h->tokens[id].ptr);
    if (*slot < 0)
      *slot = id;               /* a text given twice keeps its lowest id, as the tables do */
  }
  return 0;
}


/*
** What tokenizers reads from an added token: an id from 0 to 2^32 - 1 (which it then
** ignores), a text, and five true-or-false flags; it refuses a file without any of them, and
** an id written 3.0 (which cJSON reads as 3: h->fractions tells them apart).
*/
static int check_added(const hf *h, const cJSON *a, qora_err *err) {
  static const char *const flags[] = { "single_word", "lstrip", "rstrip", "normalized",
                                       "special" };
  static const char *const unsupported[] = { "lstrip", "rstrip", "single_word" };
  const cJSON *id = get(a, "id"), *content = get(a, "content");
  double v = cJSON_IsNumber(id) ? id->valuedouble : -1;
  const char *text;

  if (!cJSON_IsString(content))
    return qora_fail(err, "tokenizer.json: an added token has no text (content)");
  text = content->valuestring;
  if (cJSON_IsNumber(id) && fraction_of(h, id))
    return qora_fail(err, "tokenizer.json: added_tokens: the added token '%.64s' has the id "
                     "%s, which is not written as an integer (tokenizers refuses it); write "
                     "it as a whole number", text, fraction_of(h, id));
  if (!(v >= 0 && v <= 4294967295.0) || v != (double)(int64_t)v)
    return qora_fail(err, "tokenizer.json: the added token '%.64s' has no id from 0 to "
                     "4294967295, which tokenizers needs (it then numbers the token itself)",
                     text);
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (!cJSON_IsBool(get(a, flags[i])))
      return qora_fail(err, "tokenizer.json: the added token '%.64s' has no true or false "
                       "%s, which tokenizers needs", text, flags[i]);
  for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
    if (cJSON_IsTrue(get(a, unsupported[i])))
      return qora_fail(err, "tokenizer.json: the added token '%.64s' sets %s, which qora "
                       "does not honour", text, unsupported[i]);
  return 0;
}


/* One added token: its text's id so far, or the next id; its type says how text matches it. */
static int add_one(hf *h, textmap *m, const cJSON *a, qora_err *err) {
  const char *text;
  uint8_t type;
  int32_t *slot;

  if (check_added(h, a, err) < 0)
    return -1;
  text = get(a, "content")->valuestring;
  if (text[0] == '\0')
    return 0;                   /* tokenizers skips it, giving it no id */
  type = cJSON_IsTrue(get(a, "special")) ? QORA_TOKEN_CONTROL : QORA_TOKEN_USER_DEFINED;
  slot = textmap_slot(h, m, text);
  if (*slot < 0) {
    *slot = h->n_vocab++;
    h->tokens[*slot] = (gguf_str){ text, strlen(text) };
  } else if (h->types[*slot] != QORA_TOKEN_NORMAL && h->types[*slot] != type) {
    return qora_fail(err, "tokenizer.json: the added token '%.64s' is listed twice, special "
                     "and not; tokenizers then answers both ways (its decoder takes the last "
                     "listing, skip_special_tokens any special one): list it once", text);
  }
  h->types[*slot] = type;
  return 0;
}


/*
** The added tokens. tokenizers ignores the id the file writes beside one: in list order, a
** text model.vocab or an earlier added token holds keeps that id, an empty text is skipped,
** and any other text gets the next id after model.vocab's (it only logs a warning when the
** file says otherwise). qora numbers them the same way, so that both give the same ids.
*/
static int read_added(hf *h, const cJSON *added, qora_err *err) {
  textmap m;
  const cJSON *a;
  int rc = 0;

  if (added != NULL && !cJSON_IsArray(added))
    return qora_fail(err, "tokenizer.json: added_tokens should be a list");
  if (textmap_init(h, &m, (int64_t)h->n_vocab + cJSON_GetArraySize(added), err) < 0)
    return -1;
  cJSON_ArrayForEach(a, added)
    if ((rc = add_one(h, &m, a, err)) < 0)
      break;
  free(m.slot);
  return rc;
}


/*
** Ids past the tokenizer up to the embedding's rows become unused "[PAD<id>]" tokens, as
** llama.cpp's converter writes them, so that a folder answers for every id as the GGUF it
** saves does (model_save.c pads the same way).
*/
static int pad(hf *h, qora_err *err) {
  enum { PAD_TEXT = 24 };       /* "[PAD" + 10 digits + "]" + NUL fits */
  int32_t n = h->pad_to - h->n_vocab;

  if (n <= 0)
    return 0;
  if ((h->pads = malloc((size_t)n * PAD_TEXT)) == NULL)
    return qora_fail(err, "out of memory for %d padding tokens", n);
  for (int32_t i = 0; i < n; i++) {
    char *p = h->pads + (size_t)i * PAD_TEXT;
    int len = snprintf(p, PAD_TEXT, "[PAD%d]", h->n_vocab + i);

    h->tokens[h->n_vocab + i] = (gguf_str){ p, (uint64_t)len };
    h->types[h->n_vocab + i] = QORA_TOKEN_UNUSED;
  }
  h->n_vocab = h->pad_to;
  return 0;
}


/* model.vocab fills ids 0 .. its size - 1, without a gap; the added tokens come after. */
static int read_vocab(hf *h, const cJSON *vocab, const cJSON *added, qora_err *err) {
  const cJSON *v;
  int n_model = cJSON_GetArraySize(vocab);
  int64_t n = n_model + (int64_t)cJSON_GetArraySize(added);

  n = n < h->pad_to ? h->pad_to : n;      /* room for the padding tokens */
  if (!cJSON_IsObject(vocab) || n_model == 0 || n > INT32_MAX)
    return qora_fail(err, "tokenizer.json: model.vocab should be an object of token ids");
  h->n_vocab = n_model;
  h->tokens = calloc((size_t)n, sizeof *h->tokens);
  h->types = malloc((size_t)n);
  if (h->tokens == NULL || h->types == NULL)
    return qora_fail(err, "out of memory for %lld tokens", (long long)n);
  memset(h->types, QORA_TOKEN_NORMAL, (size_t)n);

  cJSON_ArrayForEach(v, vocab)
    if (!cJSON_IsNumber(v) || place(h, v, v->string, err) < 0)
      return cJSON_IsNumber(v) ? -1 : qora_fail(err, "tokenizer.json: model.vocab: the token "
                                                "'%.64s' has an id that is not a number; "
                                                "write it as a whole number", v->string);
  for (int32_t i = 0; i < h->n_vocab; i++)
    if (h->tokens[i].ptr == NULL)
      return qora_fail(err, "tokenizer.json: no token has id %d; the ids have a gap", i);
  return read_added(h, added, err) < 0 ? -1 : pad(h, err);
}


/* A merge is "left right" (exactly one space) or ["left", "right"]. */
static int hf_merge(void *ctx, uint64_t i, gguf_str *left, gguf_str *right, qora_err *err) {
  const cJSON *m = ((const cJSON **)ctx)[i];
  const char *s, *sp;

  if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
      cJSON_IsString(m->child->next)) {
    *left = (gguf_str){ m->child->valuestring, strlen(m->child->valuestring) };
    *right = (gguf_str){ m->child->next->valuestring, strlen(m->child->next->valuestring) };
    return 0;
  }
  s = cJSON_IsString(m) ? m->valuestring : NULL;
  sp = s ? strchr(s, ' ') : NULL;
  if (sp == NULL || strchr(sp + 1, ' ') != NULL)
    return qora_fail(err, "tokenizer.json: merge %llu is not \"left right\" or [\"left\", "
                     "\"right\"]", (unsigned long long)i);
  *left = (gguf_str){ s, (uint64_t)(sp - s) };
  *right = (gguf_str){ sp + 1, strlen(sp + 1) };
  return 0;
}


static int read_model(hf *h, qora_err *err) {
  const cJSON *m = get(h->json, "model"), *merges, *c;
  size_t i = 0;

  if (check_model(m, err) < 0 ||
      read_vocab(h, get(m, "vocab"), get(h->json, "added_tokens"), err) < 0)
    return -1;
  merges = get(m, "merges");
  if (merges != NULL && !cJSON_IsArray(merges))
    return qora_fail(err, "tokenizer.json: model.merges should be a list");
  h->merges = malloc(((size_t)cJSON_GetArraySize(merges) + 1) * sizeof *h->merges);
  if (h->merges == NULL)
    return qora_fail(err, "out of memory for the merges");
  cJSON_ArrayForEach(c, merges)
    h->merges[i++] = c;
  h->spec.n_merges = i;
  h->spec.merge = hf_merge;
  h->spec.merge_ctx = (void *)h->merges;
  h->spec.ignore_merges = cJSON_IsTrue(get(m, "ignore_merges"));
  h->spec.n_vocab = h->n_vocab;
  h->spec.tokens = h->tokens;
  h->spec.types = h->types;
  return 0;
}


/* ------------------------------------------------- tokenizer_config.json */

/* A special token as tokenizer_config.json writes it: a string or {"content": ...}. */
static const char *token_text(const cJSON *t) {
  if (cJSON_IsObject(t))
    t = get(t, "content");
  return cJSON_IsString(t) ? t->valuestring : NULL;
}


/* c as it may stand in a metadata key's name: ASCII letters and digits as they are, else _. */
static char key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
}


/*
** A list of named templates ([{"name": ..., "template": ...}]): returns the "default" one's
** template and keeps the others in h->named, named as llama.cpp's converter names their keys
** (characters other than ASCII letters, digits and _ become _; empty names and templates that
** are not strings are skipped). n_named is -1 when memory ran out.
*/
static const cJSON *read_named(hf *h, const cJSON *list) {
  const cJSON *t, *def = NULL;
  size_t cap = 0, at = 0;

  cJSON_ArrayForEach(t, list) {
    const cJSON *name = get(t, "name"), *text = get(t, "template");
    if (cJSON_IsString(name) && cJSON_IsString(text))
      cap += strlen(name->valuestring) + strlen(text->valuestring) + 2;
  }
  if (cap > 0 && (h->named = malloc(cap)) == NULL) {
    h->spec.n_named = -1;
    return NULL;
  }
  cJSON_ArrayForEach(t, list) {
    const cJSON *name = get(t, "name"), *text = get(t, "template");
    if (!cJSON_IsString(name) || !cJSON_IsString(text) || name->valuestring[0] == '\0')
      continue;
    if (strcmp(name->valuestring, "default") == 0) {
      def = text;
      continue;
    }
    for (const char *c = name->valuestring; *c; c++)
      h->named[at++] = key_char(*c);
    h->named[at++] = '\0';
    memcpy(h->named + at, text->valuestring, strlen(text->valuestring) + 1);
    at += strlen(text->valuestring) + 1;
    h->spec.n_named++;
  }
  h->spec.named = (gguf_str){ h->named, at };
  return def;
}


/* After read_post: the token the post-processor puts first stays BOS; the config names it
** otherwise, and its add_bos_token (LlamaTokenizerFast's switch) wins when given. */
static int read_config(hf *h, qora_err *err) {
  const cJSON *tpl = get(h->config, "chat_template"), *add = get(h->config, "add_bos_token");

  if (h->spec.bos_text == NULL)
    h->spec.bos_text = token_text(get(h->config, "bos_token"));
  h->spec.eos_text = token_text(get(h->config, "eos_token"));
  if (cJSON_IsBool(add))
    h->spec.add_bos = cJSON_IsTrue(add);
  if (cJSON_IsArray(tpl))
    tpl = read_named(h, tpl);
  if (cJSON_IsString(tpl))
    h->spec.chat_template = (gguf_str){ tpl->valuestring, strlen(tpl->valuestring) };
  return h->spec.n_named < 0 ? qora_fail(err, "out of memory for named chat templates") : 0;
}


static int read_all_parts(hf *h, qora_err *err) {
  int missing;

  if ((h->json = parse_file(h->dir, "tokenizer.json", NULL, h, err)) == NULL)
    return -1;
  h->config = parse_file(h->dir, "tokenizer_config.json", &missing, NULL, err);
  if (h->config == NULL && !missing)
    return -1;
  if (check_components(h, err) < 0 || read_pre(h, err) < 0 || read_model(h, err) < 0 ||
      read_post(h, err) < 0)
    return -1;
  return read_config(h, err);
}


qora_tokenizer *qora_tokenizer_from_hf_padded(const char *dir, int32_t n_vocab,
                                              qora_err *err) {
  hf h = { .dir = dir, .pad_to = n_vocab,
            .spec = { .bos = -1, .eos = -1, .eot = -1, .eom = -1, .source = "tokenizer.json" } };
  qora_tokenizer *tk = NULL;

  if (read_all_parts(&h, err) == 0)
    tk = tok_build(&h.spec, err);
  cJSON_Delete(h.json);
  cJSON_Delete(h.config);
  free(h.tokens);
  free(h.types);
  free(h.merges);
  free(h.named);
  free(h.pads);
  free(h.fractions);
  return tk;
}


qora_tokenizer *qora_tokenizer_from_hf(const char *dir, qora_err *err) {
  return qora_tokenizer_from_hf_padded(dir, 0, err);
}
