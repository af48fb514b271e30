/*
** matmul_r16.c: the decode path on repacked weights (r16, repack.h). The activations are
** converted once on the calling thread; then each thread works through its own share of
** chunks of row groups, front to back, and takes what is left of the others' shares from
** their back ends: one that falls behind (another program took its core) does not hold the
** step back, and every row is still computed whole by one thread. Products that share their
** activations (q, k, v; gate, up) run as one pool job.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

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

/*
** How one-token products walk the weights, chosen per CPU at first use (walk_init): how many
** far-apart runs of a chunk's groups are read side by side, and how far ahead of its reads a
** run asks for lines into L2. Products of a few tokens that come here read one group at a time
** and take the same distance; it was not measured for them apart.
**
** Intel, a 2-vCPU Xeon (AMX, 480 MiB of L3), 2 threads streaming weights from memory:
** - 2560 bytes ahead (bench_matmul -n 1, two alternating runs): Q4_0 22.6 -> 28.0 GB/s, Q8_0
**   24.9 -> 28.6, Q4_K 25.1 -> 26.7, Q6_K 22.9 -> 27.6; decoding SmolLM3-3B (bench_qora -p 512
**   -n 128, 3 pairs) Q4_0 13.6 to 13.9 -> 17.1 to 17.2 tokens/s. T0 gained less, non-temporal
**   lost, 1 KB or 4 KB ahead did no better.
** - 4 runs in place of 1 (bench_matmul -n 1 -m 3072): Q4_0 ffn_up 26.9 -> 29.7 GB/s, lm_head
**   28.9 -> 29.9; decoding Q4_0 (bench_qora -p 16 -n 64, 6 pairs) median 15.5 -> 16.4.
** - Q4_0 and Q8_0 1024 bytes ahead, the K types still 2560 (a later session, bench_qora -p 16
**   -n 64 or 48, pairs taking turns): Q4_0 17.7-18.0 -> 18.1-18.6 tokens/s (4 of 4), then
**   17.4-17.5 -> 17.5-18.0 (2 of 3, one even); Q8_0 9.43-9.45 -> 9.77-9.83 (3 of 3), then
**   9.33-9.56 -> 9.71-9.88 (3 of 3); Q4_K_M at 1024 fell from 15.5-15.8 to 14.5-14.9.
** AMD, a 2-vCPU EPYC (Zen 4, 32 MiB of L3), whose hardware prefetcher does better with less
** help: 1 run, 512 bytes ahead, against Intel's walk (bench_matmul -n 1 -m 3072, 5 rounds
** taking turns, best / median GB/s): Q4_0 lm_head 45.9 / 43.5 -> 62.6 / 59.2, Q4_K 42.4 / 40.8
** -> 58.0 / 53.8, Q6_K 38.0 / 31.3 -> 60.9 / 57.9, Q8_0 40.7 / 35.8 -> 51.4 / 50.4. 1024 to
** 2048 bytes ahead or T0 did no better; 2 runs 1024 ahead read Q8_0 faster (59.5 / 57.5) and
** the 4-bit types slower (Q4_0 57.6 / 35.9), so one walk serves every type. Zen 3 (AVX2, no
** AVX-512) takes the same walk; its AVX2 kernels read one run whatever the streams, and the
** walk was not measured there apart.
**
** Idle (qora_matmul_next): a thread waiting at the end of a decode job asks for up to 256 KB
** of its share of the next product, so the bus does not run at one thread's rate while the
** other finishes its last chunk or the caller runs a serial step. Intel (model 207), decoding
** SmolLM3-3B on 2 threads, 512 cached tokens: with the idle prefetch on and off in turns within
** one process (A B B A, 100 steps each, 4 runs), Q4_0 steps took 1.5 to 2.3 % less time on
** average (85.6 against 87.3 ms, 111.1 against 113.7), the median 0.3 to 2.6 % less; Q4_K_M
** the median 0.9 to 2.9 % less (3 runs); Q8_0 the same within 0.8 % (2 runs). Separate
** processes taking turns (bench_qora -p 512 -n 1 -s 32 -c 4096 -f copy, 12 pairs on a busy
** host, membw 22-38 GB/s) gave Q4_0 at 512 a median ratio of 1.061, at 4K 1.058 (7 of 12
** ahead), at 16K 1.046 (2 of 3); such pairs swing 30 %. AMD Zen 3 (AVX2 kernels, 2 threads,
** the same harness, 48 steps each): Q4_0 73.3 / 77.0 / 86.7 ms a step against 74.8 / 78.9 /
** 86.7 without (256 KB), Q4_K_M 86.1 against 87.6; 128 KB gained less. Zen 4 takes it untried.
*/
static r16_walk walk;

