/*
** model_hf.c: a model from a Hugging Face checkpoint folder (config.json, safetensors shards,
** tokenizer.json). Each weight matrix is converted once, while loading, into the type the
** caller asks for, straight into the buffer the model keeps; the rows are shared among the
** threads of the model's pool, and the source pages are handed back to the kernel as soon as
** a tensor is done, so that the checkpoint and the converted model never sit in memory whole
** at the same time.
*/
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "hf_config.h"
#include "model.h"
#include "quant.h"
#include "repack.h"
#include "safetensors.h"
#include "tokenizer.h"

#define NAME_MAX_LEN 128
#define WEIGHT_ALIGN 64
#define BAR_WIDTH 30

static const struct quant_name {
  const char *name;
  int type;
} quant_names[] = {
  {"q4_0", QORA_Q4_0}, {"q8_0", QORA_Q8_0}, {"f16", QORA_F16}, {"bf16", QORA_BF16},
  {"f32", QORA_F32},
};


/* The type a quant option names; NULL means the default, Q4_0 (as the old engine had it). */
static int quant_type(const char *name, qora_err *err) {
  if (name == NULL)
    return QORA_Q4_0;
  for (size_t i = 0; i < sizeof quant_names / sizeof *quant_names; i++)
    if (strcmp(name, quant_names[i].name) == 0)
      return quant_names[i].type;
  return qora_fail(err, "quant \"%.32s\" is not a type qora converts to; use q4_0, q8_0, f16, "
                   "bf16 or f32", name);
}


/* ================================================================== progress */

typedef struct progress {
  int on;                   /* asked for, and stderr is a terminal */
  uint64_t done, total;     /* source bytes */
  int shown;                /* last percentage drawn */
  const char *what;
} progress;


static void progress_draw(progress *p) {
  int pct = p->total ? (int)(p->done * 100 / p->total) : 100;
  char bar[BAR_WIDTH + 1];

  if (!p->on || pct == p->shown)
    return;
  p->shown = pct;
  for (int i = 0; i < BAR_WIDTH; i++)
    bar[i] = i < pct * BAR_WIDTH / 100 ? '#' : '.';
  bar[BAR_WIDTH] = '\0';
  fprintf(stderr, "\rconverting to %s [%s] %3d%% of %.1f %s", p->what, bar, pct,
          p->total >= 1e9 ? p->total / 1e9 : p->total / 1e6, p->total >= 1e9 ? "GB" : "MB");
  if (pct == 100)
    fputc('\n', stderr);
  fflush(stderr);
}


/* ================================================================ conversion */

/*
** The one place where the two RoPE layouts meet.
**
** transformers rotates dimension j of a head with dimension j + d/2 ("rotate half"); GGUF
** files and qora's forward pass rotate adjacent dimensions 2i and 2i + 1 at frequency i.
** Rotating a different pairing of the same numbers is a different function, so the rows of
** q_proj and k_proj are reordered within each head, as llama.cpp's convert_hf_to_gguf.py
** does: row 2i of a converted head is row i of the checkpoint's head, and row 2i + 1 is
** row i + d/2. Both pairings then turn the same two numbers by the same angle, and q . k is
** unchanged, since q and k are reordered alike. d is the head dimension of config.json
** (head_dim, which need not be hidden_size / num_attention_heads).
**
** Layers without RoPE (SmolLM3's NoPE layers) are reordered too, so that a saved GGUF has
** llama.cpp's layout everywhere; there the reordering changes nothing at all (q . k does not
** care), which is why a mistake in it hides on those layers and only logits at long
** positions, on the other layers, reveal it (spec/c/test_model_hf.c compares them).
*/
static int64_t source_row(int64_t row, int head_dim) {
  int64_t head, j;

  if (head_dim == 0)
    return row;
  head = row / head_dim;
  j = row % head_dim;
  return head * head_dim + (j % 2) * (head_dim / 2) + j / 2;
}


