/*
** model.c: hyperparameters, RoPE tables and the bookkeeping shared by every model loader.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "hf_config.h"
#include "model.h"
#include "quant.h"
#include "tokenizer.h"

#define YARN_BETA_FAST 32.0f
#define YARN_BETA_SLOW 1.0f


void *qora_model_own(qora_model *m, void *p) {
  void **grown;

  if (p == NULL)
    return NULL;
  grown = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown);
  if (grown == NULL) {
    free(p);
    return NULL;
  }
  m->owned = grown;
  m->owned[m->n_owned++] = p;
  return p;
}


int qora_model_drop(qora_model *m, const void *p) {
  for (int i = 0; p != NULL && i < m->n_owned; i++)
    if (m->owned[i] == p) {
      free(m->owned[i]);
      m->owned[i] = NULL;     /* free(NULL) at qora_model_free */
      return 1;
    }
  return 0;
}


/*
** Refuses sizes and float settings no model has; names says how the messages call the floats.
** A RoPE base of 1 or less turns every pair as fast as the first or faster, so positions blur.
** Each float test is written so that NaN fails it.
*/
static int check_hparams(const qora_model_info *in, const qora_setting_names *names,
                         qora_err *err) {
  static const qora_setting_names generic = { "the RoPE base", "the RMSNorm epsilon", "" };

  if (names == NULL)
    names = &generic;

  if (in->n_layer < 1 || in->n_layer > QORA_MAX_LAYERS)
    return qora_fail(err, "the model has %d layers; qora runs 1 to %d", in->n_layer,
                     QORA_MAX_LAYERS);
  if (in->n_embd < 1 || in->n_ff < 1 || in->n_head < 1 || in->n_head_kv < 1 ||
      in->n_vocab < 1)
    return qora_fail(err, "the model's sizes are incomplete (embedding %d, feed-forward %d, "
                     "heads %d, kv heads %d, vocabulary %d)", in->n_embd, in->n_ff,
                     in->n_head, in->n_head_kv, in->n_vocab);
  if (in->n_head % in->n_head_kv)
    return qora_fail(err, "%d attention heads cannot share %d key/value heads evenly",
                     in->n_head, in->n_head_kv);
  if (in->head_dim < 2 || in->head_dim % 2 || in->head_dim > 1024)
    return qora_fail(err, "head dimension %d is not supported (even, 2 to 1024)",
                     in->head_dim);
  if (!(in->rope_theta > 1.0f) || isinf(in->rope_theta))
    return qora_fail(err, "%s is %g; a RoPE base must be a finite number above 1 (SmolLM3 uses "
                     "5000000, Llama 3 500000)%s", names->rope_base, in->rope_theta,
                     names->verdict);
  if (!(in->norm_eps > 0.0f && in->norm_eps < 1.0f))
    return qora_fail(err, "%s is %g; an RMSNorm epsilon must be in (0, 1) (SmolLM models use "
                     "1e-5 or 1e-6)%s", names->norm_eps, in->norm_eps, names->verdict);
  return 0;
}


/*
** The RoPE table from the settings a GGUF holds (32-bit floats), computed by hf_rope_freqs as
** transformers computes it: each frequency rounded to a 32-bit float, as its inv_freq is. A
** checkpoint folder's table comes from the same function and the same 32-bit settings
** (model_hf.c), so a folder and the GGUF saved from it turn every pair by the same angle: a
** table of doubles here gave logits 0.0075 apart in F16, and 0.08 in Q8_0 over 300 tokens.
*/
static int build_rope(qora_model *m, const qora_rope_cfg *rc, qora_err *err) {
  qora_rope *r = &m->rope;
  hf_rope h = { .type = HF_ROPE_DEFAULT, .theta = m->info.rope_theta, .attention_factor = 1,
                .truncate = 1 };

  r->theta = m->info.rope_theta;
  r->n_dims = m->info.head_dim;
  if (rc && rc->yarn_factor > 1.0f) {
    if (rc->yarn_orig_ctx < 1)
      return qora_fail(err, "YaRN scaling needs the original context length");
    r->cfg = *rc;
    r->cfg.yarn_beta_fast = rc->yarn_beta_fast > 0 ? rc->yarn_beta_fast : YARN_BETA_FAST;
    r->cfg.yarn_beta_slow = rc->yarn_beta_slow > 0 ? rc->yarn_beta_slow : YARN_BETA_SLOW;
    r->cfg.yarn_mscale = rc->yarn_mscale > 0 ? rc->yarn_mscale
                                             : (float)(0.1 * log(rc->yarn_factor) + 1.0);
    r->cfg.no_rope = NULL;
    h = (hf_rope){ .type = HF_ROPE_YARN, .theta = m->info.rope_theta, .truncate = 1,
                   .factor = rc->yarn_factor, .original_ctx = rc->yarn_orig_ctx,
                   .beta_fast = r->cfg.yarn_beta_fast, .beta_slow = r->cfg.yarn_beta_slow,
                   .attention_factor = r->cfg.yarn_mscale };
  }
  r->freq = qora_model_own(m, malloc((size_t)r->n_dims / 2 * sizeof *r->freq));
  if (r->freq == NULL)
    return qora_fail(err, "out of memory");
  return qora_rope_fill(r, &h, err);
}


