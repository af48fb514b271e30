/*
** quant_ref.c: scalar reference kernels for every type: dequantize (to_float), quantize
** (from_float) and dot products against the activation type. They define the numerics
** (those of GGML's CPU backend); the SIMD files must agree with them.
*/
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant_kernels.h"

#define F16(h) qora_f16_to_f32(h)

/* ------------------------------------------------------------------ float types */

void qora_to_float_f32(const void *x, float *y, int64_t n) {
  memcpy(y, x, (size_t)n * sizeof *y);
}


void qora_from_float_f32(const float *x, void *y, int64_t n) {
  memcpy(y, x, (size_t)n * sizeof *x);
}


void qora_to_float_f16(const void *x, float *y, int64_t n) {
  const qora_f16 *h = x;
  for (int64_t i = 0; i < n; i++)
    y[i] = qora_f16_to_f32(h[i]);
}


void qora_from_float_f16(const float *x, void *y, int64_t n) {
  qora_f16 *h = y;
  for (int64_t i = 0; i < n; i++)
    h[i] = qora_f32_to_f16(x[i]);
}


void qora_to_float_bf16(const void *x, float *y, int64_t n) {
  const qora_bf16 *h = x;
  for (int64_t i = 0; i < n; i++)
    y[i] = qora_bf16_to_f32(h[i]);
}


void qora_from_float_bf16(const float *x, void *y, int64_t n) {
  qora_bf16 *h = y;
  for (int64_t i = 0; i < n; i++)
    h[i] = qora_f32_to_bf16(x[i]);
}


/* Float dot products accumulate in double here; SIMD versions keep float lanes. */
void qora_vec_dot_f32(int n, float *s, const void *x, const void *y) {
  const float *a = x, *b = y;
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += (double)a[i] * b[i];
  *s = (float)sum;
}


void qora_vec_dot_f16(int n, float *s, const void *x, const void *y) {
  const qora_f16 *a = x, *b = y;
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += (double)qora_f16_to_f32(a[i]) * qora_f16_to_f32(b[i]);
  *s = (float)sum;
}


void qora_vec_dot_bf16(int n, float *s, const void *x, const void *y) {
  const qora_bf16 *a = x, *b = y;
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += (double)qora_bf16_to_f32(a[i]) * qora_bf16_to_f32(b[i]);
  *s = (float)sum;
}

/* ------------------------------------------------------------------ 32-value blocks */

/*
** Q4_0 and Q4_1 put value j of a block in the low nibble of qs[j] and value j + 16 in the
** high nibble.
*/
void qora_to_float_q4_0(const void *x, float *y, int64_t n) {
  const block_q4_0 *b = x;
  for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
    float d = F16(b[i].d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      y[j] = ((b[i].qs[j] & 0xf) - 8) * d;
      y[j + QK4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}


void qora_to_float_q4_1(const void *x, float *y, int64_t n) {
  const block_q4_1 *b = x;
  for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
    float d = F16(b[i].d), m = F16(b[i].m);
    for (int j = 0; j < QK4_1 / 2; j++) {
      y[j] = (b[i].qs[j] & 0xf) * d + m;
      y[j + QK4_1 / 2] = (b[i].qs[j] >> 4) * d + m;
    }
  }
}


void qora_to_float_q8_0(const void *x, float *y, int64_t n) {
  const block_q8_0 *b = x;
  for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
    float d = F16(b[i].d);
    for (int j = 0; j < QK8_0; j++)
      y[j] = b[i].qs[j] * d;
  }
}


void qora_to_float_q8_1(const void *x, float *y, int64_t n) {
  const block_q8_1 *b = x;
  for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
    float d = F16(b[i].d);
    for (int j = 0; j < QK8_1; j++)
      y[j] = b[i].qs[j] * d;
  }
}


/*
** Q4_0 weights (GGML's reference quantizer): the value of largest magnitude maps to -8, so
** d = max / -8, and q = x / d + 8 truncated after adding 0.5.
*/
void qora_from_float_q4_0(const float *x, void *y, int64_t n) {
  block_q4_0 *b = y;
  for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK4_0; j++)
      if (fabsf(x[j]) > amax) {
        amax = fabsf(x[j]);
        max = x[j];
      }
    float d = max / -8, id = d != 0 ? 1.0f / d : 0;
    b[i].d = qora_f32_to_f16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + 16] * id + 8.5f);
      q0 = q0 > 15 ? 15 : q0;
      q1 = q1 > 15 ? 15 : q1;
      b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}


/* Q4_1 weights: 16 levels from the block's min to its max, rounded half up. */
void qora_from_float_q4_1(const float *x, void *y, int64_t n) {
  block_q4_1 *b = y;
  for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < QK4_1; j++) {
      min = x[j] < min ? x[j] : min;
      max = x[j] > max ? x[j] : max;
    }
    float d = (max - min) / 15, id = d != 0 ? 1.0f / d : 0;
    b[i].d = qora_f32_to_f16(d);
    b[i].m = qora_f32_to_f16(min);
    for (int j = 0; j < QK4_1 / 2; j++) {
      int q0 = (int)(int8_t)((x[j] - min) * id + 0.5f);
      int q1 = (int)(int8_t)((x[j + 16] - min) * id + 0.5f);
      q0 = q0 > 15 ? 15 : q0;
      q1 = q1 > 15 ? 15 : q1;
      b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}


