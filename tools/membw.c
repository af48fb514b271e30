/*
** membw: the machine's read bandwidth, as decoding sees it. T threads each read their own
** contiguous slice of a buffer of at least 1 GiB from start to end; the best of R runs is
** reported in GB/s (1e9 bytes per second), the figure the benchmark divides a decode step's
** bytes by to get its ceiling.
**
** usage: membw [-t threads] [-m MiB] [-r runs]      (defaults: 2 threads, 1024 MiB, 10 runs)
*/
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct reader {
  const uint8_t *p;
  size_t n;                 /* bytes of this thread's slice, a multiple of 256 */
  uint64_t sink;            /* keeps the loads from being optimized away */
  pthread_barrier_t *start, *end;
  int runs;
} reader;


static double now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* Folds 256 bytes per step into four vector accumulators: wide loads, little arithmetic. */
__attribute__((target("avx2")))
static uint64_t read_avx2(const uint8_t *p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  uint64_t out[4];

  for (size_t i = 0; i < n; i += 256) {
    a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i + 128)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 160)));
    c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 192)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 224)));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  _mm256_storeu_si256((__m256i *)out, a);
  return out[0] ^ out[1] ^ out[2] ^ out[3];
}


static uint64_t read_scalar(const uint8_t *p, size_t n) {
  const uint64_t *q = (const uint64_t *)p;
  uint64_t a = 0, b = 0, c = 0, d = 0;

  for (size_t i = 0; i < n / 8; i += 4) {
    a ^= q[i];
    b ^= q[i + 1];
    c ^= q[i + 2];
    d ^= q[i + 3];
  }
  return a ^ b ^ c ^ d;
}


static void *run_reader(void *arg) {
  reader *r = arg;
  int avx2 = __builtin_cpu_supports("avx2");

  memset((void *)r->p, 0x5a, r->n);   /* first touch from the thread that reads it */
  for (int i = 0; i < r->runs; i++) {
    pthread_barrier_wait(r->start);
    r->sink ^= avx2 ? read_avx2(r->p, r->n) : read_scalar(r->p, r->n);
    pthread_barrier_wait(r->end);
  }
  return NULL;
}


static int parse_args(int argc, char **argv, int *threads, size_t *mib, int *runs) {
  for (int i = 1; i < argc; i++) {
    long v = i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : 0;
    if (v <= 0)
      return -1;
    if (strcmp(argv[i], "-t") == 0 && v <= 256)
      *threads = (int)v;
    else if (strcmp(argv[i], "-m") == 0)
      *mib = (size_t)v;
    else if (strcmp(argv[i], "-r") == 0 && v <= 10000)
      *runs = (int)v;
    else
      return -1;
    i++;
  }
  return 0;
}


int main(int argc, char **argv) {
  int threads = 2, runs = 10;
  size_t mib = 1024, slice;
  uint8_t *buf;
  reader *rs;
  pthread_t *tids;
  pthread_barrier_t start, end;
  double best = 1e30;
  uint64_t sink = 0;

  if (parse_args(argc, argv, &threads, &mib, &runs) != 0) {
    fprintf(stderr, "usage: membw [-t threads] [-m MiB] [-r runs]\n");
    return 2;
  }
  slice = (mib << 20) / (size_t)threads / 256 * 256;
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
    rs[t] = (reader){buf + slice * t, slice, 0, &start, &end, runs};
    pthread_create(&tids[t], NULL, run_reader, &rs[t]);
  }
  for (int i = 0; i < runs; i++) {
    pthread_barrier_wait(&start);
    double t0 = now();
    pthread_barrier_wait(&end);
    double dt = now() - t0;
    best = dt < best ? dt : best;
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    sink ^= rs[t].sink;
  }
  printf("read bandwidth: %.2f GB/s (%d threads, %zu MiB, best of %d runs%s)\n",
         slice * threads / best / 1e9, threads, slice * threads >> 20, runs,
         sink == 1 ? " " : "");
  return 0;
}
