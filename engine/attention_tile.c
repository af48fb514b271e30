/*
** attention_tile.c: attention of a batch (prefill) in tiles, as FlashAttention does it.
**
** A tile is QORA_TILE query rows: the tokens of a run times the query heads that share one
** key/value head. Its keys are read in blocks of KEY_BLOCK, widened to floats once per block,
** and the softmax is kept open across blocks (running maximum m, running sum l, the output
** rescaled when m grows), so no row of scores longer than a block is ever stored. The rows
** are the vector lanes (qt, st and ot are stored transposed), so the softmax steps and both
** products run on whole vectors. Items are (tile, key/value head) pairs dealt to the threads
** in turn: later tiles have more keys, and dealing keeps the threads even.
*/
#include <float.h>
#include <math.h>
#include <string.h>

#include "attention.h"
#include "ops.h"
#include "quant.h"

#define KEY_BLOCK 64

typedef struct tile_job {
  qora_session *s;
  int il;
  int n;                    /* tokens in the batch */
  int per_tile;             /* tokens per tile */
  int n_tiles;
} tile_job;

/* One thread's scratch, carved from s->scores. */
typedef struct tile_mem {
  float *qt;                /* (hd, QORA_TILE) queries, scaled */
  float *kb;                /* (KEY_BLOCK, hd) keys of the block */
  float *vb;                /* (KEY_BLOCK, hd) values of the block */
  float *st;                /* (KEY_BLOCK, QORA_TILE) scores, then weights */
  float *ot;                /* (hd, QORA_TILE) output, unnormalized */
  float *m, *l, *alpha;     /* (QORA_TILE) each */
} tile_mem;


size_t qora_attention_tile_scratch(int hd) {
  return (size_t)hd * QORA_TILE * 2 + (size_t)KEY_BLOCK * hd * 2 +
         (size_t)KEY_BLOCK * QORA_TILE + 3 * QORA_TILE;
}


static tile_mem carve(float *p, int hd) {
  tile_mem t;

  t.qt = p;
  t.kb = t.qt + (size_t)hd * QORA_TILE;
  t.vb = t.kb + (size_t)KEY_BLOCK * hd;
  t.st = t.vb + (size_t)KEY_BLOCK * hd;
  t.ot = t.st + (size_t)KEY_BLOCK * QORA_TILE;
  t.m = t.ot + (size_t)hd * QORA_TILE;
  t.l = t.m + QORA_TILE;
  t.alpha = t.l + QORA_TILE;
  return t;
}


/* Rows [0, rows) of the tile are (token t0 + r / group, head g * group + r % group). */
static void load_queries(const qora_session *s, int t0, int g, int rows, tile_mem *tm) {
  const qora_model_info *in = &s->m->info;
  int hd = in->head_dim, group = in->n_head / in->n_head_kv;
  float scale = 1.0f / sqrtf((float)hd);

  memset(tm->qt, 0, (size_t)hd * QORA_TILE * sizeof *tm->qt);
  for (int r = 0; r < rows; r++) {
    const float *q = s->q + (size_t)(t0 + r / group) * in->n_head * hd +
                     (size_t)(g * group + r % group) * hd;
    for (int d = 0; d < hd; d++)
      tm->qt[(size_t)d * QORA_TILE + r] = q[d] * scale;
  }
  memset(tm->ot, 0, (size_t)hd * QORA_TILE * sizeof *tm->ot);
  for (int r = 0; r < QORA_TILE; r++) {
    tm->m[r] = -FLT_MAX;
    tm->l[r] = 0.0f;
  }
}


/* Keys and values [j0, j0 + nk) of head g, as floats. */
static void widen_block(const qora_ops *o, const qora_session *s, int il, int g, int j0, int nk,
                        tile_mem *tm) {
  int hd = s->m->info.head_dim;
  const uint8_t *k = qora_kv_at(s, s->k_cache, il, g, j0);
  const uint8_t *v = qora_kv_at(s, s->v_cache, il, g, j0);

  if (s->kv_type == QORA_F32) {   /* the block's rows are contiguous */
    memcpy(tm->kb, k, (size_t)nk * s->kv_row);
    memcpy(tm->vb, v, (size_t)nk * s->kv_row);
    return;
  }
  o->widen_f16((const uint16_t *)k, tm->kb, nk * hd);
  o->widen_f16((const uint16_t *)v, tm->vb, nk * hd);
}