typedef struct convert_job {
  const st_tensor *src;
  int64_t rows, cols;
  int head_dim;             /* > 0: q_proj or k_proj, rows reordered in heads of this size */
  int type;                 /* the destination type */
  uint8_t *dst;             /* (rows, row_bytes) */
  size_t row_bytes;
  uint8_t *scratch;         /* per thread: the source row copied, then widened to floats */
  size_t scratch_per_thread;
} convert_job;


/* Each thread converts a run of destination rows: source row -> floats -> destination type. */
static void convert_worker(void *ctx, int ith, int nth) {
  const convert_job *j = ctx;
  const qora_type_traits *from = qora_type_get(j->src->type), *to = qora_type_get(j->type);
  size_t src_row = (size_t)j->cols * from->type_size;
  uint8_t *raw = j->scratch + (size_t)ith * j->scratch_per_thread;
  float *wide = (float *)(raw + ((src_row + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1)));
  long lo, hi;

  qora_split((long)j->rows, ith, nth, &lo, &hi);
  for (long r = lo; r < hi; r++) {
    const uint8_t *s = (const uint8_t *)j->src->data + source_row(r, j->head_dim) * src_row;

    memcpy(raw, s, src_row);      /* safetensors data need not be aligned */
    from->to_float(raw, wide, j->cols);
    to->from_float(wide, j->dst + (size_t)r * j->row_bytes, j->cols);
  }
}


/* The loading state shared by the steps below. */
typedef struct loader {
  qora_model *m;
  const st_checkpoint *ck;
  const hf_config *cfg;
  int type;                 /* weight matrices' type */
  uint8_t *scratch;
  size_t scratch_per_thread;
  size_t used;              /* tensors consumed */
  progress bar;
  qora_err *err;
} loader;


/*
** Hands the pages of a converted tensor back to the kernel. They are clean pages of a private,
** read-only file mapping: dropping them costs nothing but a re-read if they are touched again
** (pages shared with the next tensor are). Images that are not mapped files are left alone.
*/
static void release_source(const loader *ld, const st_tensor *t) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, hi;

  for (size_t i = 0; i < ld->ck->n_files; i++) {
    const st_file *f = ld->ck->files[i];
    if (!f->mapped || (const uint8_t *)t->data < f->map ||
        (const uint8_t *)t->data >= f->map + f->size)
      continue;
    lo = (uintptr_t)t->data & ~(page - 1);
    hi = ((uintptr_t)t->data + t->nbytes + page - 1) & ~(page - 1);
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
  }
}


/* The tensor name with its expected shape [rows, cols] checked; NULL with a message if not. */
static const st_tensor *get_tensor(loader *ld, const char *name, int64_t rows, int64_t cols) {
  const st_tensor *t = st_checkpoint_get(ld->ck, name, ld->err);
  int matrix = cols > 0;

  if (t == NULL)
    return NULL;
  ld->used++;
  if (t->n_dims != 1 + matrix || t->shape[0] != (uint64_t)rows ||
      (matrix && t->shape[1] != (uint64_t)cols)) {
    char shape[64] = "";
    for (int i = 0; i < t->n_dims && i < 4; i++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", i ? "x" : "",
               (unsigned long long)t->shape[i]);
    if (matrix)
      qora_fail(ld->err, "tensor %s: config.json implies %lldx%lld, the checkpoint has %s; do "
                "config.json and the weights belong together?", name, (long long)rows,
                (long long)cols, shape);
    else
      qora_fail(ld->err, "tensor %s: config.json implies %lld values, the checkpoint has %s",
                name, (long long)rows, shape);
    return NULL;
  }
  return t;
}


