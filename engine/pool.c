/*
** pool.c: persistent worker threads. Workers spin briefly on a generation counter before
** sleeping on a condition variable, so back-to-back jobs (one per matrix product in a decode
** step) start in microseconds while an idle pool uses no CPU. Starting a job takes the mutex
** only when some worker has gone to sleep, so a busy decode loop takes no lock.
**
** With more threads than cores, a spinning thread holds a core that a thread with a share to
** run is waiting for, until the kernel preempts it: decoding fell to a fraction of its speed.
** Such a pool is polite: a waiting thread gives its core away (sched_yield) at every look.
**
** A thread that waits at the end of a job first does the caller's idle work, if any, in short
** pieces between looks (qora_pool_set_idle): at decode, asking for the next product's weights.
**
** Jobs run with subnormal floats flushed to zero (x86 MXCSR FTZ and DAZ; the caller's own mode
** is restored after its share). Softmax weights of far-off keys and their products fall in the
** subnormal range, where every operation takes a microcode assist: with random weights that
** made attention half of a prompt's time. Values below 1.2e-38 change no result that matters.
*/
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "pool.h"
#include "qora.h"

/*
** Looks at gen before sleeping: about 100 us on a 3.7 GHz Zen 4. The steps of a decode leave
** gaps of more than the 5 us that 20000 gave, and each wake-up after a sleep cost a worker's
** share of the next product: Q4_K_M decode was 5 to 12 % slower.
*/
#define SPIN_ROUNDS 400000
#define SPIN_BEFORE_YIELD 512       /* pauses (about 30 to 70 us) before the caller yields */
#define POLITE_ROUNDS 256           /* yields before a polite worker sleeps (a few hundred us
                                       when nothing else runs) */

struct qora_pool {
  int n;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  atomic_uint gen;          /* bumped once per job */
  atomic_int pending;       /* workers still running the current job */
  atomic_int sleepers;      /* workers that stopped spinning (they wait on wake) */
  atomic_int quit;
  int polite;               /* more threads than cores: waiting threads yield at once */
  qora_pool_fn fn;
  void *ctx;
  qora_pool_idle idle;      /* set by the caller between jobs; workers copy it with a job */
};

/*
** The MXCSR bits a job runs with: FTZ (0x8000) and DAZ (0x0040). F16 scales stay exact under
** DAZ, which VCVTPH2PS ignores (Intel's SDM). QEMU's x86 emulation does not ignore it, up to
** 10.0 at least, and reads subnormal halves as 0: spec/cross_check.sh builds its emulated run
** with FTZ alone (-DQORA_MXCSR_FLUSH=0x8000).
*/
#if !defined(QORA_MXCSR_FLUSH)
#define QORA_MXCSR_FLUSH 0x8040
#endif

/* Sets flush-to-zero for the calling thread; returns the mode to restore. */
static unsigned flush_subnormals(void) {
#if defined(__x86_64__)
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | QORA_MXCSR_FLUSH);
  return csr;
#else
  return 0;
#endif
}


static void restore_float_mode(unsigned csr) {
#if defined(__x86_64__)
  _mm_setcsr(csr);
#else
  (void)csr;
#endif
}


typedef struct worker_arg {
  qora_pool *p;
  int ith;
} worker_arg;


static inline void cpu_relax(void) {
#if defined(__x86_64__)
  _mm_pause();
#endif
}


/*
** The caller waits for the workers' shares: spinning, then yielding its core, so that a
** worker which lost its core to another program gets it back instead of being waited on.
*/
static void wait_workers(qora_pool *p) {
  int spin = p->polite ? 0 : SPIN_BEFORE_YIELD;

  if (p->idle.fn && !p->polite)
    for (int k = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0 &&
                    p->idle.fn(&p->idle, 0, p->n, k); k++)
      ;
  for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++)
    if (i < spin)
      cpu_relax();
    else
      sched_yield();
}


/* Looks at gen n times, yielding the core between looks when polite; seen if it stayed. */
static unsigned look_for_job(qora_pool *p, unsigned seen, int n, int polite) {
  for (int i = 0; i < n; i++) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);

    if (g != seen)
      return g;
    if (polite)
      sched_yield();
  }
  return seen;
}


