/*
** model.h: a loaded model (internal). Weights are bound in place (memory-mapped GGUF data)
** or, for checkpoints quantized while loading, held in buffers the model owns. The RoPE of
** every layer pairs adjacent dimensions (2i, 2i + 1), as in GGUF files; a loader of Hugging
** Face checkpoints permutes the q and k rows into that order (see SMOLLM3.md).
*/
#ifndef QORA_MODEL_H
#define QORA_MODEL_H

#include "gguf.h"
#include "matmul.h"
#include "pool.h"
#include "qora.h"

#define QORA_MAX_LAYERS 256

typedef struct qora_layer {
  const float *attn_norm;   /* (n_embd) */
  qora_weight wq;           /* (n_head * head_dim, n_embd) */
  qora_weight wk;           /* (n_head_kv * head_dim, n_embd) */
  qora_weight wv;           /* (n_head_kv * head_dim, n_embd) */
  qora_weight wo;           /* (n_embd, n_head * head_dim) */
  const float *ffn_norm;    /* (n_embd) */
  qora_weight w_gate;       /* (n_ff, n_embd) */
  qora_weight w_up;         /* (n_ff, n_embd) */
  qora_weight w_down;       /* (n_embd, n_ff) */
  int use_rope;
} qora_layer;

/* RoPE scaling as GGUF metadata describes it (model_gguf.c reads it, model_save.c writes it). */
typedef struct qora_rope_cfg {
  float yarn_factor;        /* 0 or 1: no scaling */
  int yarn_orig_ctx;
  float yarn_beta_fast;     /* 0: 32 */
  float yarn_beta_slow;     /* 0: 1 */
  float yarn_mscale;        /* 0: 0.1 * ln(factor) + 1 */
  const int *no_rope;
} qora_rope_cfg;


/* RoPE as the model wants it: angle of pair i at position p is p * freq[i]. */
typedef struct qora_rope {
  float theta;
  int n_dims;               /* rotated dimensions (head_dim) */
  double *freq;             /* (n_dims / 2), YaRN already applied */
  float mscale;             /* multiplies cos and sin (YaRN's attention factor; 1 otherwise) */
  qora_rope_cfg cfg;        /* what freq was made from (no_rope NULL), for saving */
  const char *not_gguf;     /* what of freq qora's GGUF reader cannot read, or NULL */
} qora_rope;

struct qora_model {
  qora_model_info info;
  gguf_file *gguf;          /* the mapped file, or NULL */
  qora_tokenizer *tok;
  qora_pool *pool;
  qora_weight tok_embd;     /* (n_vocab, n_embd) */
  const float *output_norm; /* (n_embd) */
  qora_weight output;       /* (n_vocab, n_embd); equals tok_embd when tied */
  qora_layer *layers;       /* (n_layer) */
  qora_rope rope;
  void **owned;             /* buffers to free with the model */
  int n_owned;
  char *folder;             /* the checkpoint folder it was converted from, or NULL */
};

/* Registers a malloc'd buffer to free with the model; returns it (NULL when p is NULL). */
void *qora_model_own(qora_model *m, void *p);

/* Frees p now when the model owns it (1), else leaves it alone (0: a map, a caller's memory). */
int qora_model_drop(qora_model *m, const void *p);

struct hf_rope;             /* hf_config.h */

/* Fills r->freq (n_dims / 2, allocated) and r->mscale with transformers' float32 table for h. */
int qora_rope_fill(qora_rope *r, const struct hf_rope *h, qora_err *err);

/*
** How a loader's messages name the float settings qora_model_setup checks, as its file spells
** them ("metadata smollm3.rope.freq_base"), and what they conclude ("; the file is corrupt").
*/
typedef struct qora_setting_names {
  const char *rope_base;
  const char *norm_eps;
  const char *verdict;      /* appended to the message; "" for none */
} qora_setting_names;

/*
** Validates the hyperparameters in m->info, builds the RoPE table (rope_theta, optional YaRN
** when yarn_factor > 1) and marks the layers without RoPE. no_rope may be NULL (then every
** fourth layer of a smollm3 model skips RoPE, and a llama model uses it everywhere), or give
** one 0/1 per layer (1 = apply RoPE), as config.json's no_rope_layers does. names may be NULL
** ("the RoPE base", "the RMSNorm epsilon"). Allocates m->layers (zeroed but for use_rope),
** which the loader then binds.
*/
int qora_model_setup(qora_model *m, const qora_rope_cfg *rc, const qora_setting_names *names,
                     qora_err *err);

/* Fills model info counters (n_params, weight_bytes, type_counts) from the bound weights. */
void qora_model_count(qora_model *m);

/* Hugging Face checkpoint folders (model_hf.c): 1 when path names a folder or a config.json. */
int qora_path_is_hf(const char *path);
qora_model *qora_model_load_hf(const char *path, const qora_load_opts *opts, qora_err *err);

/* Threads for a new model: the request, else one per online core. */
int qora_threads_default(int requested);

#endif
