/*
** model_gguf.c: a model from a GGUF file. Every tensor is checked for presence, type and
** shape before use, and bound in place inside the memory map.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "model.h"
#include "quant.h"
#include "repack.h"
#include "tokenizer.h"

#define NAME_MAX_LEN 96

/* The types qora computes with; anything else is refused by tensor name. */
static int computable(uint32_t type) {
  switch (type) {
  case QORA_F32: case QORA_F16: case QORA_BF16: case QORA_Q8_0: case QORA_Q4_0:
  case QORA_Q4_1: case QORA_Q4_K: case QORA_Q5_K: case QORA_Q6_K:
    return 1;
  default:
    return 0;
  }
}


/* GGML's names for the types qora does not compute, for messages. */
static const char *ggml_type_name(uint32_t type) {
  static const char *const names[] = {
    [6] = "Q5_0", [7] = "Q5_1", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [15] = "Q8_K",
    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL",
    [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32",
    [27] = "I64", [28] = "F64", [29] = "IQ1_M", [34] = "TQ1_0", [35] = "TQ2_0",
    [39] = "MXFP4",
  };
  const char *name = type < sizeof names / sizeof *names ? names[type] : NULL;

  if (name == NULL)
    name = qora_type_name((int)type);
  return name ? name : "unknown";
}


typedef struct binder {
  qora_model *m;
  const gguf_file *f;
  uint64_t bound;           /* tensors used so far */
  qora_err *err;
} binder;


static const gguf_tensor *find(binder *b, const char *name) {
  const gguf_tensor *t = gguf_find_tensor(b->f, name);

  if (t == NULL)
    qora_fail(b->err, "tensor %s is missing; is this a complete %s file?", name,
              b->m->info.arch);
  return t;
}


/* Binds a matrix of rows x cols (GGUF shape [cols, rows]). */
static int bind_matrix(binder *b, const char *name, int64_t rows, int64_t cols,
                       qora_weight *w) {
  const gguf_tensor *t = find(b, name);
  const char *label;

  if (t == NULL)
    return -1;
  label = ggml_type_name(t->type);
  if (!computable(t->type))
    return qora_fail(b->err, "tensor %s has type %u (%s), which qora cannot compute (it reads "
                     "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K); convert the file "
                     "to one of these", name, t->type, label);
  if (t->n_dims != 2 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows)
    return qora_fail(b->err, "tensor %s: expected %lldx%lld, file has %llux%llu%s; is this a "
                     "%s file?", name, (long long)cols, (long long)rows,
                     (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                     t->n_dims != 2 ? " (not a matrix)" : "", b->m->info.arch);
  w->type = (int)t->type;
  w->rows = rows;
  w->cols = cols;
  w->row_bytes = qora_row_size(w->type, cols);
  w->data = t->data;
  b->bound++;
  return 0;
}


/* Binds a norm vector of n floats; F16 and BF16 norms are widened into a buffer we own. */
static int bind_norm(binder *b, const char *name, int64_t n, const float **out) {
  const gguf_tensor *t = find(b, name);
  float *wide;

  if (t == NULL)
    return -1;
  if (t->n_dims != 1 || t->ne[0] != (uint64_t)n)
    return qora_fail(b->err, "tensor %s: expected %lld values, file has %llux%llu", name,
                     (long long)n, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1]);
  b->bound++;
  if (t->type == QORA_F32) {
    *out = t->data;
    return 0;
  }
  if (t->type != QORA_F16 && t->type != QORA_BF16)
    return qora_fail(b->err, "tensor %s is a norm stored as type %u (%s); qora reads norms as "
                     "F32, F16 or BF16; convert the file again", name, t->type,
                     ggml_type_name(t->type));
  wide = qora_model_own(b->m, malloc((size_t)n * sizeof *wide));
  if (wide == NULL)
    return qora_fail(b->err, "out of memory");
  qora_type_get((int)t->type)->to_float(t->data, wide, n);
  *out = wide;
  return 0;
}


static int bind_layer(binder *b, int il) {
  const qora_model_info *in = &b->m->info;
  qora_layer *l = &b->m->layers[il];
  int64_t q = (int64_t)in->n_head * in->head_dim, kv = (int64_t)in->n_head_kv * in->head_dim;
  char n[NAME_MAX_LEN];

#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, il), n)
  if (bind_norm(b, NAME("attn_norm.weight"), in->n_embd, &l->attn_norm) < 0 ||
      bind_matrix(b, NAME("attn_q.weight"), q, in->n_embd, &l->wq) < 0 ||
      bind_matrix(b, NAME("attn_k.weight"), kv, in->n_embd, &l->wk) < 0 ||
      bind_matrix(b, NAME("attn_v.weight"), kv, in->n_embd, &l->wv) < 0 ||
      bind_matrix(b, NAME("attn_output.weight"), in->n_embd, q, &l->wo) < 0 ||
      bind_norm(b, NAME("ffn_norm.weight"), in->n_embd, &l->ffn_norm) < 0 ||
      bind_matrix(b, NAME("ffn_gate.weight"), in->n_ff, in->n_embd, &l->w_gate) < 0 ||
      bind_matrix(b, NAME("ffn_up.weight"), in->n_ff, in->n_embd, &l->w_up) < 0 ||
      bind_matrix(b, NAME("ffn_down.weight"), in->n_embd, in->n_ff, &l->w_down) < 0)
    return -1;
#undef NAME
  return 0;
}


/* A tensor nobody bound would be silently ignored: refuse the file instead. */
static int refuse_leftovers(binder *b) {
  static const char *const known[] = { "token_embd.weight", "output_norm.weight",
                                       "output.weight" };
  const gguf_file *f = b->f;

  if (b->bound == f->n_tensors)
    return 0;
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    gguf_str s = f->tensors[i].name;
    int ok = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
      ok |= gguf_str_eq(s, known[k]);
    if (!ok && !(s.len > 4 && memcmp(s.ptr, "blk.", 4) == 0))
      return qora_fail(b->err, "tensor %.*s is not part of the %s architecture as qora knows "
                       "it; this variant is not supported", (int)s.len, s.ptr,
                       b->m->info.arch);
  }
  return qora_fail(b->err, "the file has %llu tensors but a %d-layer %s model uses %llu; "
                   "layer tensors with unexpected names (biases?) are not supported",
                   (unsigned long long)f->n_tensors, b->m->info.n_layer, b->m->info.arch,
                   (unsigned long long)b->bound);
}


