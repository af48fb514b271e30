/* hf_config.c: config.json of SmolLM3 and Llama checkpoints, and their RoPE frequencies. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fileio.h"
#include "hf_config.h"
#include "json_keys.h"

#define HF_MAX_CONFIG (16u << 20)   /* bytes of config.json we accept */
#define HF_MAX_DIM (1 << 20)        /* bound on every size, so products stay in range */

/* What differs between the two classes: transformers' defaults. */
static const struct hf_arch {
  const char *class_name;   /* architectures[0] */
  const char *model_type;
  const char *gguf_arch;
  int n_ctx_train;
  double theta;
  int tied;
} hf_archs[] = {
  {"SmolLM3ForCausalLM", "smollm3", "smollm3", 32768, 2000000.0, 1},
  {"LlamaForCausalLM", "llama", "llama", 2048, 10000.0, 0},
};


/* ============================================================ field access */

/* Present and not JSON null. */
static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

  return cJSON_IsNull(v) ? NULL : v;
}

/*
** Reads integer key into *out, within [lo, hi]. When absent: def if def >= 0 (returns 0),
** else an error naming the key. Returns 1 when the key was present.
*/
static int get_int(const cJSON *obj, const char *key, long def, long lo, long hi, int *out,
                   qora_err *err) {
  const cJSON *v = field(obj, key);
  double d;

  if (v == NULL) {
    if (def < 0)
      return qora_fail(err, "config.json has no \"%s\"; it is needed to build the model", key);
    *out = (int)def;
    return 0;
  }
  d = v->valuedouble;
  if (!cJSON_IsNumber(v) || d != floor(d))
    return qora_fail(err, "config.json: \"%s\" must be an integer", key);
  if (d < lo || d > hi)
    return qora_fail(err, "config.json: \"%s\" is %.0f, outside [%ld, %ld]", key, d, lo, hi);
  *out = (int)d;
  return 1;
}

/* Reads a number key into *out when present (else leaves it); refuses non-numbers. */
static int get_num(const cJSON *obj, const char *where, const char *key, double *out,
                   qora_err *err) {
  const cJSON *v = field(obj, key);

  if (v == NULL)
    return 0;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return qora_fail(err, "config.json: \"%s%s\" must be a number", where, key);
  *out = v->valuedouble;
  return 1;
}

static int get_bool(const cJSON *obj, const char *where, const char *key, int def, int *out,
                    qora_err *err) {
  const cJSON *v = field(obj, key);

  *out = def;
  if (v == NULL)
    return 0;
  if (!cJSON_IsBool(v))
    return qora_fail(err, "config.json: \"%s%s\" must be true or false", where, key);
  *out = cJSON_IsTrue(v);
  return 1;
}

/* A token id: an integer, the first of a list, or -1 when absent. */
static int get_token_id(const cJSON *obj, const char *key, int *out, qora_err *err) {
  const cJSON *v = field(obj, key);

  *out = -1;
  if (cJSON_IsArray(v))
    v = cJSON_GetArraySize(v) > 0 ? cJSON_GetArrayItem(v, 0) : NULL;
  if (v == NULL)
    return 0;
  if (!cJSON_IsNumber(v))
    return qora_fail(err, "config.json: \"%s\" must be a token id", key);
  /* Refused, not truncated: 1.5 read as 1 would name a token the config never meant. */
  if (v->valuedouble != floor(v->valuedouble))
    return qora_fail(err, "config.json: %s is %g; a token id must be a whole number", key,
                     v->valuedouble);
  if (!(v->valuedouble >= 0 && v->valuedouble <= INT32_MAX))
    return qora_fail(err, "config.json: %s is %g; a token id must be in [0, %ld]", key,
                     v->valuedouble, (long)INT32_MAX);
  *out = (int)v->valuedouble;
  return 0;
}


/* Refuses a key written twice in obj or in its objects (see json_keys.h). */
static int check_unique_keys(const cJSON *obj, qora_err *err) {
  const cJSON *a;
  const char *dup;

  if (json_key_twice(obj, &dup) < 0)
    return qora_fail(err, "config.json: out of memory");
  if (dup != NULL)
    return qora_fail(err, "config.json: \"%.80s\" appears twice", dup);
  cJSON_ArrayForEach(a, obj)
    if (cJSON_IsObject(a) && check_unique_keys(a, err) != 0)
      return -1;
  return 0;
}