/* Converts one weight matrix of rows x cols into a buffer the model keeps. */
static int load_matrix(loader *ld, const char *name, int64_t rows, int64_t cols, int head_dim,
                       qora_weight *w) {
  const st_tensor *t = get_tensor(ld, name, rows, cols);
  convert_job j;

  if (t == NULL)
    return -1;
  if (cols % qora_type_get(ld->type)->blck != 0)
    return qora_fail(ld->err, "tensor %s: rows of %lld values do not fill %s blocks of %d; "
                     "load it with quant \"f16\", \"bf16\" or \"f32\"", name, (long long)cols,
                     qora_type_name(ld->type), qora_type_get(ld->type)->blck);
  w->type = ld->type;
  w->rows = rows;
  w->cols = cols;
  w->row_bytes = qora_row_size(ld->type, cols);
  j = (convert_job){ t, rows, cols, head_dim, ld->type, NULL, w->row_bytes, ld->scratch,
                     ld->scratch_per_thread };
  j.dst = qora_model_own(ld->m, aligned_alloc(WEIGHT_ALIGN, (w->row_bytes * rows +
                                              WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1)));
  if (j.dst == NULL)
    return qora_fail(ld->err, "out of memory for tensor %s (%.1f MB as %s)", name,
                     w->row_bytes * rows / 1e6, qora_type_name(ld->type));
  qora_pool_run(ld->m->pool, convert_worker, &j);
  w->data = j.dst;
  release_source(ld, t);
  ld->bar.done += t->nbytes;
  progress_draw(&ld->bar);
  return 0;
}


/* A norm vector of n values, widened to F32 whatever the checkpoint stores. */
static int load_norm(loader *ld, const char *name, int64_t n, const float **out) {
  const st_tensor *t = get_tensor(ld, name, n, 0);
  uint8_t *raw;
  float *v;

  if (t == NULL)
    return -1;
  raw = malloc((size_t)t->nbytes);
  v = qora_model_own(ld->m, malloc((size_t)n * sizeof *v));
  if (raw == NULL || v == NULL) {
    free(raw);
    return qora_fail(ld->err, "out of memory");
  }
  memcpy(raw, t->data, (size_t)t->nbytes);
  qora_type_get(t->type)->to_float(raw, v, n);
  free(raw);
  *out = v;
  ld->bar.done += t->nbytes;
  return 0;
}


static int load_layer(loader *ld, int il) {
  const qora_model_info *in = &ld->m->info;
  qora_layer *l = &ld->m->layers[il];
  int64_t q = (int64_t)in->n_head * in->head_dim, kv = (int64_t)in->n_head_kv * in->head_dim;
  int hd = in->head_dim;
  char n[NAME_MAX_LEN];

#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d." s, il), n)
  if (load_norm(ld, NAME("input_layernorm.weight"), in->n_embd, &l->attn_norm) < 0 ||
      load_matrix(ld, NAME("self_attn.q_proj.weight"), q, in->n_embd, hd, &l->wq) < 0 ||
      load_matrix(ld, NAME("self_attn.k_proj.weight"), kv, in->n_embd, hd, &l->wk) < 0 ||
      load_matrix(ld, NAME("self_attn.v_proj.weight"), kv, in->n_embd, 0, &l->wv) < 0 ||
      load_matrix(ld, NAME("self_attn.o_proj.weight"), in->n_embd, q, 0, &l->wo) < 0 ||
      load_norm(ld, NAME("post_attention_layernorm.weight"), in->n_embd, &l->ffn_norm) < 0 ||
      load_matrix(ld, NAME("mlp.gate_proj.weight"), in->n_ff, in->n_embd, 0, &l->w_gate) < 0 ||
      load_matrix(ld, NAME("mlp.up_proj.weight"), in->n_ff, in->n_embd, 0, &l->w_up) < 0 ||
      load_matrix(ld, NAME("mlp.down_proj.weight"), in->n_embd, in->n_ff, 0, &l->w_down) < 0)
    return -1;
#undef NAME
  return 0;
}


