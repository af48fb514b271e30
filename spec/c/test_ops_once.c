/*
** test_ops_once.c: the kernel table that qora_ops_get returns never changes under a thread
** that holds it. Threads meeting at the first qora_ops_get of a CPU level each filled the
** one shared table again, scalar kernels first, so a thread already running attention could
** call a scalar kernel for a moment and round otherwise: asan-test_model_save once saw a
** folder and its GGUF 3.1e-5 apart, about 1 run in 20 of a busy machine.
**
** Each round lowers the level and raises it back (with one shared table, the next
** qora_ops_get filled it again) and releases threads together to take the kernels. Meeting
** there took a coincidence of nanoseconds; so that every round meets, this program's
** pthread_mutex_lock holds a mutex it took for a while during the rounds, and the other
** threads pass the check before the first has filled the table. Each thread, on a CPU of
** its own (one that waits for another's core would not see it write), then reads the table
** over and over until all have theirs.
*/
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"
#include "quant.h"
#include "tap.h"

#define THREADS 2
#define ROUNDS 40
#define HOLD_US 2000        /* how long a round's mutex is held once taken */
#define READS_AFTER 100000  /* reads once every thread has its table */

typedef struct racer {
  int cpu;
  const qora_ops *got;
  qora_ops first;           /* the table as the thread first read it */
  int changed;              /* the table changed under the thread afterwards */
} racer;

static atomic_int arrived, returned, holding;


/* libc's pthread_mutex_lock, then a pause while a round runs (only qora_ops_get locks). */
int pthread_mutex_lock(pthread_mutex_t *m) {
  static int (*real)(pthread_mutex_t *);
  int rc;

  if (real == NULL)
    *(void **)&real = dlsym(RTLD_NEXT, "pthread_mutex_lock");
  rc = real(m);
  if (atomic_load(&holding))
    usleep(HOLD_US);
  return rc;
}


/* 1 when some kernel the attention tiles call is not the one first read. */
static int moved(const racer *r) {
  const volatile qora_ops *o = r->got;

  return o->tile_scores != r->first.tile_scores || o->tile_accum != r->first.tile_accum ||
         o->exp_sub != r->first.exp_sub || o->swiglu != r->first.swiglu;
}


static void *race(void *arg) {
  racer *r = arg;
  cpu_set_t set;

  CPU_ZERO(&set);
  CPU_SET(r->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  atomic_fetch_add(&arrived, 1);
  while (atomic_load(&arrived) < THREADS)
    ;                       /* all take their first qora_ops_get at once */
  r->got = qora_ops_get();
  memcpy(&r->first, r->got, sizeof r->first);
  atomic_fetch_add(&returned, 1);
  for (long i = 0; !r->changed && (atomic_load(&returned) < THREADS || i < READS_AFTER); i++)
    r->changed = moved(r);
  r->changed |= memcmp(r->got, &r->first, sizeof r->first) != 0;
  return NULL;
}


/* One round: 0 when every thread read one table, the one in force after all returned. */
static int round_differs(int level, const int *cpus) {
  pthread_t t[THREADS];
  racer r[THREADS];
  const qora_ops *now;
  int bad = 0, n = 0;

  memset(r, 0, sizeof r);
  for (int i = 0; i < THREADS; i++)
    r[i].cpu = cpus[i];
  qora_cpu_set_level(QORA_CPU_SCALAR);
  (void)qora_ops_get();
  qora_cpu_set_level(level);
  atomic_store(&arrived, 0);
  atomic_store(&returned, 0);
  atomic_store(&holding, 1);
  while (n < THREADS && pthread_create(&t[n], NULL, race, &r[n]) == 0)
    n++;
  if (n < THREADS)
    atomic_fetch_add(&arrived, THREADS - n);    /* let the threads made finish */
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  atomic_store(&holding, 0);
  now = qora_ops_get();
  for (int i = 0; i < n; i++)
    bad |= r[i].changed || r[i].got != now || memcmp(&r[i].first, now, sizeof *now) != 0;
  return n < THREADS ? -1 : bad;
}


/* The first THREADS CPUs this process may run on; 0 when it has fewer. */
static int pick_cpus(int *cpus) {
  cpu_set_t set;
  int n = 0;

  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 0;
  for (int c = 0; c < CPU_SETSIZE && n < THREADS; c++)
    if (CPU_ISSET(c, &set))
      cpus[n++] = c;
  return n == THREADS;
}


int main(void) {
  int best = qora_cpu_best(), bad = 0, first_bad = -1, cpus[THREADS];

  if (best == QORA_CPU_SCALAR || !pick_cpus(cpus)) {
    TAP_OK(1, "one kernel table per level # SKIP %s", best == QORA_CPU_SCALAR ?
           "this CPU has only the scalar kernels" : "fewer than 2 CPUs to run on");
    return tap_done();
  }
  for (int i = 0; i < ROUNDS; i++) {
    int rc = round_differs(best, cpus);
    if (rc != 0 && first_bad < 0)
      first_bad = i;
    bad += rc != 0;
  }
  TAP_OK(bad == 0, "%d threads meeting at the first qora_ops_get of %s kernels read one table "
         "that never changes under them: %d of %d rounds saw it change or failed (first %d)",
         THREADS, qora_cpu_name(best), bad, ROUNDS, first_bad);
  qora_cpu_set_level(best);
  return tap_done();
}