/* ============================================================ architecture */

static const struct hf_arch *find_arch(const cJSON *root, qora_err *err) {
  const cJSON *archs = field(root, "architectures"), *type = field(root, "model_type");
  const char *name = NULL;

  if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
    name = cJSON_GetArrayItem(archs, 0)->valuestring;
  else if (archs != NULL)
    return qora_fail(err, "config.json: \"architectures\" must be a list of class names"), NULL;
  for (size_t i = 0; i < sizeof hf_archs / sizeof hf_archs[0]; i++) {
    const struct hf_arch *a = &hf_archs[i];
    int by_class = name && strcmp(name, a->class_name) == 0;
    int by_type = cJSON_IsString(type) && strcmp(type->valuestring, a->model_type) == 0;

    if (by_class && type != NULL && !by_type)
      return qora_fail(err, "config.json: architecture %s contradicts model_type \"%.40s\"",
                       name, cJSON_IsString(type) ? type->valuestring : "?"), NULL;
    if (by_class || (name == NULL && by_type))
      return a;
  }
  if (name != NULL)
    qora_fail(err, "config.json: architecture %.80s is not supported; qora runs "
              "SmolLM3ForCausalLM and LlamaForCausalLM", name);
  else if (cJSON_IsString(type))
    qora_fail(err, "config.json: model_type \"%.80s\" is not supported; qora runs smollm3 and "
              "llama", type->valuestring);
  else
    qora_fail(err, "config.json has neither \"architectures\" nor \"model_type\": is it a "
              "Hugging Face model config?");
  return NULL;
}

/* Refuses settings that change the computation in ways qora does not implement. */
static int check_unsupported(const cJSON *root, qora_err *err) {
  static const char *const flags[] = {"attention_bias", "mlp_bias"};
  const cJSON *act = field(root, "hidden_act"), *types = field(root, "layer_types"), *t;
  double partial = 1.0;
  int on;

  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    if (get_bool(root, "", flags[i], 0, &on, err) < 0)
      return -1;
    if (on)
      return qora_fail(err, "config.json: \"%s\" is true; qora's model has no biases",
                       flags[i]);
  }
  if (act != NULL && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
    return qora_fail(err, "config.json: hidden_act \"%.40s\" is not supported (only silu)",
                     cJSON_IsString(act) ? act->valuestring : "?");
  if (get_bool(root, "", "use_sliding_window", 0, &on, err) < 0)
    return -1;
  if (on && field(root, "sliding_window") != NULL)
    return qora_fail(err, "config.json: use_sliding_window is true; qora has no sliding "
                     "window attention");
  if (types != NULL && !cJSON_IsArray(types) && !cJSON_IsNull(types))
    return qora_fail(err, "config.json: layer_types should be a list of layer kinds");
  cJSON_ArrayForEach(t, types)
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "full_attention") != 0)
      return qora_fail(err, "config.json: layer_types holds \"%.40s\"; qora only runs "
                       "full_attention layers", cJSON_IsString(t) ? t->valuestring : "?");
  if (get_num(root, "", "partial_rotary_factor", &partial, err) < 0)
    return -1;
  if (partial != 1.0)
    return qora_fail(err, "config.json: partial_rotary_factor %g is not supported (only 1)",
                     partial);
  return 0;
}


/* ================================================================== sizes */

static int parse_sizes(const cJSON *root, const struct hf_arch *a, hf_config *c,
                       qora_err *err) {
  int has_head_dim;

  if (get_int(root, "hidden_size", -1, 1, HF_MAX_DIM, &c->n_embd, err) < 0 ||
      get_int(root, "intermediate_size", -1, 1, HF_MAX_DIM, &c->n_ff, err) < 0 ||
      get_int(root, "num_hidden_layers", -1, 1, 4096, &c->n_layer, err) < 0 ||
      get_int(root, "num_attention_heads", -1, 1, 4096, &c->n_head, err) < 0 ||
      get_int(root, "vocab_size", -1, 1, 1 << 24, &c->n_vocab, err) < 0 ||
      get_int(root, "num_key_value_heads", c->n_head, 1, 4096, &c->n_head_kv, err) < 0 ||
      get_int(root, "max_position_embeddings", a->n_ctx_train, 1, 1 << 30, &c->n_ctx_train,
              err) < 0)
    return -1;
  has_head_dim = get_int(root, "head_dim", 0, 1, 65536, &c->head_dim, err);
  if (has_head_dim < 0)
    return -1;
  if (!has_head_dim) {
    if (c->n_embd % c->n_head != 0)
      return qora_fail(err, "config.json: hidden_size %d is not a multiple of "
                       "num_attention_heads %d, and no head_dim is given", c->n_embd,
                       c->n_head);
    c->head_dim = c->n_embd / c->n_head;
  }
  if (c->head_dim % 2 != 0)
    return qora_fail(err, "config.json: head_dim %d is odd; RoPE needs pairs", c->head_dim);
  if (c->n_head % c->n_head_kv != 0)
    return qora_fail(err, "config.json: num_attention_heads %d is not a multiple of "
                     "num_key_value_heads %d", c->n_head, c->n_head_kv);
  return 0;
}

