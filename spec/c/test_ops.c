/*
** test_ops.c: the row kernels of every CPU level this machine has: attention against the
** scalar reference on random rows, odd head and group sizes; SwiGLU and softmax's exponentials
** against double-precision maths, extreme inputs included.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "quant.h"
#include "tap.h"

static float frand(void) {
  return (float)rand() / RAND_MAX * 2.0f - 1.0f;
}


static float max_rel(const float *a, const float *b, int n) {
  float worst = 0;

  for (int i = 0; i < n; i++) {
    float d = fabsf(a[i] - b[i]) / (1.0f + fabsf(b[i]));
    worst = d > worst ? d : worst;
  }
  return worst;
}


/* Runs one level's kernels and the reference on the same rows; returns the worst error. */
static float compare(int level, int f16, int n, int group, int hd) {
  size_t esz = f16 ? 2 : 4, stride = (size_t)hd * esz + 6 * esz;   /* rows not packed */
  unsigned char *k = malloc(stride * n), *v = malloc(stride * n);
  float *q = malloc(sizeof(float) * group * hd), *p = malloc(sizeof(float) * group * n);
  float *s[2], *o[2], worst = 0;

  for (int j = 0; j < n; j++)
    for (int i = 0; i < hd; i++) {
      float a = frand(), b = frand();
      if (f16) {
        ((qora_f16 *)(k + j * stride))[i] = qora_f32_to_f16(a);
        ((qora_f16 *)(v + j * stride))[i] = qora_f32_to_f16(b);
      } else {
        ((float *)(k + j * stride))[i] = a;
        ((float *)(v + j * stride))[i] = b;
      }
    }
  for (int i = 0; i < group * hd; i++)
    q[i] = frand();
  for (int i = 0; i < group * n; i++)
    p[i] = (float)rand() / RAND_MAX;
  for (int r = 0; r < 2; r++) {
    qora_cpu_set_level(r == 0 ? QORA_CPU_SCALAR : level);
    const qora_ops *kk = qora_ops_get();
    s[r] = calloc((size_t)group * n, sizeof(float));
    o[r] = calloc((size_t)group * hd, sizeof(float));
    (f16 ? kk->scores_f16 : kk->scores_f32)(k, v, stride, n, q, group, hd, 0.125f, s[r], n);
    (f16 ? kk->accum_f16 : kk->accum_f32)(v, stride, n, p, n, group, hd, o[r]);
  }
  worst = fmaxf(max_rel(s[1], s[0], group * n), max_rel(o[1], o[0], group * hd));
  for (int r = 0; r < 2; r++) {
    free(s[r]);
    free(o[r]);
  }
  free(k);
  free(v);
  free(q);
  free(p);
  return worst;
}


