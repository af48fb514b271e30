/*
** pool.h: a persistent pool of worker threads. qora_pool_run runs fn(ctx, ith, nth) on every
** thread, the caller being thread 0, and returns when all have finished. Jobs run with
** subnormal floats flushed to zero (see pool.c).
*/
#ifndef QORA_POOL_H
#define QORA_POOL_H

typedef struct qora_pool qora_pool;
typedef void (*qora_pool_fn)(void *ctx, int ith, int nth);

qora_pool *qora_pool_new(int n_threads);
void qora_pool_free(qora_pool *p);
int qora_pool_size(const qora_pool *p);
void qora_pool_run(qora_pool *p, qora_pool_fn fn, void *ctx);

/* Splits [0, n) in nth nearly equal parts; part ith is [*lo, *hi). */
static inline void qora_split(long n, int ith, int nth, long *lo, long *hi) {
  long per = n / nth, extra = n % nth;
  *lo = ith * per + (ith < extra ? ith : extra);
  *hi = *lo + per + (ith < extra ? 1 : 0);
}

#endif