static int parse_norm_and_tokens(const cJSON *root, const struct hf_arch *a, hf_config *c,
                                 qora_err *err) {
  double eps = 1e-6;

  if (get_num(root, "", "rms_norm_eps", &eps, err) < 0)
    return -1;
  /* qora computes with a float: 1e-50 would be 0 there, and 0.9999999999 would be 1 */
  if (!(eps > 0 && eps < 1 && (float)eps > 0.0f && (float)eps < 1.0f))
    return qora_fail(err, "config.json: rms_norm_eps %g must be in (0, 1), also as a 32-bit "
                     "float", eps);
  c->norm_eps = (float)eps;
  if (get_bool(root, "", "tie_word_embeddings", a->tied, &c->tied_embeddings, err) < 0 ||
      get_token_id(root, "bos_token_id", &c->bos_id, err) < 0 ||
      get_token_id(root, "eos_token_id", &c->eos_id, err) < 0)
    return -1;
  return 0;
}


/* ================================================================== NoPE */

/* SmolLM3: the no_rope_layers list (1 = RoPE) wins over no_rope_layer_interval. */
static int parse_nope(const cJSON *root, const struct hf_arch *a, hf_config *c, qora_err *err) {
  const cJSON *list = field(root, "no_rope_layers"), *v;
  int interval = 4, i = 0;

  c->uses_rope = malloc((size_t)c->n_layer);
  if (c->uses_rope == NULL)
    return qora_fail(err, "out of memory");
  memset(c->uses_rope, 1, (size_t)c->n_layer);
  if (strcmp(a->model_type, "smollm3") != 0)
    return 0;    /* Llama applies RoPE on every layer; transformers ignores these keys */
  if (list == NULL) {
    if (get_int(root, "no_rope_layer_interval", 4, 1, 1 << 20, &interval, err) < 0)
      return -1;
    for (i = 0; i < c->n_layer; i++)
      c->uses_rope[i] = (i + 1) % interval != 0;
    return 0;
  }
  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != c->n_layer)
    return qora_fail(err, "config.json: no_rope_layers must list one 0 or 1 per layer (%d), "
                     "it has %d", c->n_layer, cJSON_IsArray(list) ?
                     cJSON_GetArraySize(list) : 0);
  cJSON_ArrayForEach(v, list) {
    if (cJSON_IsBool(v))
      c->uses_rope[i++] = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1))
      c->uses_rope[i++] = v->valuedouble == 1;
    else
      return qora_fail(err, "config.json: no_rope_layers[%d] must be 0 or 1", i);
  }
  return 0;
}


/* ================================================================== RoPE */

static int rope_type(const cJSON *dict, int *type, qora_err *err) {
  static const char *const names[] = {"default", "linear", "yarn", "llama3"};
  const cJSON *t = field(dict, "rope_type");

  if (t == NULL)
    t = field(dict, "type");
  *type = HF_ROPE_DEFAULT;
  if (t == NULL)
    return 0;
  for (int i = 0; i < 4; i++)
    if (cJSON_IsString(t) && strcmp(t->valuestring, names[i]) == 0)
      return *type = i, 0;
  return qora_fail(err, "config.json: RoPE type \"%.40s\" is not supported (qora applies "
                   "default, linear, yarn and llama3)", cJSON_IsString(t) ? t->valuestring : "?");
}