#define IDLE_MAX ((size_t)4 << 20)    /* the most a waiting thread may ask for (set_idle) */
static pthread_once_t walk_once = PTHREAD_ONCE_INIT;


static void walk_init(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) {
    walk = (r16_walk){1, 512, 512, 256 << 10};
    return;
  }
#endif
  walk = (r16_walk){4, 2560, 1024, 256 << 10};
}


r16_walk qora_r16_walk(void) {
  pthread_once(&walk_once, walk_init);
  return walk;
}


int qora_r16_set_walk(int streams, int prefetch) {
  pthread_once(&walk_once, walk_init);
  if (streams < 1 || streams > R16_STREAMS || prefetch < 0 || prefetch > 65536)
    return -1;
  walk = (r16_walk){streams, (size_t)prefetch, (size_t)prefetch, walk.idle};
  return 0;
}


int qora_r16_set_idle(size_t bytes) {
  pthread_once(&walk_once, walk_init);
  if (bytes > IDLE_MAX)
    return -1;
  walk.idle = bytes;
  return 0;
}


void qora_r16_get_walk(int *streams, int *prefetch) {
  pthread_once(&walk_once, walk_init);
  *streams = walk.streams;
  *prefetch = (int)walk.prefetch;
}


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

  return qora_r16_available(w) && (gl == NULL || n_tok < qora_gemm_min_tok(w->type));
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
  if (qora_cpu_level() >= QORA_CPU_AVX512)
    qora_r16_rows(j->w[i], j->extra[i], j->stride[i], j->q, j->qrow, j->n_tok, j->y[i],
                  j->ldy[i], g0, g1);
  else
    qora_r16_rows_avx2(j->w[i], j->extra[i], j->stride[i], j->q, j->qrow, j->n_tok, j->y[i],
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


/* ------------------------------------------------------------------ activation extras */

/*
** What the kernels of every level read beside a token's converted row (matmul_kernels.h):
** portable code, so that no AVX-512 instruction can reach it on a CPU without them.
*/
/* Q4_0, Q8_0: the quants again, each block 32-byte aligned, then neg[nb], then dy[nb]. */
static void pack_32(const block_q8_0 *y, int64_t nb, int off, char *out) {
  int32_t *neg = (int32_t *)(out + nb * 32);
  float *dy = (float *)(neg + nb);

  for (int64_t b = 0; b < nb; b++) {
    int s = 0;
    for (int j = 0; j < 32; j++)
      s += y[b].qs[j];
    memcpy(out + b * 32, y[b].qs, 32);
    neg[b] = -off * s;
    dy[b] = qora_f16_to_f32(y[b].d);
  }
}


void qora_r16_pack_token(int type, int64_t cols, const void *q8, char *out) {
  const block_q8_K *yk = q8;

  if (type == QORA_Q4_0 || type == QORA_Q8_0) {
    pack_32(q8, cols / 32, type == QORA_Q4_0 ? 8 : 128, out);
    return;
  }
  for (int64_t i = 0; i < cols / QK_K; i++) {
    if (type == QORA_Q4_K) {
      r16_k4 *k = (r16_k4 *)out + i;
      k->d = yk[i].d;
      for (int j = 0; j < 8; j++) {
        int s = yk[i].bsums[2 * j] + yk[i].bsums[2 * j + 1];   /* |s| <= 32 * 127 */
        int hi = s >= 0 ? s / 64 : -((-s + 63) / 64);
        k->hi[j] = (int8_t)hi;
        k->lo[j] = (int8_t)(s - 64 * hi);
      }
    } else {
      r16_k6 *k = (r16_k6 *)out + i;
      k->d = yk[i].d;
      for (int s = 0; s < 16; s++)
        k->neg[s] = -32 * yk[i].bsums[s];
    }
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


/* Chunks of w's groups. */
static long chunks_of(const qora_weight *w, int nth) {
  long groups = (w->rows + R16_ROWS - 1) / R16_ROWS, c = chunk_groups(w, nth);
  return (groups + c - 1) / c;
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
    for (int t = 0; t < j->n_tok; t++)
      qora_r16_pack_token(j->w[i]->type, cols, j->q + t * j->qrow, at + t * j->stride[i]);
    at += j->stride[i] * (size_t)j->n_tok;
  }
  j->first[0] = 0;
  for (int i = 0; i < j->n; i++) {
    j->chunk[i] = chunk_groups(j->w[i], qora_pool_size(pool));
    j->first[i + 1] = j->first[i] + chunks_of(j->w[i], qora_pool_size(pool));
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


/* ------------------------------------------------------------------ the next product */

/* Bytes a waiting thread asks for at a time, between looks for something else to do. */
#define IDLE_PIECE 4096

_Static_assert(QORA_FUSE_MAX <= QORA_IDLE_ARGS, "a fused product's weights fit an idle job");

/*
** Piece k of what thread ith asks for of the product named in idle (one token): the first
** bytes of the runs that its share's first chunk starts with (qora_r16_rows), in turn, into
** L2. Addresses are made as integers and stay inside each run.
*/
static int prefetch_next(const qora_pool_idle *idle, int ith, int nth, int k) {
  r16_walk wk = qora_r16_walk();
  int owners = nth < SHARES_MAX ? nth : SHARES_MAX, i = 0;
  long total = 0, lo, hi;

  if (ith >= owners)
    return 0;
  for (int n = 0; n < QORA_FUSE_MAX && idle->arg[n] != NULL; n++)
    total += chunks_of(idle->arg[n], nth);
  qora_split(total, ith, owners, &lo, &hi);
  if (lo >= hi)
    return 0;
  while (lo >= chunks_of(idle->arg[i], nth))
    lo -= chunks_of(idle->arg[i++], nth);
  const qora_weight *w = idle->arg[i];
  if ((size_t)k * IDLE_PIECE >= wk.idle)
    return 0;
  long groups = (w->rows + R16_ROWS - 1) / R16_ROWS, per = chunk_groups(w, nth);
  long g0 = lo * per, g1 = g0 + per < groups ? g0 + per : groups;
  int ns = g1 - g0 < wk.streams ? (int)(g1 - g0) : wk.streams;
  size_t gb = qora_r16_group_bytes(w), run = (size_t)((g1 - g0) / ns) * gb;
  size_t off = (size_t)(k / ns) * IDLE_PIECE;
  if (off >= run)
    return 0;
  size_t len = run - off < IDLE_PIECE ? run - off : IDLE_PIECE;
  uintptr_t at = (uintptr_t)w->r16 + (size_t)g0 * gb + (size_t)(k % ns) * run + off;
  for (size_t o = 0; o < len; o += 64)
    __builtin_prefetch((const void *)(at + o), 0, 2);     /* prefetcht1 on x86 */
  return 1;
}


void qora_matmul_next(qora_pool *pool, int n, const qora_weight *const *w, int n_tok) {
  qora_pool_idle idle = {0};

  if (n_tok == 1 && qora_r16_walk().idle > 0 && fusable(w, n, n_tok)) {
    idle.fn = prefetch_next;
    for (int i = 0; i < n; i++)
      idle.arg[i] = w[i];
  }
  qora_pool_set_idle(pool, &idle);
}
