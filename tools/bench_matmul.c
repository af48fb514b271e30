/*
** bench_matmul: times qora_matmul on SmolLM3-3B's matrix shapes with random valid weights.
** For 1 token (decode) each repetition reads a different copy of the weights, at least 1 GiB
** in all, so the figure is the memory bus's and not the cache's; GB/s counts weight bytes.
** For many tokens (prefill) one copy is reused; GFLOP/s counts 2 * rows * cols * tokens.
** "cpu" is the process's CPU time per call divided by the threads: well below the wall time
** when other programs share the cores, so the figures are not the machine's.
**
** Weights of types with an r16 layout are repacked (repack.h) as a loader does, unless -R 0,
** into a copy on 2 MB pages as a loader asks for, unless -H 0 (4 KB pages, as a model loaded
** with huge_pages = false).
**
** usage: bench_matmul [-t threads] [-n tokens,...] [-T type,...] [-s seconds] [-l level]
**                     [-R 0|1] [-H 0|1] [-m MiB] [-W runs,bytes]
**        defaults: 2 threads, tokens 1,512, types Q4_0,Q8_0,Q4_K,Q6_K, 1 second per case,
**        the best CPU level (0 scalar, 1 AVX2, 2 AVX-512), repacking on, 2 MB pages, the CPU's
**        own walk (-W: how one-token r16 products read the weights, qora_r16_set_walk)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "matmul.h"
#include "matmul_kernels.h"
#include "quant.h"
#include "repack.h"
#include "../spec/c/rand_blocks.h"

#define MAX_COPIES 64

typedef struct shape {
  const char *what;
  int cols, rows;
} shape;

static const shape shapes[] = {
  {"attn_q/o 2048->2048", 2048, 2048},
  {"attn_k/v 2048->512", 2048, 512},
  {"ffn_up 2048->11008", 2048, 11008},
  {"ffn_down 11008->2048", 11008, 2048},
  {"lm_head 2048->128256", 2048, 128256},
};


static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}


static double now(void) {
  return clock_s(CLOCK_MONOTONIC);
}


/*
** Runs the product over the copies round-robin for at least secs; returns wall seconds per
** call and sets *cpu to the process's CPU seconds per call.
*/
static double time_case(qora_pool *pool, qora_weight *w, int n_copies, const float *x,
                        int n_tok, float *y, void *scratch, double secs, double *cpu) {
  qora_matmul(pool, &w[0], x, (int)w->cols, n_tok, y, (int)w->rows, scratch);   /* warm up */
  int calls = 0;
  double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t;
  do {
    qora_weight *wi = &w[calls % n_copies];
    qora_matmul(pool, wi, x, (int)wi->cols, n_tok, y, (int)wi->rows, scratch);
    calls++;
    t = now();
  } while (t - t0 < secs || calls < 3);
  *cpu = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / calls;
  return (t - t0) / calls;
}


static int repack = 1, huge = 1;
static double decode_mib = 1024;   /* weights read round-robin by decode cases, at least */

static void bench(qora_pool *pool, int type, const shape *s, int n_tok, double secs) {
  size_t row_bytes = qora_row_size(type, s->cols), bytes = row_bytes * s->rows;
  int n_copies = 1;
  if (n_tok == 1) {
    n_copies = (int)((decode_mib * (1 << 20) + bytes - 1) / bytes);
    n_copies = n_copies < 1 ? 1 : n_copies;
    n_copies = n_copies > MAX_COPIES ? MAX_COPIES : n_copies;
  }

  qora_weight w[MAX_COPIES];
  qora_weight w0 = {type, s->rows, s->cols, row_bytes, NULL, NULL};
  size_t r16 = repack ? qora_r16_bytes(&w0) : 0;
  char *data = malloc(r16 ? bytes : bytes * n_copies);
  size_t huge_page = 2 << 20;
  size_t packed_bytes = (r16 * n_copies + huge_page - 1) & ~(huge_page - 1);
  char *packed = r16 ? aligned_alloc(huge_page, packed_bytes) : NULL;
  if (packed && huge)
    madvise(packed, r16 * n_copies, MADV_HUGEPAGE);
  rb_weights(type, data, (int64_t)s->rows * s->cols);
  for (int i = 0; i < n_copies; i++) {
    if (i > 0 && !r16)
      memcpy(data + bytes * i, data, bytes);
    w[i] = (qora_weight){type, s->rows, s->cols, row_bytes, data + (r16 ? 0 : bytes * i), NULL};
    if (r16)
      qora_r16_repack(pool, &w[i], packed + r16 * i);
  }
  float *x = malloc(sizeof(float) * s->cols * n_tok);
  float *y = malloc(sizeof(float) * s->rows * n_tok);
  void *scratch = malloc(qora_matmul_scratch(&w[0], n_tok) + 1);
  rb_floats(x, (int64_t)s->cols * n_tok);

  double cpu, t = time_case(pool, w, n_copies, x, n_tok, y, scratch, secs, &cpu);
  double flops = 2.0 * s->rows * s->cols * n_tok;
  printf("%-5s %-22s %4d tok  %9.3f ms (cpu %8.3f)  %7.2f GB/s  %8.1f GFLOP/s\n",
         qora_type_name(type), s->what, n_tok, t * 1e3, cpu / qora_pool_size(pool) * 1e3,
         bytes / t / 1e9, flops / t / 1e9);
  fflush(stdout);
  free(data), free(packed), free(x), free(y), free(scratch);
}