int qora_rope_fill(qora_rope *r, const hf_rope *h, qora_err *err) {
  float *f = malloc((size_t)r->n_dims / 2 * sizeof *f);

  if (f == NULL)
    return qora_fail(err, "out of memory");
  r->mscale = hf_rope_freqs(h, r->n_dims, f);
  for (int i = 0; i < r->n_dims / 2; i++)
    r->freq[i] = f[i];
  free(f);
  return 0;
}


static void mark_rope_layers(qora_model *m, const qora_rope_cfg *rc) {
  int smollm3 = strcmp(m->info.arch, "smollm3") == 0;

  for (int il = 0; il < m->info.n_layer; il++) {
    if (rc && rc->no_rope)
      m->layers[il].use_rope = rc->no_rope[il] != 0;
    else
      m->layers[il].use_rope = !smollm3 || (il + 1) % 4 != 0;
  }
}


int qora_model_setup(qora_model *m, const qora_rope_cfg *rc, const qora_setting_names *names,
                     qora_err *err) {
  if (check_hparams(&m->info, names, err) < 0 || build_rope(m, rc, err) < 0)
    return -1;
  m->layers = calloc((size_t)m->info.n_layer, sizeof *m->layers);
  if (m->layers == NULL)
    return qora_fail(err, "out of memory");
  mark_rope_layers(m, rc);
  return 0;
}


static void count_weight(qora_model_info *in, const qora_weight *w) {
  in->n_params += (uint64_t)(w->rows * w->cols);
  in->weight_bytes += (uint64_t)w->rows * w->row_bytes;
  if (w->type >= 0 && w->type < QORA_TYPE_COUNT)
    in->type_counts[w->type]++;
}


void qora_model_count(qora_model *m) {
  qora_model_info *in = &m->info;
  uint64_t norms = (uint64_t)in->n_embd * (2 * in->n_layer + 1);

  in->n_params = norms;
  in->weight_bytes = norms * 4;
  memset(in->type_counts, 0, sizeof in->type_counts);
  in->type_counts[QORA_F32] = 2 * in->n_layer + 1;
  count_weight(in, &m->tok_embd);
  if (!in->tied_embeddings)
    count_weight(in, &m->output);
  for (int il = 0; il < in->n_layer; il++) {
    const qora_layer *l = &m->layers[il];
    const qora_weight *ws[] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up,
                                &l->w_down };
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
      count_weight(in, ws[i]);
  }
}


/* ------------------------------------------------------------------ public calls */

void qora_model_free(qora_model *m) {
  if (m == NULL)
    return;
  qora_pool_free(m->pool);
  qora_tokenizer_free(m->tok);
  gguf_close(m->gguf);
  for (int i = 0; i < m->n_owned; i++)
    free(m->owned[i]);
  free(m->owned);
  free(m->layers);
  free(m->folder);
  free(m);
}


const qora_model_info *qora_model_get_info(const qora_model *m) {
  return &m->info;
}


int qora_model_layer_uses_rope(const qora_model *m, int il) {
  return m->layers && il >= 0 && il < m->info.n_layer && m->layers[il].use_rope;
}


/* The prefix of a named chat template's key, as llama.cpp writes them. */
#define NAMED_TEMPLATE "tokenizer.chat_template."

const char *qora_model_meta_str(const qora_model *m, const char *key, size_t *len) {
  gguf_str s;

  if (m->gguf == NULL && strcmp(key, "tokenizer.chat_template") == 0)
    return qora_tokenizer_chat_template(m->tok, len);   /* a folder's tokenizer_config.json */
  if (m->gguf == NULL && strncmp(key, NAMED_TEMPLATE, strlen(NAMED_TEMPLATE)) == 0) {
    const char *name, *text;
    for (int i = 0; (text = qora_tokenizer_named_template(m->tok, i, &name, len)); i++)
      if (strcmp(name, key + strlen(NAMED_TEMPLATE)) == 0)
        return text;
  }
  if (m->gguf == NULL || gguf_get_str(m->gguf, key, &s, NULL) != 1)
    return NULL;
  *len = (size_t)s.len;
  return s.ptr;
}


const qora_tokenizer *qora_model_tokenizer(const qora_model *m) {
  return m->tok;
}


int qora_model_threads(const qora_model *m) {
  return qora_pool_size(m->pool);
}


/* Threads for a new model: the request, else one per core it may run on. */
int qora_threads_default(int requested) {
  long n = requested > 0 ? requested : qora_cores();
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}
