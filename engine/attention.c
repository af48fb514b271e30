/*
** attention.c: causal attention over the KV cache, on the thread pool.
**
** Work items are (token, key/value head) pairs: the query heads that share a key/value head
** (grouped-query attention) are done together, so each cached row is read once per group.
** When one token is decoded there are too few items to keep every thread busy, so each item's
** key range is also split in chunks of KEY_CHUNK keys; a chunk keeps its own softmax maximum
** and sum, and the chunks are merged afterwards in a fixed order, as in FlashDecoding. The
** split depends on the position only, never on the thread count, so results do not either.
** Threads take the items one at a time from a counter, not in fixed shares: which thread
** computes an item changes nothing in it, and at 16K keys the thread given the upper two of
** SmolLM3-3B's four heads ran 8 % slower, leaving the other idle 8.7 ms a step (model 207).
** Pairs against fixed shares (bench_qora -n 1 -s 32, taking turns): 16K ahead in 5 of 8,
** median ratio 1.066 (6.42 against 6.12 tokens/s on average), 4K in 3 of 4 (median 1.033).
*/
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "attention.h"
#include "ops.h"
#include "quant.h"

/*
** Keys per chunk when a decoded token's key range is split (a range is split in equal parts
** of at most this many). When each chunk read its keys, then its values, as two passes,
** decoding SmolLM3-3B Q4_0 at 16K on 2 threads, in alternating runs, gave 9.2 tokens/s with
** 256 (mean of 12), 11.0 with 2048 (mean of 9; ahead in 7 of 9 pairs), 9.6 with 1024, 10.3
** with 4096 and 9.5 with 8192 (means of 3 to 6); at 4K, no difference. Read in one walk
** (attend), 4096 and 8192 took 2 to 3 % less time than 2048 in attention alone (Xeon model
** 207), too little to change it for.
*/
#define KEY_CHUNK 2048

/*
** Items whose chunks the pool merges: the thread that finishes an item's last chunk merges
** it, with subnormals flushed as in every pool job. Merged on the calling thread after the
** job, without the flush, the 4 items of SmolLM3-3B Q4_0 at 4K keys took 44 us a layer (12
** us with the flush: subnormal products), 1.6 ms of a 93 ms step on the model-207 Xeon with
** the other thread idle; the gap before Wo went from 54 to 3 us a layer. Pairs against the
** caller's merge (bench_qora -n 1 -s 32, runs with no other program busy): 4K ahead in 3 of
** 5 (ratios 0.85 to 1.18, median 1.085), 16K in 2 of 3 (0.98 to 1.07); the same logit bits.
*/
#define MERGE_ITEMS_MAX 64

typedef struct attn_job {
  qora_session *s;
  int il;
  int n;                    /* tokens in the batch */
  int chunks;               /* key-range splits per item */
  float *partial;           /* (items * chunks, group * (head_dim + 2)) when chunks > 1 */
  int pool_merge;           /* items merged in the pool job (left counts their chunks) */
  atomic_int left[MERGE_ITEMS_MAX];
  atomic_long next;         /* the next (token, head, chunk) to take */
} attn_job;

/* Chunks of a decoded token's key range, from the number of keys alone. */
static int key_chunks(int n_keys) {
  return (n_keys + KEY_CHUNK - 1) / KEY_CHUNK;
}


/* Per thread, one block's scores and one item's part; after all threads', the chunks' parts. */
static size_t decode_thread_scratch(int n_ctx, int group, int head_dim) {
  return (size_t)group * QORA_ATTEND_BLOCK + (size_t)group * (head_dim + 2);
}


/* ------------------------------------------------------------------ one item */

typedef struct attn_part {
  float *max;               /* (group) */
  float *sum;               /* (group) */
  float *out;               /* (group, head_dim), weighted by exp(score - max) */
} attn_part;


/* Keys [j0, j1) of token t's query heads sharing key/value head g, softmax left open. */
static void attend_range(const attn_job *job, const qora_ops *kk, int t, int g,
                         int j0, int j1, float *work, attn_part *part) {
  const qora_session *s = job->s;
  const qora_model_info *in = &s->m->info;
  int hd = in->head_dim, group = in->n_head / in->n_head_kv;
  const float *q = s->q + (size_t)t * in->n_head * hd + (size_t)g * group * hd;

  if (j1 <= j0) {
    memset(part->out, 0, (size_t)group * hd * sizeof *part->out);
    for (int h = 0; h < group; h++) {
      part->max[h] = -INFINITY;
      part->sum[h] = 0.0f;
    }
    return;
  }
  (s->kv_type == QORA_F32 ? kk->attend_f32 : kk->attend_f16)(
      qora_kv_at(s, s->k_cache, job->il, g, j0), qora_kv_at(s, s->v_cache, job->il, g, j0),
      s->kv_row, j1 - j0, q, group, hd, 1.0f / sqrtf((float)hd), part->max, part->sum,
      part->out, work);
}


