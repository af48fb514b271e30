/*
** ops_simd.h: the row kernels written once for any vector width. A file that includes it
** defines VEC, W (floats per vector), the operations VZERO, VLOAD, VLOAD_F16, VSTORE, VSET1,
** VFMA, VSUM, VADD, VSUB, VMUL, VDIV, VMAX, VMIN, VROUND (to nearest) and VSCALE2 (times 2^n
** for integral n), and INSTALL, the name of its installer.
*/
#include <math.h>
#include <string.h>

#include "ops.h"
#include "quant.h"

static float row_value(const void *row, int f16, int i) {
  return f16 ? qora_f16_to_f32(((const qora_f16 *)row)[i]) : ((const float *)row)[i];
}


/*
** Cached rows KV_AHEAD rows ahead are prefetched. With the cache laid out by position (each
** head's rows strided among the others') this took 4K decode from 7.6 to 10.6 tokens/s; with
** head-major rows, one core alone runs as fast without it, two decoding threads a little
** faster with it (Zen 4).
*/
#define KV_AHEAD 8

/* Keys whose scores are taken together (a file may set more, and VSUM4X4 for four). */
#ifndef SC_KEYS
#define SC_KEYS 1
#endif

/*
** Asks for the row KV_AHEAD rows past row when more says it is in the range. The address is
** made as an integer: past the cache's end a pointer there would be undefined, even unused.
*/
static inline void prefetch_row(const void *row, size_t stride, int bytes, int more) {
  uintptr_t p = (uintptr_t)row + KV_AHEAD * stride;

  if (!more)
    return;
  for (int i = 0; i < bytes; i += 64)
    __builtin_prefetch((const void *)(p + (uintptr_t)i));
}


/*
** Asks for the value row ahead rows past row into L2 (locality 2: prefetcht1). Callers ask
** only for rows of the range being read, never past the cache's end.
*/
static inline void prefetch_value(const void *row, size_t stride, int bytes, int ahead) {
  uintptr_t p = (uintptr_t)row + (size_t)ahead * stride;

  for (int i = 0; i < bytes; i += 64)
    __builtin_prefetch((const void *)(p + (uintptr_t)i), 0, 2);
}


/*
** Scores of four query heads for nk <= 4 keys, whatever rows they are: t[h * ts + r] for row
** r. The 4 * nk accumulators stay in registers, each query vector is loaded once for all the
** keys, and the chains of additions are independent.
*/
static inline __attribute__((always_inline))
void score_rows(const char *const *rows, int nk, const float *q, int hd, float scale,
                float *t, int ts, int f16) {
  VEC acc[4][4];

  #pragma GCC unroll 4
  for (int r = 0; r < nk; r++)
    #pragma GCC unroll 4
    for (int h = 0; h < 4; h++)
      acc[r][h] = VZERO();
  for (int i = 0; i < hd; i += W) {
    VEC kv[4];
    #pragma GCC unroll 4
    for (int r = 0; r < nk; r++)
      kv[r] = f16 ? VLOAD_F16((const qora_f16 *)rows[r] + i)
                  : VLOAD((const float *)rows[r] + i);
    #pragma GCC unroll 4
    for (int h = 0; h < 4; h++) {
      VEC qv = VLOAD(q + h * hd + i);
      #pragma GCC unroll 4
      for (int r = 0; r < nk; r++)
        acc[r][h] = VFMA(qv, kv[r], acc[r][h]);
    }
  }
#if defined(VSUM4X4)
  if (nk == 4) {
    VSUM4X4(acc, scale, t, ts);
    return;
  }
#endif
  #pragma GCC unroll 4
  for (int r = 0; r < nk; r++) {
    float dot[4];
    VSUM4(acc[r], dot);
    #pragma GCC unroll 4
    for (int h = 0; h < 4; h++)
      t[h * ts + r] = dot[h] * scale;
  }
}