/*
** The embedding has one row per token id; said counts the rows ("tensor token_embd.weight has
** 462 rows"). A token past them, such as a special token added to the vocabulary alone (by
** hand, or by a hostile file), is named with its id, as a folder's is (model_hf.c): the
** tensor's shape alone says only that the file is wrong. Rows past the vocabulary are ids
** without a text (converters pad the vocabulary instead).
*/
static int check_rows(const qora_model *m, int64_t rows, const char *said, qora_err *err) {
  int n = m->info.n_vocab;

  if (rows < n)
    return qora_fail(err, "the token '%.64s' (id %lld) has no embedding row: %s, and the "
                     "vocabulary has %d tokens; the file is corrupt: convert the model again",
                     qora_token_text(m->tok, (int32_t)rows, NULL), (long long)rows, said, n);
  if (rows > n)
    return qora_fail(err, "%s, but the vocabulary has %d tokens, so ids from %d would have no "
                     "text; the file is corrupt: convert the model again (converters pad the "
                     "vocabulary with unused tokens)", said, n, n);
  return 0;
}


/* token_embd.weight's rows (its second dimension) against the vocabulary, when it has two. */
static int check_embedding_rows(const qora_model *m, qora_err *err) {
  const gguf_tensor *t = gguf_find_tensor(m->gguf, "token_embd.weight");
  char said[96];

  if (t == NULL || t->n_dims != 2 || t->ne[1] > INT32_MAX)
    return 0;                     /* bind_matrix names what is wrong */
  snprintf(said, sizeof said, "tensor token_embd.weight has %llu rows",
           (unsigned long long)t->ne[1]);
  return check_rows(m, (int64_t)t->ne[1], said, err);
}


static int bind_all(qora_model *m, qora_err *err) {
  binder b = { m, m->gguf, 0, err };
  qora_model_info *in = &m->info;

  if (check_embedding_rows(m, err) < 0 ||
      bind_matrix(&b, "token_embd.weight", in->n_vocab, in->n_embd, &m->tok_embd) < 0 ||
      bind_norm(&b, "output_norm.weight", in->n_embd, &m->output_norm) < 0)
    return -1;
  in->tied_embeddings = gguf_find_tensor(m->gguf, "output.weight") == NULL;
  if (in->tied_embeddings)
    m->output = m->tok_embd;
  else if (bind_matrix(&b, "output.weight", in->n_vocab, in->n_embd, &m->output) < 0)
    return -1;
  for (int il = 0; il < in->n_layer; il++)
    if (bind_layer(&b, il) < 0)
      return -1;
  return refuse_leftovers(&b);
}


/* ------------------------------------------------------------------ metadata */