/*
** One level's attend against double precision worked out here in two passes (all the scores,
** their maximum, then the weights): the worst of the maximum's error, the sum's relative
** error and the output's error relative to the sum. Queries are large, so the scores spread
** over about +-20 and some weights reach the exponent's floor; with rising, every key's score
** is above the one before, so nearly every block raises the running maximum.
*/
static double check_attend(int f16, int n, int group, int hd, int rising) {
  size_t esz = f16 ? 2 : 4, stride = (size_t)hd * esz + 6 * esz;   /* rows not packed */
  unsigned char *k = malloc(stride * n), *v = malloc(stride * n);
  float *q = malloc(sizeof(float) * group * hd), *out = malloc(sizeof(float) * group * hd);
  float *kf = malloc(sizeof(float) * n * hd), *vf = malloc(sizeof(float) * n * hd);
  float *work = malloc(sizeof(float) * group * QORA_ATTEND_BLOCK), max[16], sum[16];
  double *sc = malloc(sizeof(double) * n), worst = 0, scale = 1.0 / sqrt(hd);

  for (int i = 0; i < group * hd; i++)
    q[i] = rising ? 4.0f + frand() : 60.0f * frand();
  for (int j = 0; j < n; j++)
    for (int i = 0; i < hd; i++) {
      float a = rising ? 0.1f * frand() + 2.0f * j / n : frand(), b = frand();
      if (f16) {
        ((qora_f16 *)(k + j * stride))[i] = qora_f32_to_f16(a);
        ((qora_f16 *)(v + j * stride))[i] = qora_f32_to_f16(b);
      }
      kf[j * hd + i] = f16 ? qora_f16_to_f32(qora_f32_to_f16(a)) : a;
      vf[j * hd + i] = f16 ? qora_f16_to_f32(qora_f32_to_f16(b)) : b;
      if (!f16) {
        ((float *)(k + j * stride))[i] = a;
        ((float *)(v + j * stride))[i] = b;
      }
    }
  const qora_ops *kk = qora_ops_get();
  (f16 ? kk->attend_f16 : kk->attend_f32)(k, v, stride, n, q, group, hd, (float)scale, max, sum,
                                          out, work);
  for (int h = 0; h < group; h++) {
    double m = -INFINITY, total = 0;
    for (int j = 0; j < n; j++) {
      sc[j] = 0;
      for (int i = 0; i < hd; i++)
        sc[j] += (double)q[h * hd + i] * kf[j * hd + i];
      sc[j] *= scale;
      m = fmax(m, sc[j]);
    }
    for (int j = 0; j < n; j++)
      total += sc[j] = exp(fmax(sc[j] - m, QORA_EXP_MIN));
    worst = fmax(worst, fmax(fabs(max[h] - m) / (1 + fabs(m)), fabs(sum[h] - total) / total));
    for (int i = 0; i < hd; i++) {
      double o = 0;
      for (int j = 0; j < n; j++)
        o += sc[j] * vf[j * hd + i];
      worst = fmax(worst, fabs(out[h * hd + i] - o) / total);
    }
    if (!isfinite(out[h * hd]) || !isfinite(sum[h]))
      worst = INFINITY;
  }
  free(k); free(v); free(q); free(out); free(kf); free(vf); free(work); free(sc);
  return worst;
}


/* A NaN in one key reaches the sum and the output of every head (a damaged weight must). */
static int attend_keeps_nan(int level, int n, int at) {
  enum { GROUP = 4, HD = 128 };
  static qora_f16 k[300 * HD], v[300 * HD];
  static float q[GROUP * HD], out[GROUP * HD], work[GROUP * QORA_ATTEND_BLOCK];
  float max[GROUP], sum[GROUP];

  for (int i = 0; i < n * HD; i++) {
    k[i] = qora_f32_to_f16(frand());
    v[i] = qora_f32_to_f16(frand());
  }
  for (int i = 0; i < GROUP * HD; i++)
    q[i] = frand();
  k[at * HD + 5] = 0x7e00;   /* F16 NaN */
  qora_cpu_set_level(level);
  qora_ops_get()->attend_f16(k, v, HD * 2, n, q, GROUP, HD, 0.125f, max, sum, out, work);
  for (int h = 0; h < GROUP; h++)
    if (!isnan(sum[h]) || !isnan(out[h * HD]))
      return 0;
  return 1;
}


/* Scores of 203 keys (8 heads, F16) in every walk are the same bits as with one run. */
static int scores_same_in_every_walk(int level) {
  enum { N = 203, GROUP = 8, HD = 64 };
  static qora_f16 k[N * HD];
  static float q[GROUP * HD], s[2][GROUP * N];
  qora_kv_walk own = qora_kv_get_walk();
  int same = 1;

  for (int i = 0; i < N * HD; i++)
    k[i] = qora_f32_to_f16(frand());
  for (int i = 0; i < GROUP * HD; i++)
    q[i] = frand();
  qora_cpu_set_level(level);
  for (int r = 0; r < 2; r++) {
    qora_kv_set_walk(r == 0 ? 1 : 4, r == 0 ? 0 : 16);
    qora_ops_get()->scores_f16(k, k, HD * 2, N, q, GROUP, HD, 0.125f, s[r], N);
  }
  for (int i = 0; i < GROUP * N && same; i++)
    if (memcmp(&s[0][i], &s[1][i], sizeof(float)) != 0) {
      TAP_DIAG("score %d: one run %.9g, four runs %.9g", i, s[0][i], s[1][i]);
      same = 0;
    }
  qora_kv_set_walk(own.runs, own.v_ahead);
  return same;
}