#if defined(SC_HEAD_PAIRS)
/*
** Scores of two query heads for four keys, for CPUs with 16 vector registers: 8 accumulators
** where four heads took 16 and spilled. Each key's row is widened once per pair of heads, and
** each sum is taken as score_rows takes it, to the same bits: VSUM2X4, which a file that sets
** SC_HEAD_PAIRS defines, takes the eight sums at once (half the horizontal adds of VSUM4 on
** each pair) and writes each head's four scores side by side, t0 and t1.
*/
static inline __attribute__((always_inline))
void score_rows_h2(const char *const *rows, const float *q, int hd, float scale, float *t0,
                   float *t1, int f16) {
  VEC acc[4][2];

  #pragma GCC unroll 4
  for (int r = 0; r < 4; r++)
    acc[r][0] = acc[r][1] = VZERO();
  for (int i = 0; i < hd; i += W) {
    VEC kv[4];
    #pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
      kv[r] = f16 ? VLOAD_F16((const qora_f16 *)rows[r] + i)
                  : VLOAD((const float *)rows[r] + i);
    #pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      VEC qv = VLOAD(q + h * hd + i);
      #pragma GCC unroll 4
      for (int r = 0; r < 4; r++)
        acc[r][h] = VFMA(qv, kv[r], acc[r][h]);
    }
  }
  VEC byhead[8] = {acc[0][0], acc[1][0], acc[2][0], acc[3][0],
                   acc[0][1], acc[1][1], acc[2][1], acc[3][1]};
  VSUM2X4(byhead, scale, t0, t1);
}
#endif


/*
** Scores of four query heads when head_dim is a multiple of W, for nk <= SC_KEYS keys at a
** time. left: the rows from k to the end.
*/
static inline __attribute__((always_inline))
void scores4_keys(const void *k, const void *v, size_t stride, int nk, int left,
                  const float *q, int hd, float scale, float *s, int ss, int f16) {
  const char *rows[SC_KEYS];
  int va = qora_kv_walk_now.v_ahead;

  #pragma GCC unroll 8
  for (int r = 0; r < nk; r++) {
    rows[r] = (const char *)k + r * stride;
    prefetch_row(rows[r], stride, hd * (f16 ? 2 : 4), r + KV_AHEAD < left);
    if (v != NULL && va > 0 && r + va < left)
      prefetch_value((const char *)v + r * stride, stride, hd * (f16 ? 2 : 4), va);
  }
  score_rows(rows, nk, q, hd, scale, s, ss, f16);
}


#if defined(VSUM4X4)
/*
** Scores of four query heads for keys j, j + run, j + 2 run and j + 3 run together, j < run:
** four far-apart runs of the range are read side by side, each with its own prefetches, as
** the r16 decode kernels read a matrix on Intel. Each key's sum is taken as four keys at a
** time take it in one run (VSUM4X4), and the n % 4 keys left are taken one at a time in
** either walk, so the scores are the same bits whatever the walk.
*/
static inline __attribute__((always_inline))
void scores4_runs(const void *k, const void *v, size_t stride, int run, const float *q,
                  int hd, float scale, float *s, int ss, int f16) {
  int bytes = hd * (f16 ? 2 : 4), va = v != NULL ? qora_kv_walk_now.v_ahead : 0;

  for (int j = 0; j < run; j++) {
    const char *rows[4];
    float t[16];
    #pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      size_t at = (size_t)(j + r * run) * stride;
      rows[r] = (const char *)k + at;
      prefetch_row(rows[r], stride, bytes, j + KV_AHEAD < run);
      if (va > 0 && j + va < run)
        prefetch_value((const char *)v + at, stride, bytes, va);
    }
    score_rows(rows, 4, q, hd, scale, t, 4, f16);
    #pragma GCC unroll 4
    for (int h = 0; h < 4; h++)
      #pragma GCC unroll 4
      for (int r = 0; r < 4; r++)
        s[h * ss + j + r * run] = t[h * 4 + r];
  }
}
#endif


/* Runs of fewer keys than this are read as one: the split gains nothing on short ranges. */
#define SC_RUN_MIN 16