/* 1 + 0.1 k ln s, YaRN's magnitude correction (1 for s <= 1). */
static double yarn_m(double s, double k) {
  return s <= 1 ? 1.0 : 0.1 * k * log(s) + 1.0;
}

static int parse_yarn(const cJSON *d, const char *pre, const hf_config *c, hf_rope *r,
                      qora_err *err) {
  double m = 0, m_all = 0, att = 0;
  int has_att, trunc;

  if (cJSON_GetObjectItemCaseSensitive(d, "factor") == NULL)
    return qora_fail(err, "config.json: YaRN %.*s needs its \"factor\" (as transformers "
                     "requires)", (int)strlen(pre) - 1, pre);
  if (field(d, "factor") == NULL)   /* null: transformers derives it from the two contexts */
    r->factor = (double)c->n_ctx_train / r->original_ctx;
  if (get_num(d, pre, "beta_fast", &r->beta_fast, err) < 0 ||
      get_num(d, pre, "beta_slow", &r->beta_slow, err) < 0 ||
      get_num(d, pre, "mscale", &m, err) < 0 ||
      get_num(d, pre, "mscale_all_dim", &m_all, err) < 0 ||
      (has_att = get_num(d, pre, "attention_factor", &att, err)) < 0 ||
      get_bool(d, pre, "truncate", 1, &trunc, err) < 0)
    return -1;
  if (r->beta_fast == 0)
    r->beta_fast = 32;    /* transformers reads them with `or`: 0 means the default too */
  if (r->beta_slow == 0)
    r->beta_slow = 1;
  /* transformers takes their logarithm: a negative one fails there, and here gave a NaN */
  if (r->beta_fast < 0 || r->beta_slow < 0)
    return qora_fail(err, "config.json: %sbeta_fast %g and beta_slow %g must be positive "
                     "(transformers' defaults are 32 and 1)", pre, r->beta_fast, r->beta_slow);
  r->truncate = trunc;
  if (has_att)
    r->attention_factor = att;
  else if (m != 0 && m_all != 0)
    r->attention_factor = yarn_m(r->factor, m) / yarn_m(r->factor, m_all);
  else
    r->attention_factor = yarn_m(r->factor, 1);
  if (!(r->attention_factor > 0))
    return qora_fail(err, "config.json: the YaRN attention factor must be positive");
  return 0;
}

/*
** The factor of every scaling type, the context's multiple of the trained one, below 1 would
** shorten the context instead. transformers' checks of linear, yarn and llama3 each say it
** "must be a float >= 1" (they only warn, then compute), the GGUF loader refuses a YaRN factor
** below 1, and the saver writes YaRN only above 1, so that such a folder saved as GGUF would
** load back as plain RoPE: refused here, with the key. qora keeps the factor as a float.
*/
static int check_factor(const cJSON *d, const char *pre, const hf_rope *r, qora_err *err) {
  static const char *const what[] = {
    [HF_ROPE_LINEAR] = "linear RoPE scaling needs a finite factor of at least 1 (positions are "
                       "divided by it",
    [HF_ROPE_YARN] = "YaRN needs a finite factor of at least 1 (the context's multiple of "
                     "original_max_position_embeddings",
    [HF_ROPE_LLAMA3] = "llama3 RoPE scaling needs a finite factor of at least 1 (the slow "
                       "frequencies are divided by it",
  };
  int dict = (int)strlen(pre) - 1;   /* the dictionary's name, pre less its dot */

  if (r->factor >= 1 && r->factor <= FLT_MAX)
    return 0;
  if (field(d, "factor") == NULL)   /* YaRN only: the others refused a missing factor */
    return qora_fail(err, "config.json: %sfactor is null, which makes it "
                     "max_position_embeddings / original_max_position_embeddings = %g; YaRN "
                     "needs a factor of at least 1 (give original_max_position_embeddings no "
                     "larger than max_position_embeddings)", pre, r->factor);
  return qora_fail(err, "config.json: %sfactor is %g; %s; transformers requires a float >= 1 "
                   "too). Give the factor the model was trained with, or leave out %.*s for "
                   "plain RoPE", pre, r->factor, what[r->type], dict, pre);
}