/* 1 for a tensor transformers itself would skip: RoPE caches, a tied model's lm_head. */
static int ignorable(const loader *ld, const char *name) {
  size_t n = strlen(name), k = strlen("rotary_emb.inv_freq");

  return (n >= k && strcmp(name + n - k, "rotary_emb.inv_freq") == 0) ||
         (ld->m->info.tied_embeddings && strcmp(name, "lm_head.weight") == 0);
}


/* A tensor nobody used would be silently dropped: refuse the checkpoint instead. */
static int refuse_leftovers(loader *ld) {
  for (size_t i = 0; i < ld->ck->n_tensors && ld->used < ld->ck->n_tensors; i++) {
    const char *name = ld->ck->tensors[i]->name;
    if (ignorable(ld, name)) {
      ld->used++;
      continue;
    }
    if (strncmp(name, "model.layers.", 13) != 0 && strcmp(name, "model.embed_tokens.weight") &&
        strcmp(name, "model.norm.weight") && strcmp(name, "lm_head.weight"))
      return qora_fail(ld->err, "tensor %s is not part of a %s checkpoint as qora knows it; "
                       "this variant is not supported", name, ld->cfg->arch);
  }
  if (ld->used == ld->ck->n_tensors)
    return 0;
  return qora_fail(ld->err, "the checkpoint has %zu tensors but a %d-layer %s model uses %zu; "
                   "layer tensors with unexpected names (biases? more layers than config.json "
                   "says?) are not supported", ld->ck->n_tensors, ld->m->info.n_layer,
                   ld->cfg->arch, ld->used);
}


static uint64_t total_bytes(const st_checkpoint *ck) {
  uint64_t n = 0;

  for (size_t i = 0; i < ck->n_tensors; i++)
    n += ck->tensors[i]->nbytes;
  return n;
}


/* Scratch for every thread: one source row (at most F32) and the same row as floats. */
static int alloc_scratch(loader *ld) {
  const qora_model_info *in = &ld->m->info;
  int64_t widest = in->n_embd, q = (int64_t)in->n_head * in->head_dim;

  widest = in->n_ff > widest ? in->n_ff : widest;
  widest = q > widest ? q : widest;
  ld->scratch_per_thread = ((size_t)widest * 4 + WEIGHT_ALIGN) * 2;
  ld->scratch = aligned_alloc(WEIGHT_ALIGN, ld->scratch_per_thread *
                              (size_t)qora_pool_size(ld->m->pool));
  return ld->scratch ? 0 : qora_fail(ld->err, "out of memory");
}


static int load_weights(loader *ld) {
  qora_model *m = ld->m;
  qora_model_info *in = &m->info;

  if (alloc_scratch(ld) < 0 ||
      load_matrix(ld, "model.embed_tokens.weight", in->n_vocab, in->n_embd, 0,
                  &m->tok_embd) < 0)
    return -1;
  for (int il = 0; il < in->n_layer; il++)
    if (load_layer(ld, il) < 0)
      return -1;
  if (load_norm(ld, "model.norm.weight", in->n_embd, &m->output_norm) < 0)
    return -1;
  if (in->tied_embeddings)
    m->output = m->tok_embd;
  else if (st_checkpoint_find(ld->ck, "lm_head.weight") == NULL)
    return qora_fail(ld->err, "config.json says tie_word_embeddings is false, but the "
                     "checkpoint has no lm_head.weight");
  else if (load_matrix(ld, "lm_head.weight", in->n_vocab, in->n_embd, 0, &m->output) < 0)
    return -1;
  ld->bar.done = ld->bar.total;
  progress_draw(&ld->bar);
  return refuse_leftovers(ld);
}


/* ================================================================ model setup */