static inline __attribute__((always_inline))
void scores4(const void *k, const void *v, size_t stride, int n, const float *q, int hd,
             float scale, float *s, int ss, int f16) {
  int j = 0;

#if defined(VSUM4X4)
  if (qora_kv_walk_now.runs == 4 && n >= 4 * SC_RUN_MIN) {
    int run = n / 4;
    scores4_runs(k, v, stride, run, q, hd, scale, s, ss, f16);
    j = 4 * run;
  }
#endif
  for (; j + SC_KEYS <= n; j += SC_KEYS)
    scores4_keys((const char *)k + j * stride, v ? (const char *)v + j * stride : NULL, stride,
                 SC_KEYS, n - j, q, hd, scale, s + j, ss, f16);
  for (; j < n; j++)
    scores4_keys((const char *)k + j * stride, v ? (const char *)v + j * stride : NULL, stride,
                 1, n - j, q, hd, scale, s + j, ss, f16);
}


/* Attention: query heads are taken four at a time so each cached row is widened once. */
static inline __attribute__((always_inline))
void scores(const void *k, const void *v, size_t stride, int n, const float *q, int group,
            int hd, float scale, float *s, int ss, int f16) {
  int vec = hd / W * W;

  if (group % 4 == 0 && hd % W == 0) {
    for (int h0 = 0; h0 < group; h0 += 4)   /* the values are asked for once */
      scores4(k, h0 == 0 ? v : NULL, stride, n, q + h0 * hd, hd, scale, s + h0 * ss, ss, f16);
    return;
  }

  for (int j = 0; j < n; j++) {
    const void *row = (const char *)k + j * stride;
    prefetch_row(row, stride, hd * (f16 ? 2 : 4), j + KV_AHEAD < n);
    for (int h0 = 0; h0 < group; h0 += 4) {
      int nh = group - h0 < 4 ? group - h0 : 4;
      VEC acc[4] = { VZERO(), VZERO(), VZERO(), VZERO() };
      for (int i = 0; i < vec; i += W) {
        VEC kv = f16 ? VLOAD_F16((const qora_f16 *)row + i) : VLOAD((const float *)row + i);
        for (int h = 0; h < nh; h++)
          acc[h] = VFMA(VLOAD(q + (h0 + h) * hd + i), kv, acc[h]);
      }
      for (int h = 0; h < nh; h++) {
        float dot = VSUM(acc[h]);
        for (int i = vec; i < hd; i++)
          dot += q[(h0 + h) * hd + i] * row_value(row, f16, i);
        s[(h0 + h) * ss + j] = dot * scale;
      }
    }
  }
}


/*
** The ACC_V vectors from i0 of four heads' output rows, out[h * hd + i0 ...], into registers
** (load) or back (store).
*/
static inline __attribute__((always_inline))
void acc4_load(VEC acc[4][ACC_V], const float *out, int hd, int i0) {
  #pragma GCC unroll 4
  for (int h = 0; h < 4; h++)
    #pragma GCC unroll 4
    for (int u = 0; u < ACC_V; u++)
      acc[h][u] = VLOAD(out + h * hd + i0 + u * W);
}


static inline __attribute__((always_inline))
void acc4_store(VEC acc[4][ACC_V], float *out, int hd, int i0) {
  #pragma GCC unroll 4
  for (int h = 0; h < 4; h++)
    #pragma GCC unroll 4
    for (int u = 0; u < ACC_V; u++)
      VSTORE(out + h * hd + i0 + u * W, acc[h][u]);
}


/* Adds one value row's ACC_V vectors from i0, weighted by w[h * ws] for head h. */
static inline __attribute__((always_inline))
void acc4_add_row(VEC acc[4][ACC_V], const char *row, int i0, const float *w, int ws,
                  int f16) {
  VEC x[ACC_V];

  #pragma GCC unroll 4
  for (int u = 0; u < ACC_V; u++)
    x[u] = f16 ? VLOAD_F16((const qora_f16 *)row + i0 + u * W)
               : VLOAD((const float *)row + i0 + u * W);
  #pragma GCC unroll 4
  for (int h = 0; h < 4; h++) {
    VEC b = VSET1(w[h * ws]);
    #pragma GCC unroll 4
    for (int u = 0; u < ACC_V; u++)
      acc[h][u] = VFMA(b, x[u], acc[h][u]);
  }
}