static int parse_type(const char *name) {
  for (int t = 0; t < QORA_TYPE_COUNT; t++)
    if (qora_type_name(t) && strcasecmp(qora_type_name(t), name) == 0)
      return t;
  return -1;
}


/* Forces the r16 walk named "runs,bytes" (NULL: the CPU's own); prints the one in effect. */
static int set_walk(const char *arg) {
#if defined(__x86_64__)
  int runs, bytes;
  char extra;
  if (arg && (sscanf(arg, "%d,%d%c", &runs, &bytes, &extra) != 2
              || qora_r16_set_walk(runs, bytes))) {
    fprintf(stderr, "bench_matmul: -W wants runs,bytes: 1 to 4 runs, 0 to 65536 bytes\n");
    return -1;
  }
  r16_walk w = qora_r16_walk();
  printf("# r16 walk: %d run%s, %zu bytes ahead (Q4_0 and Q8_0: %zu)\n", w.streams,
         w.streams > 1 ? "s" : "", w.prefetch, w.prefetch32);
#else
  (void)arg;
#endif
  return 0;
}


int main(int argc, char **argv) {
  int threads = 2, level = -1, toks[8] = {1, 512}, n_toks = 2, types[8], n_types = 0;
  double secs = 1;
  char *list, *walk = NULL;

  for (int o; (o = getopt(argc, argv, "t:n:T:s:l:R:H:m:W:")) != -1;) {
    switch (o) {
    case 'R': repack = atoi(optarg); break;
    case 'm': decode_mib = atof(optarg); break;
    case 'H': huge = atoi(optarg); break;
    case 'W': walk = optarg; break;
    case 't': threads = atoi(optarg); break;
    case 's': secs = atof(optarg); break;
    case 'l': level = atoi(optarg); break;
    case 'n':
      n_toks = 0;
      for (list = strtok(optarg, ","); list && n_toks < 8; list = strtok(NULL, ","))
        toks[n_toks++] = atoi(list);
      break;
    case 'T':
      for (list = strtok(optarg, ","); list && n_types < 8; list = strtok(NULL, ",")) {
        types[n_types] = parse_type(list);
        if (types[n_types] < 0 || !qora_type_get(types[n_types])->vec_dot) {
          fprintf(stderr, "bench_matmul: unknown weight type %s (try Q4_0,Q8_0,Q4_K)\n", list);
          return 2;
        }
        n_types++;
      }
      break;
    default:
      fprintf(stderr, "usage: bench_matmul [-t threads] [-n tokens,...] [-T type,...] "
              "[-s seconds] [-l level] [-R 0|1] [-H 0|1] [-m MiB] [-W runs,bytes]\n");
      return 2;
    }
  }
  if (n_types == 0) {
    int d[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_K, QORA_Q6_K};
    memcpy(types, d, sizeof d);
    n_types = 4;
  }
  if (level >= 0)
    qora_cpu_set_level(level);

  if (set_walk(walk) != 0)
    return 2;

  printf("# bench_matmul: %d threads, CPU level %s, %s\n", threads,
         qora_cpu_name(qora_cpu_level()),
         !repack ? "stored layout"
                 : huge ? "r16 repacking, 2 MB pages" : "r16 repacking, 4 KB pages");
  qora_pool *pool = qora_pool_new(threads);
  for (int ti = 0; ti < n_types; ti++)
    for (int k = 0; k < n_toks; k++)
      for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        bench(pool, types[ti], &shapes[si], toks[k], secs);
  qora_pool_free(pool);
  return 0;
}