static void fill_info(qora_model *m, const hf_config *c, const char *dir) {
  qora_model_info *in = &m->info;
  const char *base = strrchr(dir, '/');

  snprintf(in->arch, sizeof in->arch, "%s", c->arch);
  snprintf(in->name, sizeof in->name, "%s", base && base[1] ? base + 1 : dir);
  in->n_layer = c->n_layer;
  in->n_embd = c->n_embd;
  in->n_ff = c->n_ff;
  in->n_head = c->n_head;
  in->n_head_kv = c->n_head_kv;
  in->head_dim = c->head_dim;
  in->n_vocab = c->n_vocab;
  in->n_ctx_train = c->n_ctx_train;
  in->rope_theta = (float)c->rope.theta;
  in->norm_eps = c->norm_eps;
  in->tied_embeddings = c->tied_embeddings;
}


/*
** RoPE as transformers computes it (hf_rope_freqs, every type config.json may give), replacing
** the plain table qora_model_setup built. The settings are first rounded to the 32-bit floats
** a saved GGUF holds (transformers too computes in float32), so that the GGUF's table, which
** qora_model_setup makes with the same function, is this one bit for bit. cfg records YaRN
** for model_save.c, which refuses what qora's GGUF reader cannot read back (not_gguf).
*/
static int set_rope(qora_model *m, const hf_rope *r, qora_err *err) {
  qora_rope *rope = &m->rope;
  hf_rope g = *r;

  g.theta = (float)r->theta;
  g.factor = (float)r->factor;
  g.beta_fast = (float)r->beta_fast;
  g.beta_slow = (float)r->beta_slow;
  g.attention_factor = (float)r->attention_factor;
  if (qora_rope_fill(rope, &g, err) < 0)
    return -1;
  memset(&rope->cfg, 0, sizeof rope->cfg);
  if (r->type == HF_ROPE_LINEAR)
    rope->not_gguf = "linear RoPE scaling";
  else if (r->type == HF_ROPE_LLAMA3)
    rope->not_gguf = "llama3 RoPE scaling";
  else if (r->type == HF_ROPE_YARN && !r->truncate)
    rope->not_gguf = "YaRN setting truncate = false";
  else if (r->type == HF_ROPE_YARN && (float)r->factor <= 1.0f && rope->mscale != 1.0f)
    rope->not_gguf = "YaRN attention factor other than 1 at YaRN factor 1 (the reader takes "
                     "rope.scaling.attn_factor only with a factor above 1)";
  if (r->type == HF_ROPE_YARN) {
    rope->cfg.yarn_factor = (float)r->factor;
    rope->cfg.yarn_orig_ctx = r->original_ctx;
    rope->cfg.yarn_beta_fast = (float)r->beta_fast;
    rope->cfg.yarn_beta_slow = (float)r->beta_slow;
    rope->cfg.yarn_mscale = rope->mscale;
  }
  return 0;
}


static int setup(qora_model *m, const hf_config *c, qora_err *err) {
  int no_rope[QORA_MAX_LAYERS];
  qora_rope_cfg rc = { .no_rope = no_rope };

  if (c->n_layer > QORA_MAX_LAYERS)
    return qora_fail(err, "the model has %d layers; qora runs 1 to %d", c->n_layer,
                     QORA_MAX_LAYERS);
  for (int il = 0; il < c->n_layer; il++)
    no_rope[il] = c->uses_rope[il];
  if (qora_model_setup(m, &rc, NULL, err) < 0)   /* hf_config checked the floats by key */
    return -1;
  return set_rope(m, &c->rope, err);
}


/*
** The embedding's rows when the checkpoint's embedding has the rows config.json implies, else
** 0: the rows the tokenizer is padded to. A mismatch is refused later, by name, with the
** shapes; padding for a vocab_size the weights do not have would only waste memory first.
*/
static int embedding_rows(const qora_model *m, const st_checkpoint *ck) {
  const st_tensor *t = st_checkpoint_find(ck, "model.embed_tokens.weight");

  return t && t->n_dims == 2 && t->shape[0] == (uint64_t)m->info.n_vocab ? m->info.n_vocab : 0;
}