/*
** Values for four query heads when head_dim is a multiple of ACC_V vectors: each pass keeps
** ACC_V vectors of the four outputs in registers over all n rows, where the general loop below
** loads and stores them once per row. The additions are the same, in the same order.
*/
static inline __attribute__((always_inline))
void accum4(const void *v, size_t stride, int n, const float *p, int ps, int hd, float *out,
            int f16) {
  for (int i0 = 0; i0 < hd; i0 += ACC_V * W) {
    VEC acc[4][ACC_V];

    acc4_load(acc, out, hd, i0);
    for (int j = 0; j < n; j++) {
      const char *row = (const char *)v + j * stride;
      if (i0 == 0)
        prefetch_row(row, stride, hd * (f16 ? 2 : 4), j + KV_AHEAD < n);
      acc4_add_row(acc, row, i0, p + j, ps, f16);
    }
    acc4_store(acc, out, hd, i0);
  }
}


static inline __attribute__((always_inline))
void accum(const void *v, size_t stride, int n, const float *p, int ps, int group, int hd,
           float *out, int f16) {
  int vec = hd / W * W;

  if (group % 4 == 0 && hd % (ACC_V * W) == 0) {
    for (int h0 = 0; h0 < group; h0 += 4)
      accum4(v, stride, n, p + h0 * ps, ps, hd, out + h0 * hd, f16);
    return;
  }

  for (int j = 0; j < n; j++) {
    const void *row = (const char *)v + j * stride;
    prefetch_row(row, stride, hd * (f16 ? 2 : 4), j + KV_AHEAD < n);
    for (int i = 0; i < vec; i += W) {
      VEC vv = f16 ? VLOAD_F16((const qora_f16 *)row + i) : VLOAD((const float *)row + i);
      for (int h = 0; h < group; h++) {
        float *o = out + h * hd + i;
        VSTORE(o, VFMA(VSET1(p[h * ps + j]), vv, VLOAD(o)));
      }
    }
    for (int i = vec; i < hd; i++)
      for (int h = 0; h < group; h++)
        out[h * hd + i] += p[h * ps + j] * row_value(row, f16, i);
  }
}


static void scores_f16(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *s, int ss) {
  scores(k, v, stride, n, q, group, hd, scale, s, ss, 1);
}


static void scores_f32(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *s, int ss) {
  scores(k, v, stride, n, q, group, hd, scale, s, ss, 0);
}


static void accum_f16(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  accum(v, stride, n, p, ps, group, hd, out, 1);
}


static void accum_f32(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  accum(v, stride, n, p, ps, group, hd, out, 0);
}


/*
** Tiles: the 64 query rows are NV vectors. Scores take TILE_KJ keys at a time against RV row
** vectors (TILE_KJ * RV accumulators); the output takes TILE_KD dimensions at a time.
*/
#define NV (QORA_TILE / W)
#define RV (NV < 4 ? NV : 4)

static void tile_scores(const float *qt, const float *kb, int nk, int hd, float *st) {
  int j = 0;

  for (; j + TILE_KJ <= nk; j += TILE_KJ)
    for (int v0 = 0; v0 < NV; v0 += RV) {
      VEC acc[TILE_KJ][RV];
      #pragma GCC unroll 8
      for (int k = 0; k < TILE_KJ; k++)
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          acc[k][v] = VZERO();
      for (int d = 0; d < hd; d++) {
        VEC q[RV];
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          q[v] = VLOAD(qt + (size_t)d * QORA_TILE + (v0 + v) * W);
        #pragma GCC unroll 8
        for (int k = 0; k < TILE_KJ; k++) {
          VEC b = VSET1(kb[(size_t)(j + k) * hd + d]);
          #pragma GCC unroll 8
          for (int v = 0; v < RV; v++)
            acc[k][v] = VFMA(b, q[v], acc[k][v]);
        }
      }
      #pragma GCC unroll 8
      for (int k = 0; k < TILE_KJ; k++)
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          VSTORE(st + (size_t)(j + k) * QORA_TILE + (v0 + v) * W, acc[k][v]);
    }
  for (; j < nk; j++)
    for (int v = 0; v < NV; v++) {
      VEC acc = VZERO();
      for (int d = 0; d < hd; d++)
        acc = VFMA(VSET1(kb[(size_t)j * hd + d]), VLOAD(qt + (size_t)d * QORA_TILE + v * W),
                   acc);
      VSTORE(st + (size_t)j * QORA_TILE + v * W, acc);
    }
}


