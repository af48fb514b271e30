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

/*
** Bounded work a thread may do while it waits at the end of a job (for the others, or for
** the next job): fn(idle, ith, nth, k) does thread ith's piece k, each short, and returns 0
** when there is none. arg must stay valid as long as the pool does (a model's weights).
*/
#define QORA_IDLE_ARGS 4

typedef struct qora_pool_idle qora_pool_idle;
typedef int (*qora_pool_idle_fn)(const qora_pool_idle *idle, int ith, int nth, int k);
struct qora_pool_idle {
  qora_pool_idle_fn fn;     /* NULL: nothing to do */
  const void *arg[QORA_IDLE_ARGS];
};

/*
** The idle work of the jobs run from now on (copied; NULL for none). Each thread starts its
** pieces over at every job and stops at once when it has something else to do. Not done by
** a pool of more threads than cores, whose waiting threads give their cores away.
*/
void qora_pool_set_idle(qora_pool *p, const qora_pool_idle *idle);

/* Splits [0, n) in nth nearly equal parts; part ith is [*lo, *hi). */
static inline void qora_split(long n, int ith, int nth, long *lo, long *hi) {
  long per = n / nth, extra = n % nth;
  *lo = ith * per + (ith < extra ? ith : extra);
  *hi = *lo + per + (ith < extra ? 1 : 0);
}

#endif