/*
** 1 when one of x[0 .. n) is NaN or infinite. A block of activations holding one gets a NaN
** scale and zero quants: the damage (a NaN or infinite weight upstream) then reaches the
** logits, which are checked, where the largest magnitude would have skipped a NaN and the
** quants of an infinity would have been NaN cast to an integer.
*/
static int any_not_finite(const float *x, int n) {
  for (int j = 0; j < n; j++)
    if (!(fabsf(x[j]) <= FLT_MAX))
      return 1;
  return 0;
}


/*
** Q8_0 / Q8_1 as GGML's x86 CPU backend quantizes activations: d = amax / 127, each value
** multiplied by 127 / amax and rounded to nearest even. Returns the sum of the quants.
*/
static int q8_block(const float *x, float *d_out, int8_t *qs) {
  float amax = 0;
  if (any_not_finite(x, 32)) {
    memset(qs, 0, 32);
    *d_out = NAN;
    return 0;
  }
  for (int j = 0; j < 32; j++)
    amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
  float id = amax != 0 ? 127.0f / amax : 0;
  int sum = 0;
  for (int j = 0; j < 32; j++) {
    qs[j] = (int8_t)nearbyintf(x[j] * id);
    sum += qs[j];
  }
  *d_out = amax / 127.0f;
  return sum;
}


void qora_from_float_q8_0(const float *x, void *y, int64_t n) {
  block_q8_0 *b = y;
  for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
    float d;
    q8_block(x, &d, b[i].qs);
    b[i].d = qora_f32_to_f16(d);
  }
}


void qora_from_float_q8_1(const float *x, void *y, int64_t n) {
  block_q8_1 *b = y;
  for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
    float d;
    int sum = q8_block(x, &d, b[i].qs);
    b[i].d = qora_f32_to_f16(d);
    b[i].s = qora_f32_to_f16(d * (float)sum);
  }
}


void qora_vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y) {
  const block_q4_0 *a = x;
  const block_q8_0 *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK8_0; i++) {
    int sumi = 0;
    for (int j = 0; j < QK8_0 / 2; j++)
      sumi += ((a[i].qs[j] & 0xf) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
    sum += (float)sumi * (F16(a[i].d) * F16(b[i].d));
  }
  *s = sum;
}


void qora_vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y) {
  const block_q4_1 *a = x;
  const block_q8_1 *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK8_1; i++) {
    int sumi = 0;
    for (int j = 0; j < QK8_1 / 2; j++)
      sumi += (a[i].qs[j] & 0xf) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
    sum += (float)sumi * (F16(a[i].d) * F16(b[i].d)) + F16(a[i].m) * F16(b[i].s);
  }
  *s = sum;
}


void qora_vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y) {
  const block_q8_0 *a = x, *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK8_0; i++) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; j++)
      sumi += a[i].qs[j] * b[i].qs[j];
    sum += (float)sumi * (F16(a[i].d) * F16(b[i].d));
  }
  *s = sum;
}

/* ------------------------------------------------------------------ 256-value K blocks */

void qora_k4_scales(const uint8_t *q, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    mn[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}


/* Q4_K: 4 groups of 64 values; in each, 32 bytes give the low nibbles then the high ones. */
void qora_to_float_q4_K(const void *x, float *y, int64_t n) {
  const block_q4_K *b = x;
  for (int64_t i = 0; i < n / QK_K; i++) {
    float d = F16(b[i].d), dmin = F16(b[i].dmin);
    uint8_t sc[8], mn[8];
    qora_k4_scales(b[i].scales, sc, mn);
    const uint8_t *q = b[i].qs;
    for (int g = 0; g < 4; g++, q += 32, y += 64) {
      float d1 = d * sc[2 * g], m1 = dmin * mn[2 * g];
      float d2 = d * sc[2 * g + 1], m2 = dmin * mn[2 * g + 1];
      for (int l = 0; l < 32; l++) {
        y[l] = d1 * (q[l] & 0xf) - m1;
        y[l + 32] = d2 * (q[l] >> 4) - m2;
      }
    }
  }
}


/* The 5-bit value v of a Q5_K block (0 <= v < 256): nibble plus one bit of qh. */
static int q5_K_value(const block_q5_K *b, int v) {
  int g = v / 64, l = v % 32, hi = (v % 64) >= 32;
  int lo4 = hi ? b->qs[32 * g + l] >> 4 : b->qs[32 * g + l] & 0xf;
  int bit = (b->qh[l] >> (2 * g + hi)) & 1;
  return lo4 | (bit << 4);
}


void qora_to_float_q5_K(const void *x, float *y, int64_t n) {
  const block_q5_K *b = x;
  for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
    float d = F16(b[i].d), dmin = F16(b[i].dmin);
    uint8_t sc[8], mn[8];
    qora_k4_scales(b[i].scales, sc, mn);
    for (int v = 0; v < QK_K; v++)
      y[v] = d * sc[v / 32] * q5_K_value(&b[i], v) - dmin * mn[v / 32];
  }
}