/*
** attend over 2115 keys (4 and 8 heads of 128, F16) gives the same bits in every walk the
** level takes: the walk decides what is asked for ahead and in which order rows are read,
** never the order of a sum.
*/
static int attend_same_in_every_walk(int level) {
  enum { N = 2115, HD = 128, MAXG = 8 };
  static const int walks[][2] = { { 1, 0 }, { 1, 16 }, { 1, 3 }, { 4, 0 }, { 4, 16 } };
  static qora_f16 k[N * HD], v[N * HD];
  static float q[MAXG * HD], out[2][MAXG * HD], work[MAXG * QORA_ATTEND_BLOCK];
  float max[2][MAXG], sum[2][MAXG];
  qora_kv_walk own = qora_kv_get_walk();
  int same = 1;

  for (int i = 0; i < N * HD; i++) {
    k[i] = qora_f32_to_f16(frand());
    v[i] = qora_f32_to_f16(frand());
  }
  for (int i = 0; i < MAXG * HD; i++)
    q[i] = frand();
  qora_cpu_set_level(level);
  for (int group = 4; group <= MAXG && same; group += 4)
    for (size_t w = 0; w < sizeof walks / sizeof *walks && same; w++) {
      int r = w > 0;
      if (walks[w][0] == 4 && level != QORA_CPU_AVX512)
        continue;
      qora_kv_set_walk(walks[w][0], walks[w][1]);
      qora_ops_get()->attend_f16(k, v, HD * 2, N, q, group, HD, 0.088f, max[r], sum[r],
                                 out[r], work);
      if (r && (memcmp(out[0], out[1], sizeof(float) * group * HD) != 0 ||
                memcmp(max[0], max[1], sizeof(float) * group) != 0 ||
                memcmp(sum[0], sum[1], sizeof(float) * group) != 0)) {
        TAP_DIAG("%d heads: walk (%d runs, %d ahead) differs from (1, 0)", group,
                 walks[w][0], walks[w][1]);
        same = 0;
      }
    }
  qora_kv_set_walk(own.runs, own.v_ahead);
  return same;
}


/* Worst relative error of a level's tile kernels (and F16 widening) against the scalar ones. */
static float check_tiles(int level, int nk, int hd) {
  float *qt = malloc(sizeof(float) * hd * QORA_TILE), *kb = malloc(sizeof(float) * 64 * hd);
  float *st[2], *ot[2], w[2][77], worst = 0;
  uint16_t h[77];

  for (int i = 0; i < hd * QORA_TILE; i++)
    qt[i] = frand();
  for (int i = 0; i < nk * hd; i++)
    kb[i] = frand();
  for (int i = 0; i < 77; i++)
    h[i] = qora_f32_to_f16(frand() * 100);
  for (int r = 0; r < 2; r++) {
    qora_cpu_set_level(r == 0 ? QORA_CPU_SCALAR : level);
    const qora_ops *o = qora_ops_get();
    st[r] = calloc((size_t)nk * QORA_TILE, sizeof(float));
    ot[r] = calloc((size_t)hd * QORA_TILE, sizeof(float));
    for (int i = 0; i < hd * QORA_TILE; i++)
      ot[r][i] = (float)(i % 7);
    o->tile_scores(qt, kb, nk, hd, st[r]);
    o->tile_accum(st[r], kb, nk, hd, ot[r]);
    o->widen_f16(h, w[r], 77);
  }
  worst = fmaxf(max_rel(st[1], st[0], nk * QORA_TILE), max_rel(ot[1], ot[0], hd * QORA_TILE));
  worst = fmaxf(worst, max_rel(w[1], w[0], 77) * 1e6f);   /* widening must be exact */
  for (int r = 0; r < 2; r++) {
    free(st[r]);
    free(ot[r]);
  }
  free(qt);
  free(kb);
  return worst;
}


/*
** The first length n (1 to 70) at which the maximum of n negative values, the largest placed
** at every index in turn, is not that value; -1 when there is none.
*/
static int check_max(int level) {
  float x[70];

  qora_cpu_set_level(level);
  const qora_ops *o = qora_ops_get();
  for (int n = 1; n <= 70; n++)
    for (int at = 0; at < n; at++) {
      for (int i = 0; i < n; i++)
        x[i] = -1.5f + 0.5f * frand();   /* -2 to -1 */
      x[at] = -0.5f;
      if (o->max(x, n) != -0.5f)
        return n;
    }
  return -1;
}


