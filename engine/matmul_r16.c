/*
** matmul_r16.c: the decode path on repacked weights (r16, repack.h). The activations are
** converted once on the calling thread; then each thread works through its own share of
** chunks of row groups, front to back, and takes what is left of the others' shares from
** their back ends: one that falls behind (another program took its core) does not hold the
** step back, and every row is still computed whole by one thread. Products that share their
** activations (q, k, v; gate, up) run as one pool job.
*/
#include <stdatomic.h>

#include "matmul.h"
#include "matmul_kernels.h"
#include "quant.h"
#include "repack.h"

/*
** Weight bytes per chunk, about. Each chunk starts a new run for the hardware prefetcher:
** 2 threads on a 1 GiB Q4_0 or Q4_K matrix stream about 34 GB/s in chunks of 96 KB, 40 in
** chunks of 768 KB and 43 in two halves (Zen 4; medians of 3 runs, alternating).
*/
#define CHUNK_BYTES (768 << 10)

/*
** Threads with a share of their own; any others only take from the back ends of these.
** Owners walking their shares front to back stream one run each, as two static halves
** would: 2 threads on a 1 GiB matrix streamed 43 GB/s in halves, 40 taking chunks in turn
** from one counter (the same harness as above). Decoding SmolLM3-3B on 2 threads, 4
** alternating runs each: Q8_0 11.4 -> 11.9 tokens/s, Q4_K_M 16.3 -> 17.4.
*/
#define SHARES_MAX 64

/* Chunks [next, end) of a thread's share, packed as next << 32 | end for one CAS. */
typedef struct share {
  _Alignas(64) atomic_ullong span;
} share;
#define ALIGN 64

typedef struct r16_job {
  int n;
  const qora_weight *w[QORA_FUSE_MAX];
  float *y[QORA_FUSE_MAX];
  int ldy[QORA_FUSE_MAX];
  const char *extra[QORA_FUSE_MAX];   /* per token activation extras of w[i]'s type */
  size_t stride[QORA_FUSE_MAX];
  long chunk[QORA_FUSE_MAX];          /* groups per chunk of w[i] */
  long first[QORA_FUSE_MAX + 1];      /* chunk numbers of w[i] start here */
  const char *q;                      /* converted activations, qrow bytes per token */
  size_t qrow;
  int n_tok;
  int owners;                         /* threads with a share */
  share share[SHARES_MAX];
} r16_job;


static size_t align_size(size_t n) {
  return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}


int qora_r16_path(const qora_weight *w, int n_tok) {
  const gemm_layout *gl = qora_gemm_layout(w->type);

  return qora_r16_available(w) && (gl == NULL || n_tok < gl->min_tok);
}


/* Takes the first chunk of a share (front) or its last; -1 when it is empty. */
static long take(atomic_ullong *span, int front) {
  unsigned long long v = atomic_load_explicit(span, memory_order_relaxed);

  for (;;) {
    long next = (long)(v >> 32), end = (long)(v & 0xffffffffu);
    if (next >= end)
      return -1;
    unsigned long long want = front ? v + (1ull << 32) : v - 1;
    if (atomic_compare_exchange_weak_explicit(span, &v, want, memory_order_relaxed,
                                              memory_order_relaxed))
      return front ? next : end - 1;
  }
}


static void run_chunk(const r16_job *j, long c) {
  int i = 0;

  while (c >= j->first[i + 1])
    i++;
#if defined(__x86_64__)
  long groups = (j->w[i]->rows + R16_ROWS - 1) / R16_ROWS;
  long g0 = (c - j->first[i]) * j->chunk[i];
  long g1 = g0 + j->chunk[i] < groups ? g0 + j->chunk[i] : groups;
  qora_r16_rows(j->w[i], j->extra[i], j->stride[i], j->q, j->qrow, j->n_tok, j->y[i],
                j->ldy[i], g0, g1);
#endif
}


static void r16_worker(void *ctx, int ith, int nth) {
  r16_job *j = ctx;
  long c;

  (void)nth;
  if (ith < j->owners)
    while ((c = take(&j->share[ith].span, 1)) >= 0)
      run_chunk(j, c);
  for (int k = 1; k <= j->owners; k++) {
    int o = (ith + k) % j->owners;
    while ((c = take(&j->share[o].span, 0)) >= 0)
      run_chunk(j, c);
  }
}


/* Chunks of about CHUNK_BYTES, but at least four per thread so the threads can even out. */
static long chunk_groups(const qora_weight *w, int nth) {
  long groups = (w->rows + R16_ROWS - 1) / R16_ROWS;
  long by_bytes = (long)(CHUNK_BYTES / qora_r16_group_bytes(w));
  long by_share = groups / (4L * nth);
  long c = by_bytes < by_share ? by_bytes : by_share;
  return c < 1 ? 1 : c;
}