/* Sets the weights of keys after each row's own token to zero, or their scores to -FLT_MAX. */
static void mask(float *st, int nk, int j0, int pos0, int t0, int group, float value) {
  for (int j = 0; j < nk; j++)
    for (int r = 0; r < QORA_TILE; r++)
      if (j0 + j > pos0 + t0 + r / group)
        st[(size_t)j * QORA_TILE + r] = value;
}


/*
** Folds a block of scores into the open softmax: raises the running maximum, rescales what
** was summed so far by exp(old - new), and turns scores into weights.
*/
static void fold_block(const qora_ops *o, tile_mem *tm, int nk, int j0, int pos0, int t0,
                       int group, int hd) {
  int masked = j0 + nk - 1 > pos0 + t0;     /* the block reaches past the first row's token */

  if (masked)
    mask(tm->st, nk, j0, pos0, t0, group, -FLT_MAX);
  memcpy(tm->alpha, tm->m, sizeof(float) * QORA_TILE);
  for (int j = 0; j < nk; j++)
    for (int r = 0; r < QORA_TILE; r++)
      tm->m[r] = tm->st[(size_t)j * QORA_TILE + r] > tm->m[r] ? tm->st[(size_t)j * QORA_TILE + r]
                                                             : tm->m[r];
  o->exp_sub(tm->alpha, tm->m, QORA_TILE);
  for (int j = 0; j < nk; j++)
    o->exp_sub(tm->st + (size_t)j * QORA_TILE, tm->m, QORA_TILE);
  if (masked)
    mask(tm->st, nk, j0, pos0, t0, group, 0.0f);
  for (int r = 0; r < QORA_TILE; r++)
    tm->l[r] *= tm->alpha[r];
  for (int j = 0; j < nk; j++)
    for (int r = 0; r < QORA_TILE; r++)
      tm->l[r] += tm->st[(size_t)j * QORA_TILE + r];
  for (int d = 0; d < hd; d++)
    for (int r = 0; r < QORA_TILE; r++)
      tm->ot[(size_t)d * QORA_TILE + r] *= tm->alpha[r];
}


static void store_rows(qora_session *s, int t0, int g, int rows, const tile_mem *tm) {
  const qora_model_info *in = &s->m->info;
  int hd = in->head_dim, group = in->n_head / in->n_head_kv;

  for (int r = 0; r < rows; r++) {
    float *out = s->att + (size_t)(t0 + r / group) * in->n_head * hd +
                 (size_t)(g * group + r % group) * hd;
    for (int d = 0; d < hd; d++)
      out[d] = tm->ot[(size_t)d * QORA_TILE + r] / tm->l[r];
  }
}


static void run_tile(const tile_job *job, const qora_ops *o, int tile, int g, tile_mem *tm) {
  qora_session *s = job->s;
  int hd = s->m->info.head_dim, group = s->m->info.n_head / s->m->info.n_head_kv;
  int t0 = tile * job->per_tile;
  int tokens = job->n - t0 < job->per_tile ? job->n - t0 : job->per_tile;
  int n_keys = s->pos + t0 + tokens;

  load_queries(s, t0, g, tokens * group, tm);
  for (int j0 = 0; j0 < n_keys; j0 += KEY_BLOCK) {
    int nk = n_keys - j0 < KEY_BLOCK ? n_keys - j0 : KEY_BLOCK;
    widen_block(o, s, job->il, g, j0, nk, tm);
    o->tile_scores(tm->qt, tm->kb, nk, hd, tm->st);
    fold_block(o, tm, nk, j0, s->pos, t0, group, hd);
    o->tile_accum(tm->st, tm->vb, nk, hd, tm->ot);
  }
  store_rows(s, t0, g, tokens * group, tm);
}


static void tile_worker(void *ctx, int ith, int nth) {
  const tile_job *job = ctx;
  const qora_ops *o = qora_ops_get();
  int n_kv = job->s->m->info.n_head_kv, hd = job->s->m->info.head_dim;
  tile_mem tm = carve(job->s->scores + (size_t)ith * qora_attention_tile_scratch(hd), hd);

  for (int item = ith; item < job->n_tiles * n_kv; item += nth)
    run_tile(job, o, item / n_kv, item % n_kv, &tm);
}


int qora_attention_tiles(qora_session *s, int il, int n) {
  int group = s->m->info.n_head / s->m->info.n_head_kv;
  tile_job job = { s, il, n, QORA_TILE / group, 0 };

  if (group > QORA_TILE)
    return 0;
  job.n_tiles = (n + job.per_tile - 1) / job.per_tile;
  qora_pool_run(s->m->pool, tile_worker, &job);
  return 1;
}
