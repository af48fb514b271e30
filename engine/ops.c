/*
** ops.c: the scalar reference of the row kernels, and their choice by CPU level.
*/
#include <math.h>
#include <pthread.h>

#include "ops.h"
#include "quant.h"

/*
** One table per CPU level, filled at its first use and never written again: a thread keeps
** the table it was given while others ask for theirs. One shared table, filled again by each
** thread that met another at a level's first use, gave a thread already in attention the
** scalar kernels for a moment, and so results that changed from run to run.
*/
static qora_ops tables[QORA_CPU_AMX + 1];
static int filled[QORA_CPU_AMX + 1];
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;

qora_kv_walk qora_kv_walk_now = {1, 0};
static pthread_once_t kv_walk_once = PTHREAD_ONCE_INIT;


/*
** Intel, a 2-vCPU Xeon (AMX, 480 MiB of L3): one core read a head's keys and values from
** memory at 10 GB/s (scores 21.5 ns per key, values 26.8; 9.7 and 8.2 with the rows in L2),
** where the decode kernels stream weights at 16 and bare reads at 19.5. Four runs of keys,
** with the values asked for 16 rows ahead, read both at 11 GB/s and leave the values in L2
** (values 12 ns per key); decoding SmolLM3-3B Q4_0 (bench_qora -p 16 -n 1 -c 4096,16384 -s
** 32, 3 rounds taking turns) went from 13.5-13.6 to 13.6-14.1 tokens/s at 4K, from 8.3-8.5 to
** 8.8-9.0 at 16K; 4 more pairs later, 13.0-13.6 to 13.6-13.9 and 8.0-8.2 to 8.5-8.7. Asking
** also for the next range's keys, as four runs, while the values are read gained nothing (7
** pairs). AMD (Zen 4, 1 MiB of L2), where one core's attention was bound by its
** arithmetic, not its reads, keeps one run (the four were not measured there); every other
** maker's CPU takes Intel's walk. On AMD Zen 3 (AVX2, which reads one run whatever the walk),
** asking for the values 16 rows ahead took a decode step of SmolLM3-3B Q4_0 on 2 threads from
** 157.1 / 157.4 to 145.4 / 145.3 ms at 16K and from 92.5 / 95.2 to 89.0 / 95.0 at 4K (means
** of 28 steps each, the two settings taking turns A B B A within one process, 2 runs each);
** 8 rows ahead gained less at 16K (144.3 / 155.4 to 136.9 / 148.3). Zen 4 takes it untried.
*/
static void kv_walk_init(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  qora_kv_walk_now = (qora_kv_walk){__builtin_cpu_is("amd") ? 1 : 4, 16};
#endif
}


int qora_kv_set_walk(int runs, int v_ahead) {
  pthread_once(&kv_walk_once, kv_walk_init);
  if ((runs != 1 && runs != 4) || v_ahead < 0 || v_ahead > 1024)
    return -1;
  qora_kv_walk_now = (qora_kv_walk){runs, v_ahead};
  return 0;
}


qora_kv_walk qora_kv_get_walk(void) {
  pthread_once(&kv_walk_once, kv_walk_init);
  return qora_kv_walk_now;
}


static void scores_f32(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *s, int ss) {
  for (int j = 0; j < n; j++) {
    const float *row = (const float *)((const char *)k + j * stride);
    for (int h = 0; h < group; h++) {
      float dot = 0.0f;
      for (int i = 0; i < hd; i++)
        dot += q[h * hd + i] * row[i];
      s[h * ss + j] = dot * scale;
    }
  }
}


static void accum_f32(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  for (int j = 0; j < n; j++) {
    const float *row = (const float *)((const char *)v + j * stride);
    for (int h = 0; h < group; h++)
      for (int i = 0; i < hd; i++)
        out[h * hd + i] += p[h * ps + j] * row[i];
  }
}


static void scores_f16(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *s, int ss) {
  float row[1024];

  for (int j = 0; j < n; j++) {
    const qora_f16 *h16 = (const qora_f16 *)((const char *)k + j * stride);
    for (int i = 0; i < hd; i++)
      row[i] = qora_f16_to_f32(h16[i]);
    scores_f32(row, NULL, 0, 1, q, group, hd, scale, s + j, ss);
  }
}


static void accum_f16(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  float row[1024];

  for (int j = 0; j < n; j++) {
    const qora_f16 *h16 = (const qora_f16 *)((const char *)v + j * stride);
    for (int i = 0; i < hd; i++)
      row[i] = qora_f16_to_f32(h16[i]);
    accum_f32(row, 0, 1, p + j, ps, group, hd, out);
  }
}