/* Worst error of swiglu and exp_sum at a level against double precision, in ulp-like units. */
static double check_exp(int level) {
  enum { N = 1037 };
  static float g[N], u[N], x[N], g0[N], x0[N];
  double worst = 0;

  for (int i = 0; i < N; i++) {
    g0[i] = g[i] = i < 8 ? (float)(i % 2 ? 1000 : -1000) * (i / 2 + 1) : frand() * 30.0f;
    u[i] = frand();
    x0[i] = x[i] = i < 4 ? -500.0f * (i + 1) : frand() * 80.0f - 80.0f;
  }
  qora_cpu_set_level(level);
  const qora_ops *o = qora_ops_get();
  o->swiglu(g, u, N);
  float sum = o->exp_sum(x, N, 0.0f);
  double want_sum = 0;
  for (int i = 0; i < N; i++) {
    double silu = g0[i] / (1.0 + exp(-(double)g0[i])) * u[i];
    double e = exp(fmax(x0[i], -87.3f));          /* the kernels clamp their inputs there */
    want_sum += e;
    worst = fmax(worst, fabs(g[i] - silu) / (fabs(silu) * 0x1p-23 + 1e-30));
    worst = fmax(worst, fabs(x[i] - e) / (e * 0x1p-23));
    if (!isfinite(g[i]) || !isfinite(x[i]))
      worst = INFINITY;
  }
  return fmax(worst, fabs(sum - want_sum) / (want_sum * 1e-5));
}