static int parse_llama3(const cJSON *d, const char *pre, int has_orig, hf_rope *r,
                        qora_err *err) {
  int has_low = get_num(d, pre, "low_freq_factor", &r->low_freq_factor, err);
  int has_high = get_num(d, pre, "high_freq_factor", &r->high_freq_factor, err);

  if (has_low < 0 || has_high < 0)
    return -1;
  if (!has_low || !has_high)
    return qora_fail(err, "config.json: llama3 RoPE scaling needs low_freq_factor and "
                     "high_freq_factor");
  if (!(r->low_freq_factor > 0 && r->high_freq_factor > r->low_freq_factor))
    return qora_fail(err, "config.json: llama3 RoPE needs 0 < low_freq_factor < "
                     "high_freq_factor");
  /*
  ** The wavelengths are measured against it. Without it transformers 4 raised a KeyError, and
  ** 5 takes max_position_embeddings, warning that it must be less.
  */
  if (!has_orig)
    return qora_fail(err, "config.json: llama3 RoPE scaling needs its "
                     "original_max_position_embeddings, the context before scaling (8192 for "
                     "Llama 3.1 and 3.2), which transformers 4 requires and 5 warns about; "
                     "add it to the scaling's settings");
  return 0;
}


/*
** Reads the RoPE settings of dictionary d (rope_scaling or rope_parameters; NULL for none),
** named pre in messages, with the top-level keys and the class defaults, into *r.
*/
static int read_rope(const cJSON *root, const cJSON *d, const char *pre,
                     const struct hf_arch *a, const hf_config *c, hf_rope *r, qora_err *err) {
  const char *key = "original_max_position_embeddings";
  double orig, top = 0;
  int has_orig, has_top;

  memset(r, 0, sizeof *r);
  r->theta = a->theta;
  r->factor = 1;
  r->attention_factor = 1;
  r->original_ctx = c->n_ctx_train;
  if (get_num(root, "", "rope_theta", &r->theta, err) < 0 ||
      get_num(d, pre, "rope_theta", &r->theta, err) < 0 ||
      rope_type(d, &r->type, err) < 0)
    return -1;
  /* Of 1 or less, every pair turns as fast as the first or faster. qora keeps it as a float. */
  if (!(r->theta > 1 && r->theta <= FLT_MAX && (float)r->theta > 1.0f))
    return qora_fail(err, "config.json: rope_theta %g must be above 1, also as a 32-bit float "
                     "(SmolLM3 uses 5000000, Llama 3 500000)", r->theta);
  if (r->type == HF_ROPE_DEFAULT)
    return 0;

  orig = r->original_ctx;
  if ((has_orig = get_num(d, pre, key, &orig, err)) < 0 ||
      (has_top = get_num(root, "", key, &top, err)) < 0)
    return -1;
  /*
  ** yarn and llama3 measure against it. transformers 5 reads the top-level one for them (the
  ** frequency functions call standardize_rope_params first, which copies it over the dict's),
  ** 4 read the dict's: two different numbers are refused. linear uses neither.
  */
  if (has_orig && has_top && orig != top && r->type != HF_ROPE_LINEAR)
    return qora_fail(err, "config.json: %s is %g at the top level and %g in %.*s; transformers "
                     "5 reads the top-level one for %s RoPE, transformers 4 the other. Keep "
                     "one of the two, the context the model was trained with before scaling",
                     key, top, orig, (int)strlen(pre) - 1, pre,
                     r->type == HF_ROPE_YARN ? "YaRN" : "llama3");
  if (has_top)
    orig = top;
  if (!(orig >= 1 && orig <= (1 << 30)) || orig != floor(orig))
    return qora_fail(err, "config.json: original_max_position_embeddings must be a positive "
                     "integer");
  r->original_ctx = (int)orig;
  if (get_num(d, pre, "factor", &r->factor, err) < 0)
    return -1;
  if (field(d, "factor") == NULL && r->type != HF_ROPE_YARN)
    return qora_fail(err, "config.json: %.*s of this type needs a \"factor\"",
                     (int)strlen(pre) - 1, pre);
  if (r->type == HF_ROPE_YARN && parse_yarn(d, pre, c, r, err) < 0)
    return -1;
  if (r->type == HF_ROPE_LLAMA3 && parse_llama3(d, pre, has_orig || has_top, r, err) < 0)
    return -1;
  return check_factor(d, pre, r, err);
}

