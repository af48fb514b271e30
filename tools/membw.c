/*
** membw: the machine's read bandwidth, as decoding sees it. T threads each read their own
** contiguous slice of a buffer of at least 1 GiB, with wide loads. How the hardware
** prefetchers keep up depends on how a thread walks its slice, so several ways are tried:
** 1 to 8 interleaved streams per thread, bare or asking for every line 512 or 2560 bytes
** ahead into L2, as qora's decode kernels do on AMD and Intel. The best of R runs of the best
** way is reported in GB/s (1e9 bytes per second): the figure the benchmark divides a decode
** step's bytes by to get its ceiling.
**
** usage: membw [-t threads] [-m MiB] [-r runs] [-v]   (defaults: 2, 1024, 5; -v: every way)
*/
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define STEP 256            /* bytes per stream per loop iteration */
#define MAX_STREAMS 8

typedef struct way {
  int streams;
  int prefetch;             /* bytes ahead in each stream, every line (T1); 0: none */
} way;

static const way WAYS[] = {
  {1, 0}, {2, 0}, {4, 0}, {8, 0}, {1, 512}, {2, 512}, {1, 2560}, {4, 2560},
};
#define N_WAYS (sizeof WAYS / sizeof WAYS[0])

typedef struct reader {
  const uint8_t *p;
  size_t n;                 /* bytes of this thread's slice, a multiple of STEP * MAX_STREAMS */
  uint64_t sink;            /* keeps the loads from being optimized away */
  pthread_barrier_t *start, *end;
  const way *w;             /* the way of the current run, set by main between barriers */
  int runs;
} reader;


static double now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


#if defined(__x86_64__)
/* Reads n bytes as s interleaved streams of n / s bytes, folding them into accumulators. */
__attribute__((target("avx2")))
static uint64_t read_avx2(const uint8_t *p, size_t n, int s, int prefetch) {
  __m256i acc[MAX_STREAMS];
  size_t sub = n / (size_t)s;
  uint64_t out[4];

  for (int k = 0; k < MAX_STREAMS; k++)
    acc[k] = _mm256_setzero_si256();
  for (size_t i = 0; i < sub; i += STEP)
    for (int k = 0; k < s; k++) {
      const uint8_t *q = p + k * sub + i;
      for (int j = 0; prefetch && j < STEP; j += 64)   /* past the end: never faults */
        _mm_prefetch((const char *)((uintptr_t)q + prefetch + j), _MM_HINT_T1);
      for (int j = 0; j < STEP; j += 32)
        acc[k] = _mm256_xor_si256(acc[k], _mm256_load_si256((const __m256i *)(q + j)));
    }
  for (int k = 1; k < s; k++)
    acc[0] = _mm256_xor_si256(acc[0], acc[k]);
  _mm256_storeu_si256((__m256i *)out, acc[0]);
  return out[0] ^ out[1] ^ out[2] ^ out[3];
}
#endif


static uint64_t read_scalar(const uint8_t *p, size_t n, int s, int prefetch) {
  const uint64_t *q = (const uint64_t *)p;
  uint64_t a = 0, b = 0;

  (void)s;
  (void)prefetch;
  for (size_t i = 0; i < n / 8; i += 2) {
    a ^= q[i];
    b ^= q[i + 1];
  }
  return a ^ b;
}


/*
** Fills the slice with distinct values. Pages of equal content (a memset) can be merged by the
** host into one physical page, which caches would then serve at absurd speeds.
*/
static void fill(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(p + i, &x, 8);
  }
}


static void *run_reader(void *arg) {
  reader *r = arg;
#if defined(__x86_64__)
  int avx2 = __builtin_cpu_supports("avx2");   /* other machines take the plain loop */
#endif

  fill((uint8_t *)r->p, r->n, (uint64_t)(uintptr_t)r->p);  /* first touch by its reader */
  for (int i = 0; i < r->runs; i++) {
    pthread_barrier_wait(r->start);
#if defined(__x86_64__)
    if (avx2)
      r->sink ^= read_avx2(r->p, r->n, r->w->streams, r->w->prefetch);
    else
#endif
      r->sink ^= read_scalar(r->p, r->n, 1, 0);
    pthread_barrier_wait(r->end);
  }
  return NULL;
}


static int parse_args(int argc, char **argv, int *threads, size_t *mib, int *runs,
                      int *verbose) {
  for (int i = 1; i < argc; i++) {
    long v = i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : 0;
    if (strcmp(argv[i], "-v") == 0) {
      *verbose = 1;
      continue;
    }
    if (v <= 0)
      return -1;
    if (strcmp(argv[i], "-t") == 0 && v <= 256)
      *threads = (int)v;
    else if (strcmp(argv[i], "-m") == 0)
      *mib = (size_t)v;
    else if (strcmp(argv[i], "-r") == 0 && v <= 1000)
      *runs = (int)v;
    else
      return -1;
    i++;
  }
  return 0;
}


int main(int argc, char **argv) {
  int threads = 2, runs = 5, verbose = 0, best_way = 0;
  size_t mib = 1024, slice;
  uint8_t *buf;
  reader *rs;
  pthread_t *tids;
  pthread_barrier_t start, end;
  double best = 1e30;
  uint64_t sink = 0;

  if (parse_args(argc, argv, &threads, &mib, &runs, &verbose) != 0) {
    fprintf(stderr, "usage: membw [-t threads] [-m MiB] [-r runs] [-v]\n");
    return 2;
  }
  slice = (mib << 20) / (size_t)threads / (STEP * MAX_STREAMS) * (STEP * MAX_STREAMS);
  buf = mmap(NULL, slice * threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  rs = calloc(threads, sizeof *rs);
  tids = calloc(threads, sizeof *tids);
  if (buf == MAP_FAILED || rs == NULL || tids == NULL) {
    fprintf(stderr, "membw: cannot allocate %zu MiB; try a smaller -m\n", mib);
    return 1;
  }
  madvise(buf, slice * threads, MADV_HUGEPAGE);   /* fewer TLB misses, when allowed */
  pthread_barrier_init(&start, NULL, threads + 1);
  pthread_barrier_init(&end, NULL, threads + 1);
  for (int t = 0; t < threads; t++) {
    rs[t] = (reader){buf + slice * t, slice, 0, &start, &end, &WAYS[0], runs * (int)N_WAYS};
    pthread_create(&tids[t], NULL, run_reader, &rs[t]);
  }
  /* Runs cycle through the ways, so a burst of other load does not spoil one way only. */
  for (int i = 0; i < runs * (int)N_WAYS; i++) {
    const way *w = &WAYS[i % N_WAYS];
    for (int t = 0; t < threads; t++)
      rs[t].w = w;
    pthread_barrier_wait(&start);
    double t0 = now();
    pthread_barrier_wait(&end);
    double dt = now() - t0;
    if (verbose)
      fprintf(stderr, "membw: %d streams, prefetch %d: %.2f GB/s\n", w->streams,
              w->prefetch, slice * threads / dt / 1e9);
    if (dt < best) {
      best = dt;
      best_way = i % (int)N_WAYS;
    }
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    sink ^= rs[t].sink;
  }
  printf("read bandwidth: %.2f GB/s (%d threads, %zu MiB, best of %d runs; %d streams per "
         "thread, prefetch %d%s)\n", slice * threads / best / 1e9, threads,
         slice * threads >> 20, runs * (int)N_WAYS, WAYS[best_way].streams,
         WAYS[best_way].prefetch, sink == 1 ? " " : "");
  return 0;
}