/* Thread ith's pieces of idle work while gen stays seen; the gen it saw last. */
static unsigned idle_until_job(qora_pool *p, unsigned seen, const qora_pool_idle *idle,
                               int ith) {
  unsigned g = seen;

  if (idle->fn == NULL || p->polite)
    return seen;
  for (int k = 0; g == seen; k++) {
    g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g == seen && !idle->fn(idle, ith, p->n, k))
      break;
  }
  return g;
}


static unsigned wait_job(qora_pool *p, unsigned seen, const qora_pool_idle *idle, int ith) {
  unsigned g = idle_until_job(p, seen, idle, ith);

  if (g != seen)
    return g;
  g = p->polite ? look_for_job(p, seen, POLITE_ROUNDS, 1)
                : look_for_job(p, seen, SPIN_ROUNDS, 0);
  if (g != seen)
    return g;
  /*
  ** Announce the sleep before the last look at gen; qora_pool_run bumps gen before looking at
  ** sleepers. Both are sequentially consistent, so one of the two sees the other.
  */
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->sleepers, 1);
  while ((g = atomic_load(&p->gen)) == seen)
    pthread_cond_wait(&p->wake, &p->mu);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->mu);
  return g;
}


static void *worker(void *arg) {
  worker_arg *w = arg;
  qora_pool *p = w->p;
  int ith = w->ith;
  unsigned seen = 0;
  qora_pool_idle idle = {0};

  free(w);
  flush_subnormals();
  for (;;) {
    seen = wait_job(p, seen, &idle, ith);
    if (atomic_load(&p->quit))
      return NULL;
    idle = p->idle;         /* the caller changes it only once every worker is done */
    p->fn(p->ctx, ith, p->n);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
  }
}


/*
** The CPUs in the affinity mask. A machine of more than CPU_SETSIZE (1024) CPUs needs a larger
** set than cpu_set_t: sched_getaffinity refuses a smaller one (EINVAL), so the set doubles
** until the mask fits. 0 when it cannot be read.
*/
static int affinity_cores(void) {
#if defined(__linux__)
  for (int n = CPU_SETSIZE; n <= (1 << 20); n *= 2) {
    cpu_set_t *set = CPU_ALLOC(n);
    size_t size = CPU_ALLOC_SIZE(n);
    int count = -1;

    if (set == NULL)
      return 0;
    if (sched_getaffinity(0, size, set) == 0)
      count = CPU_COUNT_S(size, set);
    else if (errno != EINVAL)
      count = 0;
    CPU_FREE(set);
    if (count >= 0)
      return count;
  }
#endif
  return 0;
}


int qora_cores(void) {
  int n_affinity = affinity_cores();
  long n = n_affinity > 0 ? n_affinity : sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > 1024 && n_affinity == 0 ? 1024 : (int)n;
}


qora_pool *qora_pool_new(int n_threads) {
  qora_pool *p = calloc(1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->n = n_threads < 1 ? 1 : n_threads;
  p->polite = p->n > qora_cores();
  p->threads = calloc((size_t)p->n, sizeof *p->threads);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  for (int i = 1; i < p->n; i++) {
    worker_arg *w = malloc(sizeof *w);
    w->p = p;
    w->ith = i;
    if (pthread_create(&p->threads[i], NULL, worker, w) != 0) {
      free(w);
      p->n = i;             /* run with the threads we have */
      break;
    }
  }
  return p;
}


void qora_pool_free(qora_pool *p) {
  if (p == NULL)
    return;
  atomic_store(&p->quit, 1);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->gen, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++)
    pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  free(p->threads);
  free(p);
}


void qora_pool_set_idle(qora_pool *p, const qora_pool_idle *idle) {
  if (p != NULL)
    p->idle = idle ? *idle : (qora_pool_idle){0};
}


int qora_pool_size(const qora_pool *p) {
  return p ? p->n : 1;
}


void qora_pool_run(qora_pool *p, qora_pool_fn fn, void *ctx) {
  unsigned csr = flush_subnormals();

  if (p == NULL || p->n == 1) {
    fn(ctx, 0, 1);
    restore_float_mode(csr);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store(&p->pending, p->n - 1);
  atomic_fetch_add(&p->gen, 1);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
  fn(ctx, 0, p->n);
  restore_float_mode(csr);
  wait_workers(p);
}