int main(void) {
  /*
  ** (keys, group, head_dim): odd sizes; key counts about 4 * SC_RUN_MIN (64), where the runs
  ** of keys start; groups of 2 and 6 with heads a whole number of vectors wide, which the
  ** four-head kernel must leave to the general one.
  */
  static const int shapes[][3] = { { 1, 1, 16 }, { 37, 4, 128 }, { 5, 3, 64 }, { 9, 5, 40 },
                                   { 64, 8, 32 }, { 3, 2, 6 },
                                   { 6, 4, 64 }, { 3, 8, 128 },
                                   { 67, 4, 128 }, { 203, 8, 64 }, { 63, 4, 32 },
                                   { 64, 4, 64 }, { 65, 12, 32 },
                                   { 66, 2, 64 }, { 70, 6, 32 } };
  /* AVX-512 takes every walk; the others one run, values 0, 3 or 16 rows ahead. */
  static const int walks[][2] = { { 1, 0 }, { 4, 0 }, { 4, 16 }, { 1, 3 }, { 1, 16 } };
  int best = qora_cpu_best();
  qora_kv_walk seen, own;

  /* The kernels read the walk without asking for it: the first qora_ops_get must set it. */
  (void)qora_ops_get();
  seen = qora_kv_walk_now;
  own = qora_kv_get_walk();
  TAP_OK(seen.runs == own.runs && seen.v_ahead == own.v_ahead, "the kernels see this CPU's "
         "walk over the keys from the first qora_ops_get (%d run(s), values %d rows ahead; "
         "the kernels saw %d and %d)", own.runs, own.v_ahead, seen.runs, seen.v_ahead);

  srand(11);
  for (int level = QORA_CPU_AVX2; level <= QORA_CPU_AVX512; level++) {
    if (level > best) {
      TAP_OK(1, "%s attention kernels # SKIP this CPU lacks %s", qora_cpu_name(level),
             qora_cpu_name(level));
      continue;
    }
    for (size_t w = 0; w < sizeof walks / sizeof *walks; w++)
      for (int f16 = 0; f16 < 2 && (level == QORA_CPU_AVX512 || walks[w][0] == 1); f16++) {
        float worst = 0;
        qora_kv_set_walk(walks[w][0], walks[w][1]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
          worst = fmaxf(worst, compare(level, f16, shapes[i][0], shapes[i][1], shapes[i][2]));
        TAP_OK(worst < 1e-4f, "%s %s attention kernels, %d run(s) of keys, values %d rows "
               "ahead, agree with the scalar reference (worst relative error %.2g)",
               qora_cpu_name(level), f16 ? "F16" : "F32", walks[w][0], walks[w][1], worst);
      }
  }
  for (int level = QORA_CPU_SCALAR; level <= QORA_CPU_AVX512; level++) {
    /*
    ** Key counts: below 64 (one run), 64 and over with n % 4 keys left after the runs, runs
    ** not a whole number of blocks (16 keys), a decoding chunk of 2048; SmolLM3's 4 heads of
    ** 128 and odd groups and widths, which go through the general kernels.
    */
    static const int shapes[][3] = { { 1, 1, 16 }, { 37, 4, 128 }, { 5, 3, 64 }, { 9, 5, 40 },
                                     { 64, 8, 32 }, { 3, 2, 6 }, { 67, 4, 128 }, { 203, 8, 64 },
                                     { 63, 4, 32 }, { 259, 4, 128 }, { 2048, 4, 128 },
                                     { 1000, 12, 32 }, { 130, 2, 64 }, { 70, 6, 32 } };
    if (level > best) {
      TAP_OK(1, "%s attend # SKIP this CPU lacks %s", qora_cpu_name(level),
             qora_cpu_name(level));
      continue;
    }
    for (size_t w = 0; w < sizeof walks / sizeof *walks; w++) {
      double worst = 0;
      if (level != QORA_CPU_AVX512 && walks[w][0] != 1)
        continue;
      qora_cpu_set_level(level);
      qora_kv_set_walk(walks[w][0], walks[w][1]);
      for (int f16 = 0; f16 < 2; f16++)
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
          for (int rising = 0; rising < 2; rising++)
            worst = fmax(worst, check_attend(f16, shapes[i][0], shapes[i][1], shapes[i][2],
                                             rising));
      TAP_OK(worst < 1e-4, "%s attend (scores, softmax and values in one walk), %d run(s) of "
             "keys, values %d rows ahead, agrees with double precision (worst error %.2g)",
             qora_cpu_name(level), walks[w][0], walks[w][1], worst);
    }
    qora_kv_set_walk(own.runs, own.v_ahead);
    TAP_OK(attend_keeps_nan(level, 1, 0) && attend_keeps_nan(level, 300, 0) &&
           attend_keeps_nan(level, 300, 150) && attend_keeps_nan(level, 300, 299),
           "%s attend: a NaN key, first, middle or last of 300 or alone, makes every head's "
           "sum and output NaN", qora_cpu_name(level));
  }
  qora_kv_set_walk(own.runs, own.v_ahead);
  TAP_OK(scores_same_in_every_walk(best), "the scores do not depend on the walk over the keys "
         "(bit for bit, 1 run against 4, 203 keys)");
  TAP_OK(attend_same_in_every_walk(best), "attend does not depend on the walk over the keys "
         "(bit for bit, 4 and 8 heads, 2115 keys, values 0, 3 and 16 rows ahead)");
  TAP_OK(qora_kv_set_walk(2, 0) < 0 && qora_kv_set_walk(4, -1) < 0 &&
         qora_kv_get_walk().runs == own.runs, "a walk of 2 runs or values -1 rows ahead is "
         "refused and leaves the walk as it was");
  for (int level = QORA_CPU_AVX2; level <= best; level++) {
    static const int shapes[][2] = { { 64, 128 }, { 1, 32 }, { 37, 64 }, { 5, 6 }, { 63, 7 } };
    float worst = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
      worst = fmaxf(worst, check_tiles(level, shapes[i][0], shapes[i][1]));
    TAP_OK(worst < 1e-4f, "%s prefill tile kernels and F16 widening agree with the scalar "
           "reference (worst relative error %.2g)", qora_cpu_name(level), worst);
  }
  for (int level = QORA_CPU_SCALAR; level <= best; level++) {
    int at = check_max(level);
    TAP_OK(at < 0, "%s maximum of a row is its largest value, wherever it is, at lengths "
           "1 to 70 (first wrong length, -1 if none: %d)", qora_cpu_name(level), at);
  }
  for (int level = QORA_CPU_SCALAR; level <= best; level++) {
    double worst = check_exp(level);
    TAP_OK(worst <= 4, "%s SwiGLU and softmax exponentials within 4 ulp of double precision "
           "(worst %.2f)", qora_cpu_name(level), worst);
  }
  qora_cpu_set_level(best);
  return tap_done();
}