static void tile_accum(const float *st, const float *vb, int nk, int hd, float *ot) {
  int d = 0;

  for (; d + TILE_KD <= hd; d += TILE_KD)
    for (int v0 = 0; v0 < NV; v0 += RV) {
      VEC acc[TILE_KD][RV];
      #pragma GCC unroll 8
      for (int k = 0; k < TILE_KD; k++)
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          acc[k][v] = VLOAD(ot + (size_t)(d + k) * QORA_TILE + (v0 + v) * W);
      for (int j = 0; j < nk; j++) {
        VEC p[RV];
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          p[v] = VLOAD(st + (size_t)j * QORA_TILE + (v0 + v) * W);
        #pragma GCC unroll 8
        for (int k = 0; k < TILE_KD; k++) {
          VEC b = VSET1(vb[(size_t)j * hd + d + k]);
          #pragma GCC unroll 8
          for (int v = 0; v < RV; v++)
            acc[k][v] = VFMA(b, p[v], acc[k][v]);
        }
      }
      #pragma GCC unroll 8
      for (int k = 0; k < TILE_KD; k++)
        #pragma GCC unroll 8
        for (int v = 0; v < RV; v++)
          VSTORE(ot + (size_t)(d + k) * QORA_TILE + (v0 + v) * W, acc[k][v]);
    }
  for (; d < hd; d++)
    for (int v = 0; v < NV; v++) {
      VEC acc = VLOAD(ot + (size_t)d * QORA_TILE + v * W);
      for (int j = 0; j < nk; j++)
        acc = VFMA(VSET1(vb[(size_t)j * hd + d]), VLOAD(st + (size_t)j * QORA_TILE + v * W),
                   acc);
      VSTORE(ot + (size_t)d * QORA_TILE + v * W, acc);
    }
}


/*
** exp(x) for x in [QORA_EXP_MIN, 88.7] (inputs are clamped there, so results stay normal and
** finite): x = n ln 2 + r with |r| <= ln 2 / 2, a degree-7 polynomial for exp(r) (Cephes'
** expf coefficients), then the exponent raised by n. Within 2 ulp of expf. A NaN stays NaN,
** as in qora_exp_floor: VMAX and VMIN return their second operand when one is NaN.
*/
static inline VEC vexp(VEC x) {
  x = VMIN(VSET1(88.7f), VMAX(VSET1(QORA_EXP_MIN), x));
  VEC n = VROUND(VMUL(x, VSET1(1.44269504088896341f)));
  VEC r = VSUB(VSUB(x, VMUL(n, VSET1(0.693359375f))), VMUL(n, VSET1(-2.12194440e-4f)));
  VEC p = VSET1(1.9875691500e-4f);
  p = VFMA(p, r, VSET1(1.3981999507e-3f));
  p = VFMA(p, r, VSET1(8.3334519073e-3f));
  p = VFMA(p, r, VSET1(4.1665795894e-2f));
  p = VFMA(p, r, VSET1(1.6666665459e-1f));
  p = VFMA(p, r, VSET1(5.0000001201e-1f));
  p = VFMA(p, VMUL(r, r), VADD(r, VSET1(1.0f)));
  return VSCALE2(p, n);
}


static void swiglu(float *g, const float *u, int n) {
  int i = 0;

  for (; i + W <= n; i += W) {
    VEC x = VLOAD(g + i);
    VEC silu = VDIV(x, VADD(VSET1(1.0f), vexp(VSUB(VZERO(), x))));
    VSTORE(g + i, VMUL(silu, VLOAD(u + i)));
  }
  for (; i < n; i++)
    g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}


