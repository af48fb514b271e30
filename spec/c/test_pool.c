/*
** test_pool.c: the thread pool runs every job once on every thread, back to back and after
** its workers have gone to sleep, with as many threads as cores (its workers spin) and with
** more (they yield), idle work runs in order between jobs and gives way to them, and
** qora_split cuts a range into ordered, covering parts.
*/
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "tap.h"

#define MAX_THREADS 64

typedef struct job {
  atomic_int runs[MAX_THREADS];
  atomic_int bad_nth;
  int nth;
} job;


static void count(void *ctx, int ith, int nth) {
  job *j = ctx;
  if (nth != j->nth || ith < 0 || ith >= nth)
    atomic_fetch_add(&j->bad_nth, 1);
  else
    atomic_fetch_add(&j->runs[ith], 1);
}


/* Runs n_jobs jobs, sleeping pause_us between them; 1 when each ran once per thread. */
static int run_jobs(qora_pool *p, int n_jobs, long pause_us) {
  int nth = qora_pool_size(p);
  for (int k = 0; k < n_jobs; k++) {
    job j = {.nth = nth};
    qora_pool_run(p, count, &j);
    for (int i = 0; i < nth; i++)
      if (atomic_load(&j.runs[i]) != 1)
        return 0;
    if (atomic_load(&j.bad_nth))
      return 0;
    if (pause_us) {
      struct timespec ts = {0, pause_us * 1000};
      nanosleep(&ts, NULL);
    }
  }
  return 1;
}


#if defined(__x86_64__)
static volatile float subnormal = 1e-39f, one = 1.0f;


static void flushes(void *ctx, int ith, int nth) {
  atomic_int *flushed = ctx;
  if (subnormal * one == 0.0f)
    atomic_fetch_add(flushed, 1);
}
#endif


/* Jobs see subnormals as zero on every thread; the caller's own mode comes back after. */
static void test_subnormals(qora_pool *p) {
#if defined(__x86_64__)
  atomic_int flushed = 0;
  qora_pool_run(p, flushes, &flushed);
  TAP_OK(atomic_load(&flushed) == qora_pool_size(p) && subnormal * one != 0.0f,
         "jobs flush subnormals on all %d threads and the caller keeps its float mode",
         qora_pool_size(p));
#else
  (void)p;
  (void)TAP_OK(1, "subnormal flushing # SKIP x86-64 only");
#endif
}


/* The cores this process may run on, as pool.c counts them. */
static int usable_cores(void) {
  cpu_set_t set;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  return (int)sysconf(_SC_NPROCESSORS_ONLN);
}


/* A pool of as many threads as cores spins between jobs; one of more gives its cores away. */
static void test_cores(void) {
  int cores = usable_cores();
  int sizes[2] = { cores < MAX_THREADS ? cores : MAX_THREADS,
                   cores + 2 < MAX_THREADS ? cores + 2 : MAX_THREADS };

  for (int k = 0; k < 2; k++) {
    qora_pool *p = qora_pool_new(sizes[k]);

    TAP_OK(qora_pool_size(p) == sizes[k] && run_jobs(p, 5000, 0) && run_jobs(p, 10, 20000),
           "%d threads on %d cores run 5000 back-to-back jobs, then jobs after pauses, each "
           "once on every thread", sizes[k], cores);
    qora_pool_free(p);
  }
}


/* ------------------------------------------------------------------ idle work */

#define IDLE_PIECES 5

typedef struct idle_log {
  atomic_int done[MAX_THREADS];     /* pieces done */
  atomic_int starts[MAX_THREADS];   /* times piece 0 was asked for */
  atomic_int bad;                   /* pieces out of order or with a wrong argument */
  int last[MAX_THREADS];
  int endless;                      /* never says there is no more */
} idle_log;

static idle_log ilog;


static int log_piece(const qora_pool_idle *idle, int ith, int nth, int k) {
  if (idle->arg[0] != &ilog || nth < 2 || ith < 0 || ith >= nth ||
      (k > 0 && k != ilog.last[ith] + 1))
    atomic_fetch_add(&ilog.bad, 1);
  ilog.last[ith] = k;
  if (k == 0)
    atomic_fetch_add(&ilog.starts[ith], 1);
  if (k >= IDLE_PIECES && !ilog.endless)
    return 0;
  atomic_fetch_add(&ilog.done[ith], 1);
  return 1;
}


static void nothing(void *ctx, int ith, int nth) {
  (void)ctx, (void)ith, (void)nth;
}