/*
** The 6-bit value v of a Q6_K block, minus 32. Per half of 128 values: ql holds 64 bytes
** (values l and l + 64 of the half in low / high nibbles of ql[l], l < 64), qh 32 bytes
** (2 bits each for values l, l + 32, l + 64, l + 96).
*/
static int q6_K_value(const block_q6_K *b, int v) {
  int h = v / 128, r = v % 128, l = r % 32, quarter = r / 32;
  const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
  int lo4 = quarter & 2 ? ql[l + 32 * (quarter & 1)] >> 4 : ql[l + 32 * (quarter & 1)] & 0xf;
  int hi2 = (qh[l] >> (2 * quarter)) & 3;
  return (lo4 | (hi2 << 4)) - 32;
}


void qora_to_float_q6_K(const void *x, float *y, int64_t n) {
  const block_q6_K *b = x;
  for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
    float d = F16(b[i].d);
    for (int v = 0; v < QK_K; v++)
      y[v] = d * b[i].scales[v / 16] * q6_K_value(&b[i], v);
  }
}


void qora_to_float_q8_K(const void *x, float *y, int64_t n) {
  const block_q8_K *b = x;
  for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
    for (int j = 0; j < QK_K; j++)
      y[j] = b[i].d * b[i].qs[j];
}


/*
** Q8_K activations (GGML's reference): the value of largest magnitude maps to -127 (or 127),
** rounding to nearest even; bsums hold the sum of each 16 quants, for the K-quant mins.
*/
void qora_from_float_q8_K(const float *x, void *y, int64_t n) {
  block_q8_K *b = y;
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK_K; j++)
      if (fabsf(x[j]) > amax) {
        amax = fabsf(x[j]);
        max = x[j];
      }
    memset(&b[i], 0, sizeof b[i]);
    if (any_not_finite(x, QK_K)) {
      b[i].d = NAN;
      continue;
    }
    if (amax == 0)
      continue;
    float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) {
      int q = (int)nearbyintf(iscale * x[j]);
      b[i].qs[j] = (int8_t)(q > 127 ? 127 : q);
      b[i].bsums[j / 16] += b[i].qs[j];
    }
    b[i].d = 1 / iscale;
  }
}


/* Sum over the 8 sub-blocks of 32 of sc[j] * dot(q, y) for 4- or 5-bit values. */
static void k_subsums(const int8_t *yq, const uint8_t *q, const uint8_t sc[8], int *sumi) {
  int total = 0;
  for (int j = 0; j < 8; j++) {
    int dot = 0;
    for (int l = 0; l < 32; l++)
      dot += q[32 * j + l] * yq[32 * j + l];
    total += sc[j] * dot;
  }
  *sumi = total;
}


/* sum_j mn[j] * (sum of the 32 quants of sub-block j), from the bsums. */
static int k_minsum(const block_q8_K *b, const uint8_t mn[8]) {
  int s = 0;
  for (int j = 0; j < 8; j++)
    s += mn[j] * (b->bsums[2 * j] + b->bsums[2 * j + 1]);
  return s;
}


void qora_vec_dot_q4_K_q8_K(int n, float *s, const void *x, const void *y) {
  const block_q4_K *a = x;
  const block_q8_K *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8], q[QK_K];
    qora_k4_scales(a[i].scales, sc, mn);
    for (int g = 0; g < 4; g++)
      for (int l = 0; l < 32; l++) {
        q[64 * g + l] = a[i].qs[32 * g + l] & 0xf;
        q[64 * g + l + 32] = a[i].qs[32 * g + l] >> 4;
      }
    int sumi;
    k_subsums(b[i].qs, q, sc, &sumi);
    sum += qora_k_combine(b[i].d, F16(a[i].d), F16(a[i].dmin), sumi, k_minsum(&b[i], mn));
  }
  *s = sum;
}


void qora_vec_dot_q5_K_q8_K(int n, float *s, const void *x, const void *y) {
  const block_q5_K *a = x;
  const block_q8_K *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8], q[QK_K];
    qora_k4_scales(a[i].scales, sc, mn);
    for (int v = 0; v < QK_K; v++)
      q[v] = (uint8_t)q5_K_value(&a[i], v);
    int sumi;
    k_subsums(b[i].qs, q, sc, &sumi);
    sum += qora_k_combine(b[i].d, F16(a[i].d), F16(a[i].dmin), sumi, k_minsum(&b[i], mn));
  }
  *s = sum;
}


void qora_vec_dot_q6_K_q8_K(int n, float *s, const void *x, const void *y) {
  const block_q6_K *a = x;
  const block_q8_K *b = y;
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    int sumi = 0;
    for (int j = 0; j < QK_K / 16; j++) {
      int dot = 0;
      for (int l = 0; l < 16; l++)
        dot += q6_K_value(&a[i], 16 * j + l) * b[i].qs[16 * j + l];
      sumi += a[i].scales[j] * dot;
    }
    sum += b[i].d * F16(a[i].d) * (float)sumi;
  }
  *s = sum;
}