/*
** The maximum is exact in any order, so this returns what the scalar loop does. Decoding at
** 2048 keys a chunk, the scalar loop took 4.4 us of an item's 54 (Zen 4, rows in cache).
*/
static float max_of(const float *x, int n) {
  VEC m = VSET1(x[0]);
  float lanes[W], max = x[0];
  int i = 0;

  for (; i + W <= n; i += W)
    m = VMAX(m, VLOAD(x + i));
  VSTORE(lanes, m);
  for (int k = 0; k < W; k++)
    max = lanes[k] > max ? lanes[k] : max;
  for (; i < n; i++)
    max = x[i] > max ? x[i] : max;
  return max;
}


static float exp_sum(float *x, int n, float max) {
  VEC acc = VZERO(), m = VSET1(max);
  float sum = 0.0f;
  int i = 0;

  for (; i + W <= n; i += W) {
    VEC e = vexp(VSUB(VLOAD(x + i), m));
    VSTORE(x + i, e);
    acc = VADD(acc, e);
  }
  for (; i < n; i++) {
    x[i] = qora_exp_floor(x[i] - max);
    sum += x[i];
  }
  return sum + VSUM(acc);
}


static void exp_sub(float *x, const float *m, int n) {
  int i = 0;

  for (; i + W <= n; i += W)
    VSTORE(x + i, vexp(VSUB(VLOAD(x + i), VLOAD(m + i))));
  for (; i < n; i++)
    x[i] = qora_exp_floor(x[i] - m[i]);
}


static void widen_f16(const uint16_t *x, float *y, int n) {
  int i = 0;

  for (; i + W <= n; i += W)
    VSTORE(y + i, VLOAD_F16(x + i));
  for (; i < n; i++)
    y[i] = qora_f16_to_f32(x[i]);
}


/*
** attend: a range of keys in one walk. Blocks of AT_RUN keys from each of the four runs (or
** QORA_ATTEND_BLOCK keys from one) are scored, folded into the running maximum and sum, and
** their values added at once. While a block's values are added from L2, the next block's keys
** and values are asked for, so memory is not left idle during a separate pass over the
** values from L2. On two threads (Xeon model 207, SmolLM3-3B's 36 layers, layers taking turns
** with the two passes in one process, 3 runs), attention at 16K keys took 117, 143 and 163 ms
** per token against 137, 165 and 183 (11 to 15 % less), at 4K 47.5 against 51.8; a bare read
** of the same rows took 95 to 125 ms at 16K.
*/
#define AT_RUN (QORA_ATTEND_BLOCK / 4)

/* Rows ahead of the scores that the keys are asked for into L2 in the four-run walk. */
#define AT_K_AHEAD 4

/* One block: parts runs of len rows, at byte offsets off, left rows to each run's end. */
typedef struct at_block {
  size_t off[4];
  int parts, len, left;
} at_block;