/*
** The first setting that a and b give differently, among those a's type uses, as its key and
** the two values in text; NULL when they agree.
*/
static const char *rope_differs(const hf_rope *a, const hf_rope *b, char *va, char *vb,
                                size_t n) {
  static const char *const types[] = {"default", "linear", "yarn", "llama3"};
  const struct { const char *key; double x, y; int used; } s[] = {
    {"rope_theta", a->theta, b->theta, 1},
    {"factor", a->factor, b->factor, a->type != HF_ROPE_DEFAULT},
    {"original_max_position_embeddings", a->original_ctx, b->original_ctx,
     a->type == HF_ROPE_YARN || a->type == HF_ROPE_LLAMA3},
    {"beta_fast", a->beta_fast, b->beta_fast, a->type == HF_ROPE_YARN},
    {"beta_slow", a->beta_slow, b->beta_slow, a->type == HF_ROPE_YARN},
    {"attention_factor", a->attention_factor, b->attention_factor, a->type == HF_ROPE_YARN},
    {"truncate", a->truncate, b->truncate, a->type == HF_ROPE_YARN},
    {"low_freq_factor", a->low_freq_factor, b->low_freq_factor, a->type == HF_ROPE_LLAMA3},
    {"high_freq_factor", a->high_freq_factor, b->high_freq_factor, a->type == HF_ROPE_LLAMA3},
  };

  if (a->type != b->type) {
    snprintf(va, n, "%s", types[a->type]);
    snprintf(vb, n, "%s", types[b->type]);
    return "rope_type";
  }
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    if (!s[i].used || s[i].x == s[i].y)
      continue;
    snprintf(va, n, "%g", s[i].x);
    snprintf(vb, n, "%g", s[i].y);
    if (strcmp(va, vb) == 0) {   /* apart beyond 6 digits: all of them */
      snprintf(va, n, "%.17g", s[i].x);
      snprintf(vb, n, "%.17g", s[i].y);
    }
    return s[i].key;
  }
  return NULL;
}

/* Rewrites err's message as before, the message, then after; returns -1. */
static int reword(qora_err *err, const char *before, const char *after) {
  char msg[QORA_ERR_MAX];

  if (err == NULL)
    return -1;
  snprintf(msg, sizeof msg, "%s", err->msg);
  return qora_fail(err, "%s%s%s", before, msg, after);
}

/*
** transformers 5 (PreTrainedConfig's convert_rope_params_to_dict) takes rope_scaling when it
** is a non-empty object and then drops rope_parameters whole, a rope_theta in it included; an
** empty or null rope_scaling leaves rope_parameters. Where the two would give different RoPE,
** which one the model was trained with cannot be told: refused, naming both values. Two that
** agree load.
*/
static int parse_rope(const cJSON *root, const struct hf_arch *a, hf_config *c, qora_err *err) {
  static const char why[] = "; transformers reads only rope_scaling when both are given: keep "
                            "the one the model was trained with and delete the other";
  const cJSON *scaling = field(root, "rope_scaling"), *params = field(root, "rope_parameters");
  char vs[40], vp[40];
  const char *key;
  hf_rope other;

  if (scaling != NULL && !cJSON_IsObject(scaling))
    return qora_fail(err, "config.json: rope_scaling must be an object (or null)");
  if (params != NULL && !cJSON_IsObject(params))
    return qora_fail(err, "config.json: rope_parameters must be an object (or null)");
  if (scaling != NULL && cJSON_GetArraySize(scaling) == 0)
    scaling = NULL;
  if (params != NULL && cJSON_GetArraySize(params) == 0)
    params = NULL;
  if (scaling == NULL)
    return read_rope(root, params, "rope_parameters.", a, c, &c->rope, err);
  if (read_rope(root, scaling, "rope_scaling.", a, c, &c->rope, err) < 0)
    return -1;
  if (params == NULL)
    return 0;
  if (read_rope(root, params, "rope_parameters.", a, c, &other, err) < 0)
    return reword(err, "", why);
  key = rope_differs(&c->rope, &other, vs, vp, sizeof vs);
  if (key != NULL)
    return qora_fail(err, "config.json: rope_scaling and rope_parameters are both given and "
                     "disagree: %s is %s by rope_scaling and %s by rope_parameters (each read "
                     "with the top-level keys and defaults)%s", key, vs, vp, why);
  return 0;
}


/* ================================================================ entry */