/* Reads "<arch>.<suffix>" as u32; required keys must exist. */
static int arch_u32(const qora_model *m, const char *suffix, int required, int *out,
                    qora_err *err) {
  char key[128];
  uint32_t v;
  int rc;

  snprintf(key, sizeof key, "%s.%s", m->info.arch, suffix);
  rc = gguf_get_u32(m->gguf, key, &v, err);
  if (rc < 0)
    return -1;
  if (rc == 0)
    return required ? qora_fail(err, "metadata %s is missing; is this a complete GGUF?", key)
                    : 0;
  if (v > (1u << 30))
    return qora_fail(err, "metadata %s is %u, which is absurd; the file is corrupt", key, v);
  *out = (int)v;
  return 0;
}


static int arch_f32(const qora_model *m, const char *suffix, float *out, qora_err *err) {
  char key[128];

  snprintf(key, sizeof key, "%s.%s", m->info.arch, suffix);
  return gguf_get_f32(m->gguf, key, out, err) < 0 ? -1 : 0;
}


static int read_arch(qora_model *m, qora_err *err) {
  gguf_str s;
  int rc = gguf_get_str(m->gguf, "general.architecture", &s, err);

  if (rc < 0)
    return -1;
  if (rc == 0)
    return m->gguf->n_tensors ? qora_fail(err, "general.architecture is missing") : 0;
  if (!gguf_str_eq(s, "smollm3") && !gguf_str_eq(s, "llama"))
    return qora_fail(err, "architecture %.*s is not supported; qora runs smollm3 and llama "
                     "(SmolLM2) models", (int)(s.len > 64 ? 64 : s.len), s.ptr);
  memcpy(m->info.arch, s.ptr, s.len);
  if (gguf_get_str(m->gguf, "general.name", &s, NULL) == 1)
    snprintf(m->info.name, sizeof m->info.name, "%.*s", (int)s.len, s.ptr);
  return 0;
}


/*
** YaRN settings beyond factor and original context, under llama.cpp's key names: the ramp's
** ends, and attn_factor, which multiplies YaRN's own 0.1 ln(factor) + 1.
*/
static int read_yarn_extras(qora_model *m, qora_rope_cfg *rc, qora_err *err) {
  float attn = 1.0f;

  if (arch_f32(m, "rope.scaling.yarn_beta_fast", &rc->yarn_beta_fast, err) < 0 ||
      arch_f32(m, "rope.scaling.yarn_beta_slow", &rc->yarn_beta_slow, err) < 0 ||
      arch_f32(m, "rope.scaling.attn_factor", &attn, err) < 0)
    return -1;
  if (!(attn > 0.0f && attn < 100.0f) || !(rc->yarn_beta_fast >= 0.0f) ||
      !(rc->yarn_beta_slow >= 0.0f) || isinf(rc->yarn_beta_fast) || isinf(rc->yarn_beta_slow))
    return qora_fail(err, "the file's RoPE scaling settings are not usable (attn_factor %g, "
                     "beta_fast %g, beta_slow %g); attn_factor must be in (0, 100) and the "
                     "betas finite, 0 or more", attn, rc->yarn_beta_fast, rc->yarn_beta_slow);
  if (attn != 1.0f && rc->yarn_factor > 1.0f)
    rc->yarn_mscale = (float)(0.1 * log(rc->yarn_factor) + 1.0) * attn;
  else if (attn != 1.0f)
    return qora_fail(err, "%s.rope.scaling.attn_factor without YaRN is not supported",
                     m->info.arch);
  return 0;
}


/*
** The layers that apply RoPE, when the file lists them (qora writes this key for a SmolLM3
** whose config.json's no_rope_layers is not the default every-fourth pattern; llama.cpp does
** not know the key and applies the default). One 0/1 per layer, 1 = RoPE, as in config.json.
*/
static int read_no_rope(const qora_model *m, int *no_rope, int *given, qora_err *err) {
  char key[128];
  const gguf_kv *kv;

  snprintf(key, sizeof key, "%s.no_rope_layers", m->info.arch);
  kv = gguf_find(m->gguf, key);
  *given = kv != NULL;
  if (kv == NULL)
    return 0;
  if (kv->type != GGUF_ARRAY || kv->arr_type == GGUF_STRING || kv->arr_type == GGUF_ARRAY ||
      kv->n != (uint64_t)m->info.n_layer)
    return qora_fail(err, "metadata %s must be an array of one 0 or 1 per layer (%d)", key,
                     m->info.n_layer);
  for (int il = 0; il < m->info.n_layer; il++) {
    int64_t v = gguf_arr_int(kv, (uint64_t)il);
    if (v != 0 && v != 1)
      return qora_fail(err, "metadata %s[%d] is %lld; it must be 0 or 1", key, il,
                       (long long)v);
    no_rope[il] = (int)v;
  }
  return 0;
}