/*
** Scores of a block for four heads, s[h * QORA_ATTEND_BLOCK + part * len + row]. In the
** four-run walk most rows asked for here (keys AT_K_AHEAD rows on; values v_ahead rows on,
** with Intel's 16 the next block's) were asked for already by block_accum4, and with every
** row in L2 the requests took 13 % of the samples. Yet leaving either set out lost
** time (Xeon model 207, 2 threads, 144 heads, the versions taking turns in one process): none
** here, 44 % more at 16K and 4K keys; values here and keys there only, 4 to 10 % more.
*/
static inline __attribute__((always_inline))
void block_scores4(const char *k, const char *v, size_t stride, const at_block *b,
                   const float *q, int hd, float scale, float *s, int f16) {
  int bytes = hd * (f16 ? 2 : 4), va = v != NULL ? qora_kv_walk_now.v_ahead : 0;
  const char *rows[4];
  float t[16];
  int j = 0;

  if (b->parts == 4) {
    for (; j < b->len; j++) {
      #pragma GCC unroll 4
      for (int r = 0; r < 4; r++) {
        size_t at = b->off[r] + (size_t)j * stride;
        rows[r] = k + at;
        if (v != NULL && j + AT_K_AHEAD < b->left)
          prefetch_value(k + at, stride, bytes, AT_K_AHEAD);
        if (va > 0 && j + va < b->left)
          prefetch_value(v + at, stride, bytes, va);
      }
      score_rows(rows, 4, q, hd, scale, t, 4, f16);
      #pragma GCC unroll 4
      for (int h = 0; h < 4; h++)
        #pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
          s[h * QORA_ATTEND_BLOCK + r * b->len + j] = t[h * 4 + r];
    }
    return;
  }
  for (; j < b->len; j += 4) {
    int nk = b->len - j < 4 ? b->len - j : 4;
    #pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      size_t at = b->off[0] + (size_t)(j + r) * stride;
      rows[r] = k + at;
      prefetch_row(k + at, stride, bytes, r < nk && j + r + KV_AHEAD < b->left);
      if (r < nk && va > 0 && j + r + va < b->left)
        prefetch_value(v + at, stride, bytes, va);
    }
#if defined(SC_HEAD_PAIRS)
    if (nk == 4) {   /* straight into s: four keys' scores of a head are side by side */
      for (int h = 0; h < 4; h += 2)
        score_rows_h2(rows, q + h * hd, hd, scale, s + h * QORA_ATTEND_BLOCK + j,
                      s + (h + 1) * QORA_ATTEND_BLOCK + j, f16);
      continue;
    }
#endif
    if (nk == 4)
      score_rows(rows, 4, q, hd, scale, t, 4, f16);
    else
      for (int r = 0; r < nk; r++)
        score_rows(rows + r, 1, q, hd, scale, t + r, 4, f16);
    #pragma GCC unroll 4
    for (int h = 0; h < 4; h++)
      for (int r = 0; r < nk; r++)
        s[h * QORA_ATTEND_BLOCK + j + r] = t[h * 4 + r];
  }
}


/*
** The values of a block for four heads, weighted by p[h * QORA_ATTEND_BLOCK + key]. When the
** walk asks for rows ahead and k is not NULL, the rows of keys and values one block further
** on are asked for into L2 meanwhile, in the first pass; the other passes are unrolled, four
** rows a turn, as the loop's counting and its test for the requests were about a third of
** its instructions. With VSUM2X4, attention over 144 heads of 16K F16 keys on 2 threads took
** 8 to 10 % less time (in one process, the two versions taking turns; Zen 3), and a whole
** SmolLM3-3B Q4_0 decode step at 16K 5 % less (134.6 against 128.0 ms, 22 steps each).
*/
static inline __attribute__((always_inline))
void block_accum4(const char *k, const char *v, size_t stride, const at_block *b,
                  const float *p, int hd, float *out, int f16) {
  int bytes = hd * (f16 ? 2 : 4), ahead = k != NULL && qora_kv_walk_now.v_ahead > 0;

  for (int i0 = 0; i0 < hd; i0 += ACC_V * W) {
    VEC acc[4][ACC_V];

    acc4_load(acc, out, hd, i0);
    for (int r = 0; r < b->parts; r++) {
      const char *rows = v + b->off[r];
      const float *pr = p + r * b->len;
      int j = 0;
      if (i0 == 0 && ahead)
        for (; j < b->len; j++) {
          if (j + b->len < b->left) {   /* the next block's rows */
            prefetch_value(rows + (size_t)j * stride, stride, bytes, b->len);
            prefetch_value(k + b->off[r] + (size_t)j * stride, stride, bytes, b->len);
          }
          acc4_add_row(acc, rows + (size_t)j * stride, i0, pr + j, QORA_ATTEND_BLOCK, f16);
        }
      #pragma GCC unroll 4
      for (; j < b->len; j++)
        acc4_add_row(acc, rows + (size_t)j * stride, i0, pr + j, QORA_ATTEND_BLOCK, f16);
    }
    acc4_store(acc, out, hd, i0);
  }
}


/*
** Folds a head's n block scores x into its running maximum and sum and its output row:
** a new maximum scales what was gathered by exp(old - new) first. x becomes the weights.
*/
static inline void fold_block(float *x, int n, float *max, float *sum, float *out, int hd) {
  float m = max_of(x, n);

  if (m > *max) {
    float c = qora_exp_floor(*max - m);
    int i = 0;
    *sum *= c;
    for (; i + W <= hd; i += W)
      VSTORE(out + i, VMUL(VLOAD(out + i), VSET1(c)));
    for (; i < hd; i++)
      out[i] *= c;
    *max = m;
  }
  *sum += exp_sum(x, n, *max);
}