int hf_config_parse(const char *json, size_t len, hf_config *cfg, qora_err *err) {
  cJSON *root;
  const struct hf_arch *a;
  int rc = -1;

  memset(cfg, 0, sizeof *cfg);
  if (err != NULL)
    err->msg[0] = '\0';
  if ((root = json_object_of(json, len, "config.json", err)) == NULL)
    return -1;
  a = check_unique_keys(root, err) == 0 ? find_arch(root, err) : NULL;
  if (a != NULL && check_unsupported(root, err) == 0 && parse_sizes(root, a, cfg, err) == 0 &&
      parse_norm_and_tokens(root, a, cfg, err) == 0 && parse_nope(root, a, cfg, err) == 0 &&
      parse_rope(root, a, cfg, err) == 0) {
    snprintf(cfg->arch, sizeof cfg->arch, "%s", a->gguf_arch);
    rc = 0;
  }
  cJSON_Delete(root);
  if (rc != 0)
    hf_config_free(cfg);
  return rc;
}

int hf_config_load(const char *dir, hf_config *cfg, qora_err *err) {
  char path[4096];
  size_t len;
  char *text;
  int rc;

  snprintf(path, sizeof path, "%s/config.json", dir);
  text = qora_read_file(path, HF_MAX_CONFIG, &len, err);
  if (text == NULL)
    return reword(err, "", "; a Hugging Face checkpoint folder holds config.json, "
                  "tokenizer.json and *.safetensors, or give a GGUF file");
  rc = hf_config_parse(text, len, cfg, err);
  free(text);
  if (rc != 0) {
    snprintf(path, sizeof path, "%s/", dir);
    reword(err, path, "");
  }
  return rc;
}

void hf_config_free(hf_config *cfg) {
  free(cfg->uses_rope);
  cfg->uses_rope = NULL;
}


/* ======================================================== frequencies */

/* Dimension at which a pair turns n_rot times over ctx positions (YaRN's correction). */
static double yarn_corr_dim(double n_rot, int dim, double base, int ctx) {
  return dim * log(ctx / (n_rot * 2 * M_PI)) / (2 * log(base));
}

float hf_yarn_freqs(const hf_rope *r, int dim, float *inv_freq) {
  double low = yarn_corr_dim(r->beta_fast, dim, r->theta, r->original_ctx);
  double high = yarn_corr_dim(r->beta_slow, dim, r->theta, r->original_ctx);

  if (r->truncate) {
    low = floor(low);
    high = ceil(high);
  }
  low = fmax(low, 0);
  high = fmin(high, dim - 1);
  if (low == high)
    high += 0.001;    /* as transformers does, to keep the ramp finite */
  for (int i = 0; i < dim / 2; i++) {
    double extrap = pow(r->theta, -2.0 * i / dim), interp = extrap / r->factor;
    double ramp = fmin(fmax((i - low) / (high - low), 0), 1);

    inv_freq[i] = (float)(interp * ramp + extrap * (1 - ramp));
  }
  return (float)r->attention_factor;
}

/* Llama 3.1's smoothing between kept high frequencies and divided low ones. */
static void llama3_freqs(const hf_rope *r, int dim, float *inv_freq) {
  double low_wavelen = r->original_ctx / r->low_freq_factor;
  double high_wavelen = r->original_ctx / r->high_freq_factor;

  for (int i = 0; i < dim / 2; i++) {
    double f = pow(r->theta, -2.0 * i / dim), wavelen = 2 * M_PI / f;

    if (wavelen > low_wavelen) {
      f /= r->factor;
    } else if (wavelen >= high_wavelen) {
      double s = (r->original_ctx / wavelen - r->low_freq_factor) /
                 (r->high_freq_factor - r->low_freq_factor);

      f = (1 - s) * f / r->factor + s * f;
    }
    inv_freq[i] = (float)f;
  }
}

float hf_rope_freqs(const hf_rope *r, int dim, float *inv_freq) {
  if (r->type == HF_ROPE_YARN)
    return hf_yarn_freqs(r, dim, inv_freq);
  if (r->type == HF_ROPE_LLAMA3) {
    llama3_freqs(r, dim, inv_freq);
    return 1.0f;
  }
  for (int i = 0; i < dim / 2; i++)
    inv_freq[i] = (float)(pow(r->theta, -2.0 * i / dim) /
                          (r->type == HF_ROPE_LINEAR ? r->factor : 1.0));
  return 1.0f;
}


/* ================================================================ files */