/*
** Converts the activations into scratch (the vec_dot_type's rows, then the extras of each
** distinct weight type) and runs the job.
*/
static void r16_run(qora_pool *pool, r16_job *j, const float *x, int ldx, char *scratch) {
  const qora_type_traits *vt = qora_type_get(qora_type_get(j->w[0]->type)->vec_dot_type);
  int64_t cols = j->w[0]->cols;
  char *at = scratch;

  j->q = at;
  j->qrow = qora_row_size(qora_type_get(j->w[0]->type)->vec_dot_type, cols);
  for (int t = 0; t < j->n_tok; t++)
    vt->from_float(x + (size_t)t * ldx, at + t * j->qrow, cols);
  at += align_size(j->qrow * (size_t)j->n_tok);
  for (int i = 0; i < j->n; i++) {
    int same = -1;
    for (int k = 0; k < i && same < 0; k++)
      same = j->w[k]->type == j->w[i]->type ? k : -1;
    j->stride[i] = align_size(qora_r16_token_bytes(j->w[i]->type, cols));
    if (same >= 0) {
      j->extra[i] = j->extra[same];
      continue;
    }
    j->extra[i] = at;
#if defined(__x86_64__)
    for (int t = 0; t < j->n_tok; t++)
      qora_r16_pack_token(j->w[i]->type, cols, j->q + t * j->qrow, at + t * j->stride[i]);
#endif
    at += j->stride[i] * (size_t)j->n_tok;
  }
  j->first[0] = 0;
  for (int i = 0; i < j->n; i++) {
    long groups = (j->w[i]->rows + R16_ROWS - 1) / R16_ROWS;
    j->chunk[i] = chunk_groups(j->w[i], qora_pool_size(pool));
    j->first[i + 1] = j->first[i] + (groups + j->chunk[i] - 1) / j->chunk[i];
  }
  j->owners = qora_pool_size(pool) < SHARES_MAX ? qora_pool_size(pool) : SHARES_MAX;
  for (int t = 0; t < j->owners; t++) {
    long lo, hi;
    qora_split(j->first[j->n], t, j->owners, &lo, &hi);
    atomic_init(&j->share[t].span, (unsigned long long)lo << 32 | (unsigned long long)hi);
  }
  qora_pool_run(pool, r16_worker, j);
}


size_t qora_r16_scratch(const qora_weight *w, int n_tok) {
  size_t extra = align_size(qora_r16_token_bytes(w->type, w->cols)) * (size_t)n_tok;
  const qora_type_traits *t = qora_type_get(w->type);

  if (extra == 0 || t == NULL)
    return 0;
  return align_size(qora_row_size(t->vec_dot_type, w->cols) * (size_t)n_tok) +
         QORA_FUSE_MAX * extra + ALIGN;
}


void qora_matmul_r16(qora_pool *pool, const qora_weight *w, const float *x, int ldx,
                     int n_tok, float *y, int ldy, void *scratch) {
  r16_job j = { .n = 1, .w = {w}, .y = {y}, .ldy = {ldy}, .n_tok = n_tok };
  uintptr_t s = ((uintptr_t)scratch + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);

  r16_run(pool, &j, x, ldx, (char *)s);
}


/* 1 when the n products can run as one job: all on the r16 path with the same activations. */
static int fusable(const qora_weight *const *w, int n, int n_tok) {
  if (n < 1 || n > QORA_FUSE_MAX)
    return 0;
  for (int i = 0; i < n; i++)
    if (!qora_r16_path(w[i], n_tok) || w[i]->cols != w[0]->cols ||
        qora_type_get(w[i]->type)->vec_dot_type != qora_type_get(w[0]->type)->vec_dot_type)
      return 0;
  return 1;
}


void qora_matmul_n(qora_pool *pool, int n, const qora_weight *const *w, const float *x,
                   int ldx, int n_tok, float *const *y, const int *ldy, void *scratch) {
  if (!fusable(w, n, n_tok)) {
    for (int i = 0; i < n; i++)
      qora_matmul(pool, w[i], x, ldx, n_tok, y[i], ldy[i], scratch);
    return;
  }
  r16_job j = { .n = n, .n_tok = n_tok };
  uintptr_t s = ((uintptr_t)scratch + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
  for (int i = 0; i < n; i++) {
    j.w[i] = w[i];
    j.y[i] = y[i];
    j.ldy[i] = ldy[i];
  }
  r16_run(pool, &j, x, ldx, (char *)s);
}