static inline __attribute__((always_inline))
void attend_block(const char *k, const char *v, size_t stride, const at_block *b,
                  const float *q, int group, int hd, float scale, float *max, float *sum,
                  float *out, float *s, int f16) {
  int fast = group % 4 == 0 && hd % W == 0, n = b->parts * b->len;

  for (int r = 0; r < b->parts; r++)
    if (!fast)
      scores(k + b->off[r], NULL, stride, b->len, q, group, hd, scale, s + r * b->len,
             QORA_ATTEND_BLOCK, f16);
  for (int h0 = 0; fast && h0 < group; h0 += 4)
    block_scores4(k, h0 == 0 ? v : NULL, stride, b, q + h0 * hd, hd, scale,
                  s + h0 * QORA_ATTEND_BLOCK, f16);
  for (int h = 0; h < group; h++)
    fold_block(s + h * QORA_ATTEND_BLOCK, n, max + h, sum + h, out + h * hd, hd);
  if (group % 4 == 0 && hd % (ACC_V * W) == 0) {
    for (int h0 = 0; h0 < group; h0 += 4)
      block_accum4(h0 == 0 ? k : NULL, v, stride, b, s + h0 * QORA_ATTEND_BLOCK, hd,
                   out + h0 * hd, f16);
    return;
  }
  for (int r = 0; r < b->parts; r++)
    accum(v + b->off[r], stride, b->len, s + r * b->len, QORA_ATTEND_BLOCK, group, hd, out,
          f16);
}


static inline __attribute__((always_inline))
void attend(const void *k, const void *v, size_t stride, int n, const float *q, int group,
            int hd, float scale, float *max, float *sum, float *out, float *work, int f16) {
  int four = 0;

#if defined(VSUM4X4)
  four = qora_kv_walk_now.runs == 4 && n >= 4 * SC_RUN_MIN;
#endif
  int run = four ? n / 4 : n, step = four ? AT_RUN : QORA_ATTEND_BLOCK;
  at_block b = { { 0 }, four ? 4 : 1, 0, 0 };

  for (int h = 0; h < group; h++) {
    max[h] = -INFINITY;
    sum[h] = 0.0f;
  }
  memset(out, 0, (size_t)group * hd * sizeof *out);
  for (int j = 0; j < run; j += step) {
    b.len = run - j < step ? run - j : step;
    b.left = run - j;
    for (int r = 0; r < b.parts; r++)
      b.off[r] = (size_t)(j + r * run) * stride;
    attend_block(k, v, stride, &b, q, group, hd, scale, max, sum, out, work, f16);
  }
  if (four && n % 4 != 0) {
    b = (at_block){ { (size_t)(4 * run) * stride }, 1, n % 4, n % 4 };
    attend_block(k, v, stride, &b, q, group, hd, scale, max, sum, out, work, f16);
  }
}


static void attend_f16(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *max, float *sum, float *out,
                       float *work) {
  attend(k, v, stride, n, q, group, hd, scale, max, sum, out, work, 1);
}


static void attend_f32(const void *k, const void *v, size_t stride, int n, const float *q,
                       int group, int hd, float scale, float *max, float *sum, float *out,
                       float *work) {
  attend(k, v, stride, n, q, group, hd, scale, max, sum, out, work, 0);
}


void INSTALL(qora_ops *k) {
  k->attend_f16 = attend_f16;
  k->attend_f32 = attend_f32;
  k->scores_f16 = scores_f16;
  k->scores_f32 = scores_f32;
  k->accum_f16 = accum_f16;
  k->accum_f32 = accum_f32;
  k->tile_scores = tile_scores;
  k->tile_accum = tile_accum;
  k->swiglu = swiglu;
  k->max = max_of;
  k->exp_sum = exp_sum;
  k->exp_sub = exp_sub;
  k->widen_f16 = widen_f16;
}