/* Workers (not the caller) take 20 ms over their share. */
static void slow_workers(void *ctx, int ith, int nth) {
  struct timespec ts = {0, 20000000};
  (void)ctx, (void)nth;
  if (ith > 0)
    nanosleep(&ts, NULL);
}


static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
  nanosleep(&ts, NULL);
}


/* 1 when every worker did n pieces and started over k times since the log was cleared. */
static int workers_did(qora_pool *p, int n, int k) {
  int ok = 1;
  for (int i = 1; i < qora_pool_size(p); i++)
    ok &= atomic_load(&ilog.done[i]) == n && atomic_load(&ilog.starts[i]) == k;
  return ok && atomic_load(&ilog.bad) == 0;
}


static void test_idle(void) {
  int n = usable_cores() < MAX_THREADS ? usable_cores() : MAX_THREADS;
  qora_pool_idle idle = {.fn = log_piece, .arg = {&ilog}};

  if (n < 2) {
    (void)TAP_OK(1, "idle work # SKIP one core: a pool of 2 threads gives its cores away");
    return;
  }
  qora_pool *p = qora_pool_new(n);
  qora_pool_run(p, nothing, NULL);          /* workers started, their last job has no idle */
  pause_ms(20);
  memset(&ilog, 0, sizeof ilog);
  qora_pool_set_idle(p, &idle);
  qora_pool_run(p, nothing, NULL);
  pause_ms(20);
  TAP_OK(workers_did(p, IDLE_PIECES, 1), "after a job each of %d workers does the idle "
         "pieces 0 to %d in order, once, until told there are no more", n - 1,
         IDLE_PIECES - 1);
  qora_pool_run(p, nothing, NULL);
  pause_ms(20);
  TAP_OK(workers_did(p, 2 * IDLE_PIECES, 2), "each job's idle work starts over");
  atomic_store(&ilog.done[0], 0);
  qora_pool_run(p, slow_workers, NULL);
  TAP_OK(atomic_load(&ilog.done[0]) == IDLE_PIECES && atomic_load(&ilog.bad) == 0,
         "the caller does its idle pieces while it waits for the workers");
  qora_pool_set_idle(p, NULL);
  pause_ms(20);                             /* the workers' pieces after that job */
  memset(&ilog, 0, sizeof ilog);
  qora_pool_run(p, nothing, NULL);
  pause_ms(20);
  TAP_OK(workers_did(p, 0, 0), "no idle work once it is set to none");
  ilog.endless = 1;
  qora_pool_set_idle(p, &idle);
  TAP_OK(run_jobs(p, 5000, 0) && atomic_load(&ilog.bad) == 0, "endless idle work gives "
         "way to 5000 back-to-back jobs, each run once on every thread");
  qora_pool_free(p);
}


static void test_split(void) {
  int ok = 1;
  for (long n = 0; n < 50 && ok; n++)
    for (int nth = 1; nth <= 7 && ok; nth++) {
      long next = 0, lo, hi, biggest = 0, smallest = n;
      for (int i = 0; i < nth; i++) {
        qora_split(n, i, nth, &lo, &hi);
        ok &= lo == next && hi >= lo;
        next = hi;
        biggest = hi - lo > biggest ? hi - lo : biggest;
        smallest = hi - lo < smallest ? hi - lo : smallest;
      }
      ok &= next == n && biggest - smallest <= 1;
    }
  TAP_OK(ok, "qora_split cuts [0, n) into ordered parts that differ by at most one");
}


int main(void) {
  alarm(120);                 /* a lost wakeup hangs: let it fail the run instead */
  qora_pool *one = qora_pool_new(1), *three = qora_pool_new(3);

  TAP_OK(qora_pool_size(one) == 1 && qora_pool_size(three) == 3 && qora_pool_size(NULL) == 1,
         "pool sizes are what was asked for");
  TAP_OK(run_jobs(one, 100, 0), "a pool of one runs jobs on the caller");
  TAP_OK(run_jobs(three, 20000, 0), "20000 back-to-back jobs each run once on every thread");
  TAP_OK(run_jobs(three, 30, 20000), "jobs after idle pauses wake the sleeping workers");
  TAP_OK(run_jobs(NULL, 3, 0), "a NULL pool runs jobs on the caller");
  test_subnormals(three);
  test_subnormals(one);
  qora_pool_free(one);
  qora_pool_free(three);
  test_cores();
  test_idle();
  test_split();
  return tap_done();
}