/*
** Refuses what only a GGUF can get wrong about the float settings: an RMSNorm epsilon missing
** (it would read as 0), and a YaRN factor below 1. The ranges of the RoPE base and epsilon are
** checked by qora_model_setup, whose messages name the keys load gives it. Each test is
** written so that NaN fails it.
*/
static int check_floats(const qora_model *m, const qora_rope_cfg *rc, qora_err *err) {
  const qora_model_info *in = &m->info;
  char key[128];

  snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", in->arch);
  if (gguf_find(m->gguf, key) == NULL)
    return qora_fail(err, "metadata %s is missing; is this a complete GGUF?", key);
  /* 0 is llama.cpp's "no scaling"; below 1, YaRN would shorten the context */
  if (!(rc->yarn_factor == 0.0f || rc->yarn_factor >= 1.0f) || isinf(rc->yarn_factor))
    return qora_fail(err, "metadata %s.rope.scaling.factor is %g; YaRN needs a finite factor "
                     "of at least 1 (the context's multiple of the original, 0 for none); the "
                     "file is corrupt", in->arch, rc->yarn_factor);
  return 0;
}


/*
** RoPE turns whole heads in the models qora runs, and their files say so: rope.dimension_count
** is the heads' width, as qora and llama.cpp write them. Another count is a damaged head count
** or width far more often than a model with RoPE over part of each head, so the message names
** the keys that disagree (the width comes from key_length, or is embedding_length / head_count).
*/
static int head_width_error(const qora_model_info *in, int key_len, int rope_dims,
                            qora_err *err) {
  const char *a = in->arch;
  char width[320];          /* three keys under a 31-byte arch name, four numbers */

  if (key_len == 0)
    snprintf(width, sizeof width, "%s.embedding_length %d / %s.attention.head_count %d gives "
             "heads %d wide", a, in->n_embd, a, in->n_head, in->head_dim);
  else if ((int64_t)in->n_head * key_len != in->n_embd)
    snprintf(width, sizeof width, "%s.attention.head_count %d x %s.attention.key_length %d = "
             "%lld does not match %s.embedding_length %d", a, in->n_head, a, key_len,
             (long long)in->n_head * key_len, a, in->n_embd);
  else
    snprintf(width, sizeof width, "%s.attention.key_length is %d", a, key_len);
  return qora_fail(err, "the file's metadata is inconsistent: %s, and %s.rope.dimension_count "
                   "is %d; the file is damaged or not a model qora runs (RoPE over part of "
                   "each head is not supported)", width, a, rope_dims);
}


static int read_hparams(qora_model *m, qora_rope_cfg *rc, qora_err *err) {
  qora_model_info *in = &m->info;
  int rope_dims = 0, key_len = 0, vocab = 0;
  char type[64] = "";
  gguf_str s;

  in->rope_theta = 10000.0f;
  if (arch_u32(m, "block_count", 1, &in->n_layer, err) < 0 ||
      arch_u32(m, "embedding_length", 1, &in->n_embd, err) < 0 ||
      arch_u32(m, "feed_forward_length", 1, &in->n_ff, err) < 0 ||
      arch_u32(m, "attention.head_count", 1, &in->n_head, err) < 0 ||
      arch_u32(m, "context_length", 1, &in->n_ctx_train, err) < 0 ||
      arch_u32(m, "attention.head_count_kv", 0, &in->n_head_kv, err) < 0 ||
      arch_u32(m, "rope.dimension_count", 0, &rope_dims, err) < 0 ||
      arch_u32(m, "attention.key_length", 0, &key_len, err) < 0 ||
      arch_u32(m, "vocab_size", 0, &vocab, err) < 0 ||
      arch_f32(m, "rope.freq_base", &in->rope_theta, err) < 0 ||
      arch_f32(m, "attention.layer_norm_rms_epsilon", &in->norm_eps, err) < 0 ||
      arch_f32(m, "rope.scaling.factor", &rc->yarn_factor, err) < 0 ||
      arch_u32(m, "rope.scaling.original_context_length", 0, &rc->yarn_orig_ctx, err) < 0)
    return -1;
  if (in->n_head_kv == 0)
    in->n_head_kv = in->n_head;
  if (in->n_embd < 1 || in->n_head < 1 || in->n_embd % in->n_head)
    return qora_fail(err, "an embedding of %d cannot be split in %d attention heads; the file's "
                     "metadata is corrupt", in->n_embd, in->n_head);
  in->head_dim = key_len ? key_len : in->n_embd / in->n_head;
  if (rope_dims && rope_dims != in->head_dim)
    return head_width_error(in, key_len, rope_dims, err);
  if (vocab && vocab != in->n_vocab) {
    char said[96];

    snprintf(said, sizeof said, "metadata %s.vocab_size is %d", in->arch, vocab);
    return check_rows(m, vocab, said, err);
  }
  snprintf(type, sizeof type, "%s.rope.scaling.type", in->arch);
  if (gguf_get_str(m->gguf, type, &s, NULL) == 1 && !gguf_str_eq(s, "yarn") &&
      !gguf_str_eq(s, "none"))
    return qora_fail(err, "RoPE scaling %.*s is not supported (qora knows yarn)",
                     (int)(s.len > 32 ? 32 : s.len), s.ptr);
  if (!(gguf_get_str(m->gguf, type, &s, NULL) == 1 && gguf_str_eq(s, "yarn")))
    rc->yarn_factor = 0;
  if (check_floats(m, rc, err) < 0)
    return -1;
  return read_yarn_extras(m, rc, err);
}