static attn_part part_at(float *p, int group, int hd) {
  return (attn_part){ p, p + group, p + 2 * group };
}


/* Merges the chunks of an item: rescale each to the common maximum, add, normalize. */
static void merge_item(const attn_job *job, long item) {
  const qora_session *s = job->s;
  const qora_model_info *in = &s->m->info;
  int n_kv = in->n_head_kv, group = in->n_head / n_kv, hd = in->head_dim;
  size_t per_part = (size_t)group * (hd + 2);
  int t = (int)(item / n_kv), g = (int)(item % n_kv);
  float *out = s->att + (size_t)t * in->n_head * hd + (size_t)g * group * hd;

  for (int h = 0; h < group; h++) {
    float max = -INFINITY, sum = 0.0f;
    for (int c = 0; c < job->chunks; c++) {
      attn_part p = part_at(job->partial + (item * job->chunks + c) * per_part, group, hd);
      max = p.max[h] > max ? p.max[h] : max;
    }
    memset(out + h * hd, 0, (size_t)hd * sizeof *out);
    for (int c = 0; c < job->chunks; c++) {
      attn_part p = part_at(job->partial + (item * job->chunks + c) * per_part, group, hd);
      float w = p.sum[h] > 0.0f ? expf(p.max[h] - max) : 0.0f;
      sum += p.sum[h] * w;
      for (int i = 0; i < hd; i++)
        out[h * hd + i] += p.out[h * hd + i] * w;
    }
    for (int i = 0; i < hd; i++)
      out[h * hd + i] /= sum;
  }
}


static void attention_worker(void *ctx, int ith, int nth) {
  attn_job *job = ctx;
  const qora_session *s = job->s;
  const qora_model_info *in = &s->m->info;
  const qora_ops *kk = qora_ops_get();
  int n_kv = in->n_head_kv, group = in->n_head / n_kv, hd = in->head_dim;
  size_t per_part = (size_t)group * (hd + 2);
  float *sc = s->scores + (size_t)ith * decode_thread_scratch(s->n_ctx, group, hd);
  float *own = sc + (size_t)group * QORA_ATTEND_BLOCK;
  long total = (long)job->n * n_kv * job->chunks, item;

  (void)nth;
  while ((item = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < total) {
    int c = (int)(item % job->chunks), g = (int)(item / job->chunks % n_kv);
    int t = (int)(item / job->chunks / n_kv), n_keys = s->pos + t + 1;
    long j0, j1;
    qora_split(n_keys, c, job->chunks, &j0, &j1);
    attn_part part = part_at(job->chunks > 1 ? job->partial + item * per_part : own, group,
                             hd);
    attend_range(job, kk, t, g, (int)j0, (int)j1, sc, &part);
    if (job->pool_merge &&   /* the item's last chunk: the other parts are written */
        atomic_fetch_sub_explicit(&job->left[item / job->chunks], 1, memory_order_acq_rel) == 1)
      merge_item(job, item / job->chunks);
    if (job->chunks > 1)
      continue;
    float *out = s->att + (size_t)t * in->n_head * hd + (size_t)g * group * hd;
    for (int h = 0; h < group; h++)
      for (int i = 0; i < hd; i++)
        out[h * hd + i] = part.out[h * hd + i] / part.sum[h];
  }
}


/* The larger of what decoding needs and what prefill tiles need. */
size_t qora_attention_scratch(int n_ctx, int n_kv, int group, int head_dim, int n_threads) {
  size_t decode = decode_thread_scratch(n_ctx, group, head_dim) * n_threads +
                  (size_t)n_kv * key_chunks(n_ctx) * group * (head_dim + 2);
  size_t tiles = qora_attention_tile_scratch(head_dim) * n_threads;

  return decode > tiles ? decode : tiles;
}


void qora_attention(qora_session *s, int il, int n) {
  const qora_model_info *in = &s->m->info;
  int nth = qora_pool_size(s->m->pool), group = in->n_head / in->n_head_kv;
  long items = (long)n * in->n_head_kv;
  attn_job job = { .s = s, .il = il, .n = n, .chunks = 1 };

  atomic_init(&job.next, 0);

  if (n > 1 && qora_attention_tiles(s, il, n))
    return;
  if (n == 1 && key_chunks(s->pos + 1) > 1) {
    job.chunks = key_chunks(s->pos + 1);
    job.partial = s->scores + decode_thread_scratch(s->n_ctx, group, in->head_dim) * nth;
    job.pool_merge = items <= MERGE_ITEMS_MAX;
    for (long i = 0; job.pool_merge && i < items; i++)
      atomic_init(&job.left[i], job.chunks);
  }
  qora_pool_run(s->m->pool, attention_worker, &job);
  for (long i = 0; job.chunks > 1 && !job.pool_merge && i < items; i++)
    merge_item(&job, i);
}