/*
** One key at a time: each score that beats the maximum so far scales what was gathered by
** exp(old - new) first.
*/
static void attend_row(const float *k, const float *v, const float *q, int group, int hd,
                       float scale, float *max, float *sum, float *out) {
  for (int h = 0; h < group; h++) {
    float s;
    scores_f32(k, NULL, 0, 1, q + h * hd, 1, hd, scale, &s, 1);
    if (s > max[h]) {
      float c = qora_exp_floor(max[h] - s);
      sum[h] *= c;
      for (int i = 0; i < hd; i++)
        out[h * hd + i] *= c;
      max[h] = s;
    }
    float e = qora_exp_floor(s - max[h]);
    sum[h] += e;
    accum_f32(v, 0, 1, &e, 1, 1, hd, out + h * hd);
  }
}


static void attend(const void *k, const void *v, size_t stride, int n, const float *q,
                   int group, int hd, float scale, float *max, float *sum, float *out,
                   int f16) {
  float kr[1024], vr[1024];

  for (int h = 0; h < group; h++) {
    max[h] = -INFINITY;
    sum[h] = 0.0f;
  }
  for (int i = 0; i < group * hd; i++)
    out[i] = 0.0f;
  for (int j = 0; j < n; j++) {
    const char *kj = (const char *)k + j * stride, *vj = (const char *)v + j * stride;
    for (int i = 0; i < hd; i++) {
      kr[i] = f16 ? qora_f16_to_f32(((const qora_f16 *)kj)[i]) : ((const float *)kj)[i];
      vr[i] = f16 ? qora_f16_to_f32(((const qora_f16 *)vj)[i]) : ((const float *)vj)[i];
    }
    attend_row(kr, vr, q, group, hd, scale, max, sum, out);
  }
}


static void attend_f16(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *max, float *sum, float *out,
                       float *work) {
  attend(k, v, stride, n, q, group, hd, scale, max, sum, out, 1);
}


static void attend_f32(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *max, float *sum, float *out,
                       float *work) {
  attend(k, v, stride, n, q, group, hd, scale, max, sum, out, 0);
}


static void tile_scores(const float *qt, const float *kb, int nk, int hd, float *st) {
  for (int j = 0; j < nk; j++) {
    float *row = st + (size_t)j * QORA_TILE;
    for (int r = 0; r < QORA_TILE; r++)
      row[r] = 0.0f;
    for (int d = 0; d < hd; d++)
      for (int r = 0; r < QORA_TILE; r++)
        row[r] += kb[(size_t)j * hd + d] * qt[(size_t)d * QORA_TILE + r];
  }
}


static void tile_accum(const float *st, const float *vb, int nk, int hd, float *ot) {
  for (int d = 0; d < hd; d++)
    for (int j = 0; j < nk; j++)
      for (int r = 0; r < QORA_TILE; r++)
        ot[(size_t)d * QORA_TILE + r] += vb[(size_t)j * hd + d] * st[(size_t)j * QORA_TILE + r];
}


static void swiglu(float *g, const float *u, int n) {
  for (int i = 0; i < n; i++)
    g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}


static float max_of(const float *x, int n) {
  float max = x[0];

  for (int i = 1; i < n; i++)
    max = x[i] > max ? x[i] : max;
  return max;
}


/* The lower bound keeps tiny weights normal: subnormal arithmetic is very slow. */
static float exp_sum(float *x, int n, float max) {
  float sum = 0.0f;

  for (int i = 0; i < n; i++) {
    x[i] = qora_exp_floor(x[i] - max);
    sum += x[i];
  }
  return sum;
}


static void exp_sub(float *x, const float *m, int n) {
  for (int i = 0; i < n; i++)
    x[i] = qora_exp_floor(x[i] - m[i]);
}


static void widen_f16(const uint16_t *x, float *y, int n) {
  for (int i = 0; i < n; i++)
    y[i] = qora_f16_to_f32(x[i]);
}


void qora_ops_install_scalar(qora_ops *k) {
  k->scores_f16 = scores_f16;
  k->scores_f32 = scores_f32;
  k->accum_f16 = accum_f16;
  k->accum_f32 = accum_f32;
  k->attend_f16 = attend_f16;
  k->attend_f32 = attend_f32;
  k->tile_scores = tile_scores;
  k->tile_accum = tile_accum;
  k->swiglu = swiglu;
  k->max = max_of;
  k->exp_sum = exp_sum;
  k->exp_sub = exp_sub;
  k->widen_f16 = widen_f16;
}


static void fill(qora_ops *k, int level) {
  qora_ops_install_scalar(k);
#if defined(__x86_64__)
  if (level >= QORA_CPU_AVX2)
    qora_ops_install_avx2(k);
  if (level >= QORA_CPU_AVX512)
    qora_ops_install_avx512(k);
#endif
}


const qora_ops *qora_ops_get(void) {
  int level = qora_cpu_level();
  qora_ops *k = &tables[level];

  pthread_once(&kv_walk_once, kv_walk_init);   /* before any kernel reads the walk */
  if (__atomic_load_n(&filled[level], __ATOMIC_ACQUIRE))
    return k;
  pthread_mutex_lock(&tables_mu);
  if (!__atomic_load_n(&filled[level], __ATOMIC_RELAXED)) {   /* or another thread did */
    fill(k, level);
    __atomic_store_n(&filled[level], 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&tables_mu);
  return k;
}