/* ------------------------------------------------------------------ loading */

static int load(qora_model *m, const char *path, qora_err *err) {
  qora_rope_cfg rc = { 0 };
  int no_rope[QORA_MAX_LAYERS], listed = 0;
  char base_key[128], eps_key[128];      /* the keys qora_model_setup's messages name */
  qora_setting_names names = { base_key, eps_key, "; the file is corrupt" };

  m->gguf = gguf_open(path, err);
  if (m->gguf == NULL || read_arch(m, err) < 0)
    return -1;
  m->tok = qora_tokenizer_from_gguf(m->gguf, err);
  if (m->tok == NULL)
    return -1;
  m->info.n_vocab = qora_vocab_size(m->tok);
  if (m->gguf->n_tensors == 0)
    return 0;               /* a vocabulary alone */
  if (m->info.arch[0] == 0)
    return qora_fail(err, "general.architecture is missing");
  if (read_hparams(m, &rc, err) < 0)
    return -1;
  if (m->info.n_layer > 0 && m->info.n_layer <= QORA_MAX_LAYERS &&
      read_no_rope(m, no_rope, &listed, err) < 0)
    return -1;
  rc.no_rope = listed ? no_rope : NULL;
  snprintf(base_key, sizeof base_key, "metadata %s.rope.freq_base", m->info.arch);
  snprintf(eps_key, sizeof eps_key, "metadata %s.attention.layer_norm_rms_epsilon",
           m->info.arch);
  if (qora_model_setup(m, &rc, &names, err) < 0 || bind_all(m, err) < 0)
    return -1;
  m->info.has_weights = 1;
  qora_model_count(m);
  return 0;
}


/* Starts the threads of a model with weights and rearranges them, unless opts says not to. */
static int start(qora_model *m, const qora_load_opts *opts, qora_err *err) {
  m->pool = qora_pool_new(qora_threads_default(opts ? opts->n_threads : 0));
  if (m->pool == NULL)
    return qora_fail(err, "cannot start threads");
  if (!(opts && opts->keep_layout))
    qora_model_repack(m, !(opts && opts->small_pages));
  return 0;
}


qora_model *qora_model_load(const char *path, const qora_load_opts *opts, qora_err *err) {
  qora_model *m;

  if (path == NULL || path[0] == '\0') {
    qora_fail(err, "no model path given (an empty one); give a GGUF file or a Hugging Face "
              "checkpoint folder");
    return NULL;
  }
  if (qora_path_is_hf(path))
    return qora_model_load_hf(path, opts, err);
  if (access(path, F_OK) != 0) {
    qora_fail(err, "cannot open %s: %s; give a GGUF file or a Hugging Face checkpoint folder",
              path, strerror(errno));
    return NULL;
  }
  if (opts && opts->quant) {
    qora_fail(err, "%s is a GGUF file, which loads in the types it stores; quant \"%.32s\" "
              "applies to Hugging Face folders only", path, opts->quant);
    return NULL;
  }
  m = calloc(1, sizeof *m);
  if (m == NULL) {
    qora_fail(err, "out of memory");
    return NULL;
  }
  if (load(m, path, err) < 0) {
    qora_err_in_file(err, path);   /* the readers' messages say what, not which file */
    qora_model_free(m);
    return NULL;
  }
  if (m->info.has_weights && start(m, opts, err) < 0) {
    qora_model_free(m);
    return NULL;
  }
  return m;
}