/*
** The tokenizer's vocabulary may be shorter than the embedding (padded rows), never longer: the
** padded ids become unused tokens, and the message names the first token without a row (an
** added token's id is the one tokenizers gives it, which may not be the one the file writes).
*/
static int load_tokenizer(qora_model *m, const char *dir, const st_checkpoint *ck,
                          qora_err *err) {
  int n, id = m->info.n_vocab;
  const char *text;

  m->tok = qora_tokenizer_from_hf_padded(dir, embedding_rows(m, ck), err);
  if (m->tok == NULL)
    return -1;
  n = qora_vocab_size(m->tok);
  if (n <= id)
    return 0;
  text = qora_token_text(m->tok, id, NULL);
  return qora_fail(err, "%s: the token '%.64s' of tokenizer.json has id %d, but config.json's "
                   "vocab_size is %d, so the embedding has no row for it (tokenizer.json has "
                   "%d tokens; tokenizers numbers added tokens after model.vocab, in list "
                   "order, whatever ids the file writes)", dir, text, id, id, n);
}


static int load(qora_model *m, const char *dir, const qora_load_opts *opts, qora_err *err) {
  loader ld = { .m = m, .err = err };
  hf_config cfg;
  int rc;

  ld.type = quant_type(opts ? opts->quant : NULL, err);
  if (ld.type < 0 || hf_config_load(dir, &cfg, err) < 0)
    return -1;
  ld.cfg = &cfg;
  fill_info(m, &cfg, dir);
  rc = setup(m, &cfg, err) < 0 || (ld.ck = st_checkpoint_open(dir, err)) == NULL ||
       load_tokenizer(m, dir, ld.ck, err) < 0 ? -1 : 0;
  if (rc == 0 && (m->pool = qora_pool_new(qora_threads_default(opts ? opts->n_threads : 0)))
      == NULL)
    rc = qora_fail(err, "cannot start threads");
  if (rc == 0) {
    ld.bar = (progress){ opts && opts->progress && isatty(2), 0, total_bytes(ld.ck), -1,
                         qora_type_name(ld.type) };
    rc = load_weights(&ld);
  }
  if (rc == 0) {
    m->info.has_weights = 1;
    qora_model_count(m);
  }
  if (rc == 0 && !(opts && opts->keep_layout))
    qora_model_repack(m, !(opts && opts->small_pages));
  free(ld.scratch);
  st_checkpoint_close((st_checkpoint *)ld.ck);
  hf_config_free(&cfg);
  return rc;
}


/* The folder of path: path itself, or the folder of a config.json. */
static char *folder_of(const char *path) {
  size_t n = strlen(path), k = strlen("config.json");
  char *dir;

  if (n >= k && strcmp(path + n - k, "config.json") == 0 && (n == k || path[n - k - 1] == '/'))
    n = n == k ? 0 : n - k - 1;
  dir = malloc(n + 2);
  if (dir != NULL)
    snprintf(dir, n + 2, "%.*s", (int)n, n ? path : ".");
  while (dir && strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
    dir[strlen(dir) - 1] = '\0';
  return dir;
}


/* 1 when path names a checkpoint folder or its config.json rather than a GGUF file. */
int qora_path_is_hf(const char *path) {
  struct stat st;
  size_t n = strlen(path), k = strlen("config.json");

  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 1;
  return n >= k && strcmp(path + n - k, "config.json") == 0 &&
         (n == k || path[n - k - 1] == '/');
}


qora_model *qora_model_load_hf(const char *path, const qora_load_opts *opts, qora_err *err) {
  qora_model *m = calloc(1, sizeof *m);
  char *dir = folder_of(path);

  if (m == NULL || dir == NULL) {
    free(m);
    free(dir);
    qora_fail(err, "out of memory");
    return NULL;
  }
  m->folder = dir;
  if (load(m, dir, opts, err) < 0) {
    qora_model_free(m);
    m = NULL;
  }
  return m;
}
