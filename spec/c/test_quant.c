/*
** test_quant.c: conversions, dequantization of hand-made blocks, the quantizers and every
** vec_dot, at every CPU level this machine supports.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "quant_kernels.h"
#include "rand_blocks.h"
#include "tap.h"

/* Compares n floats; reports the first difference. */
static int same_floats(const float *want, const float *got, int n, double tol, const char *what) {
  for (int i = 0; i < n; i++)
    if (!(fabs((double)want[i] - got[i]) <= tol)) {
      (void)TAP_OK(0, "%s", what);
      TAP_DIAG("index %d: expected %.9g, got %.9g", i, want[i], got[i]);
      return 0;
    }
  return TAP_OK(1, "%s", what);
}


static float f32_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ------------------------------------------------------------------ conversions */

static void test_f16(void) {
  static const struct { float f; uint16_t h; } cases[] = {
    {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {0.1f, 0x2e66},
    {0.333333333f, 0x3555}, {6.103515625e-05f, 0x0400}, {5.9604644775390625e-08f, 0x0001},
    {-0.0f, 0x8000}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
    {2.98023223876953125e-08f, 0x0000},   /* 2^-25: halfway to the smallest, ties to even */
    {4.4703483581542969e-08f, 0x0001},    /* 0.75 of the smallest subnormal */
    {1.00048828125f, 0x3c00},             /* 1 + 2^-11: a tie, to even */
    {1.00146484375f, 0x3c02},             /* 1 + 3 * 2^-11: a tie, to even (up) */
    {1.0009765625f, 0x3c01},
  };
  int bad = -1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0] && bad < 0; i++)
    if (qora_f32_to_f16(cases[i].f) != cases[i].h)
      bad = (int)i;
  TAP_OK(bad < 0, "f32 to f16 rounds to nearest even, overflows to inf, keeps subnormals");
  if (bad >= 0)
    TAP_DIAG("%.9g: expected 0x%04x, got 0x%04x", cases[bad].f, cases[bad].h,
             qora_f32_to_f16(cases[bad].f));

  TAP_OK(qora_f16_to_f32(0x3555) == 0.333251953125f && qora_f16_to_f32(0x0001) ==
         5.9604644775390625e-08f && qora_f16_to_f32(0xfc00) == -INFINITY &&
         isnan(qora_f16_to_f32(0x7e00)) && qora_f16_to_f32(0x8000) == 0,
         "f16 to f32 reads normals, subnormals, infinities and NaN");
  TAP_OK(isnan(qora_f16_to_f32(qora_f32_to_f16(NAN))), "NaN stays NaN through f16");

  int round_trip = 1;
  for (uint32_t h = 0; h < 0x10000; h++)
    if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0)
      round_trip &= qora_f32_to_f16(qora_f16_to_f32((qora_f16)h)) == h;
  TAP_OK(round_trip, "every f16 that is not NaN survives f16 -> f32 -> f16");
}


static void test_bf16(void) {
  TAP_OK(qora_f32_to_bf16(1.0f) == 0x3f80 && qora_f32_to_bf16(-2.0f) == 0xc000 &&
         qora_f32_to_bf16(f32_of(0x3f808000)) == 0x3f80 &&   /* tie, to even (down) */
         qora_f32_to_bf16(f32_of(0x3f818000)) == 0x3f82 &&   /* tie, to even (up) */
         qora_f32_to_bf16(f32_of(0x3f808001)) == 0x3f81,
         "f32 to bf16 rounds to nearest even");
  TAP_OK(qora_bf16_to_f32(0x3f80) == 1.0f && qora_bf16_to_f32(0x4049) == 3.140625f,
         "bf16 to f32 is a shift");
  TAP_OK(isnan(qora_bf16_to_f32(qora_f32_to_bf16(NAN))), "NaN stays NaN through bf16");
}


static void test_table(void) {
  TAP_OK(strcmp(qora_type_name(QORA_Q4_K), "Q4_K") == 0 && qora_type_name(QORA_BF16) &&
         qora_type_name(7) == NULL && qora_type_name(-1) == NULL && qora_type_name(99) == NULL,
         "type names: known types named, others NULL");
  TAP_OK(qora_row_size(QORA_Q4_0, 576) == 18 * 18 && qora_row_size(QORA_Q6_K, 2048) == 8 * 210
         && qora_row_size(QORA_F16, 3) == 6 && qora_row_size(7, 32) == 0,
         "row sizes follow the block sizes");
  TAP_OK(qora_type_get(QORA_Q4_0)->vec_dot_type == QORA_Q8_0 &&
         qora_type_get(QORA_Q4_1)->vec_dot_type == QORA_Q8_1 &&
         qora_type_get(QORA_Q5_K)->vec_dot_type == QORA_Q8_K &&
         qora_type_get(QORA_BF16)->vec_dot_type == QORA_BF16 && qora_type_get(7) == NULL,
         "activation types are llama.cpp's");
}

/* ------------------------------------------------------------------ hand-made blocks */

static void test_q4_0_q4_1_q8_0(void) {
  block_q4_0 a = {.d = 0x3800};                   /* 0.5 */
  block_q4_1 b = {.d = 0x3400, .m = 0xbc00};      /* 0.25, -1 */
  block_q8_0 c = {.d = 0x4000};                   /* 2 */
  float got[32], want[32];

  for (int j = 0; j < 16; j++)
    a.qs[j] = b.qs[j] = (uint8_t)(j | (15 - j) << 4);
  for (int j = 0; j < 32; j++)
    c.qs[j] = (int8_t)(j - 16);

  for (int j = 0; j < 16; j++) {
    want[j] = (j - 8) * 0.5f;
    want[j + 16] = (7 - j) * 0.5f;
  }
  qora_type_get(QORA_Q4_0)->to_float(&a, got, 32);
  same_floats(want, got, 32, 0, "Q4_0 block: low nibbles first, then high, minus 8, times d");

  for (int j = 0; j < 16; j++) {
    want[j] = j * 0.25f - 1;
    want[j + 16] = (15 - j) * 0.25f - 1;
  }
  qora_type_get(QORA_Q4_1)->to_float(&b, got, 32);
  same_floats(want, got, 32, 0, "Q4_1 block: nibble times d plus m");

  for (int j = 0; j < 32; j++)
    want[j] = 2.0f * (j - 16);
  qora_type_get(QORA_Q8_0)->to_float(&c, got, 32);
  same_floats(want, got, 32, 0, "Q8_0 block: quant times d");
}


/* Scales and mins {1,2,3,4,17,33,50,63} / {0,5,10,63,16,1,48,7} packed by hand. */
static const uint8_t k4_packed[12] = {65, 130, 195, 196, 64, 5, 202, 63, 1, 17, 2, 127};
static const uint8_t k4_sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
static const uint8_t k4_mn[8] = {0, 5, 10, 63, 16, 1, 48, 7};


static void test_q4_K_q5_K(void) {
  uint8_t sc[8], mn[8];
  qora_k4_scales(k4_packed, sc, mn);
  TAP_OK(memcmp(sc, k4_sc, 8) == 0 && memcmp(mn, k4_mn, 8) == 0,
         "K-quant 6-bit scales and mins unpack as GGML packs them");

  block_q4_K a = {.d = 0x3c00, .dmin = 0x3800};   /* 1, 0.5 */
  block_q5_K b = {.d = 0x3c00, .dmin = 0x3800};
  memcpy(a.scales, k4_packed, 12);
  memcpy(b.scales, k4_packed, 12);
  for (int i = 0; i < 128; i++)
    a.qs[i] = b.qs[i] = (uint8_t)((i & 15) | (15 - (i & 15)) << 4);
  for (int l = 0; l < 32; l++)
    b.qh[l] = (uint8_t)(l * 37 + 11);

  /* Group g of 64: 32 values from low nibbles of qs[32g..], then 32 from the high ones. */
  float want[256], got[256];
  for (int g = 0; g < 4; g++)
    for (int l = 0; l < 32; l++) {
      want[64 * g + l] = 1.0f * k4_sc[2 * g] * (l & 15) - 0.5f * k4_mn[2 * g];
      want[64 * g + 32 + l] = 1.0f * k4_sc[2 * g + 1] * (15 - (l & 15)) - 0.5f * k4_mn[2 * g + 1];
    }
  qora_type_get(QORA_Q4_K)->to_float(&a, got, 256);
  same_floats(want, got, 256, 0, "Q4_K block: d * scale * nibble - dmin * min, per 32");

  /* Q5_K adds 16 when bit 2g (low half) or 2g + 1 (high half) of qh[l] is set. */
  for (int g = 0; g < 4; g++)
    for (int l = 0; l < 32; l++) {
      int lo = (l & 15) + ((b.qh[l] >> (2 * g)) & 1) * 16;
      int hi = (15 - (l & 15)) + ((b.qh[l] >> (2 * g + 1)) & 1) * 16;
      want[64 * g + l] = 1.0f * k4_sc[2 * g] * lo - 0.5f * k4_mn[2 * g];
      want[64 * g + 32 + l] = 1.0f * k4_sc[2 * g + 1] * hi - 0.5f * k4_mn[2 * g + 1];
    }
  qora_type_get(QORA_Q5_K)->to_float(&b, got, 256);
  same_floats(want, got, 256, 0, "Q5_K block: the fifth bit comes from qh");
}


static void test_q6_K(void) {
  block_q6_K a = {.d = 0x3800};                   /* 0.5 */
  for (int i = 0; i < 128; i++)
    a.ql[i] = (uint8_t)(i * 7 + 3);
  for (int i = 0; i < 64; i++)
    a.qh[i] = (uint8_t)(i * 29 + 5);
  for (int i = 0; i < 16; i++)
    a.scales[i] = (int8_t)(i * 9 - 70);

  /*
  ** Each half of 128 values uses 64 bytes of ql and 32 of qh. For l < 32 of half h:
  ** value l: low nibble of ql[l], qh bits 0-1; l + 32: low nibble of ql[l + 32], bits 2-3;
  ** l + 64: high nibble of ql[l], bits 4-5; l + 96: high nibble of ql[l + 32], bits 6-7.
  */
  float want[256], got[256];
  for (int h = 0; h < 2; h++) {
    const uint8_t *ql = a.ql + 64 * h, *qh = a.qh + 32 * h;
    float *w = want + 128 * h;
    const int8_t *sc = a.scales + 8 * h;
    for (int l = 0; l < 32; l++) {
      int q0 = ((ql[l] & 15) | (qh[l] & 3) << 4) - 32;
      int q1 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
      int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      w[l] = 0.5f * sc[l / 16] * q0;
      w[l + 32] = 0.5f * sc[l / 16 + 2] * q1;
      w[l + 64] = 0.5f * sc[l / 16 + 4] * q2;
      w[l + 96] = 0.5f * sc[l / 16 + 6] * q3;
    }
  }
  qora_type_get(QORA_Q6_K)->to_float(&a, got, 256);
  same_floats(want, got, 256, 0, "Q6_K block: 4 + 2 bits, minus 32, times d * scale per 16");
}

/* ------------------------------------------------------------------ quantizers */

static void test_q8_0_quantizer(void) {
  float x[32];
  block_q8_0 b;
  for (int j = 0; j < 32; j++)
    x[j] = (float)(j - 16);                       /* amax 16: x * 127 / 16 is exact */
  qora_type_get(QORA_Q8_0)->from_float(x, &b, 32);
  TAP_OK(b.d == qora_f32_to_f16(16.0f / 127) && b.qs[0] == -127 && b.qs[16] == 0 &&
         b.qs[17] == 8 && b.qs[20] == 32 && b.qs[12] == -32 && b.qs[24] == 64 &&
         b.qs[31] == 119,
         "Q8_0 quantizer: d = amax / 127, values rounded to nearest even");

  memset(x, 0, sizeof x);
  qora_type_get(QORA_Q8_0)->from_float(x, &b, 32);
  int zero = b.d == 0;
  for (int j = 0; j < 32; j++)
    zero &= b.qs[j] == 0;
  TAP_OK(zero, "Q8_0 quantizer: a zero block has d = 0 and zero quants");
}


static void test_q4_0_quantizer(void) {
  float x[32];
  block_q4_0 b;
  for (int j = 0; j < 32; j++)
    x[j] = (float)(j - 16);                       /* max magnitude -16: d = 2 */
  qora_type_get(QORA_Q4_0)->from_float(x, &b, 32);
  /* q = (int)(x / 2 + 8.5), at most 15: x = -16 -> 0, -1 -> 8, 0 -> 8, 1 -> 9, 15 -> 15. */
  TAP_OK(b.d == 0x4000 && (b.qs[0] & 15) == 0 && (b.qs[15] & 15) == 8 && (b.qs[0] >> 4) == 8
         && (b.qs[1] >> 4) == 9 && (b.qs[15] >> 4) == 15,
         "Q4_0 quantizer: the largest magnitude maps to -8, d = max / -8");
}


/* from_float then to_float on random data stays within err_of(block) of the input. */
static void round_trip(int type, const char *what) {
  enum { N = 1024 };
  const qora_type_traits *t = qora_type_get(type);
  float x[N], y[N];
  static char buf[N * 4];
  rb_floats(x, N);
  t->from_float(x, buf, N);
  t->to_float(buf, y, N);

  int bad = -1;
  double tol = 0;
  for (int b = 0; b < N && bad < 0; b += t->blck) {
    int nb = t->blck == 1 ? 1 : t->blck;
    float mn = x[b], mx = x[b], amax = 0;
    for (int j = 0; j < nb; j++) {
      mn = fminf(mn, x[b + j]);
      mx = fmaxf(mx, x[b + j]);
      amax = fmaxf(amax, fabsf(x[b + j]));
    }
    for (int j = 0; j < nb && bad < 0; j++) {
      switch (type) {
      case QORA_F16: tol = fabsf(x[b + j]) / 2048; break;
      case QORA_BF16: tol = fabsf(x[b + j]) / 256; break;
      case QORA_Q8_0: case QORA_Q8_1: tol = 0.563 * amax / 127; break;
      case QORA_Q8_K: tol = 0.501 * amax / 127; break;
      case QORA_Q4_0: tol = 1.01 * amax / 8; break;   /* +max clamps to 7 steps */
      case QORA_Q4_1: tol = 0.51 * (mx - mn) / 15 + fabsf(mn) / 1024; break;
      }
      if (!(fabs((double)x[b + j] - y[b + j]) <= tol))
        bad = b + j;
    }
  }
  TAP_OK(bad < 0, "%s round trip stays within half a step", what);
  if (bad >= 0)
    TAP_DIAG("index %d: in %.9g, out %.9g, allowed %.3g", bad, x[bad], y[bad], tol);
}


static void test_q8_sums(void) {
  enum { N = 512 };
  float x[N];
  block_q8_1 b1[N / 32];
  block_q8_K bk[N / 256];
  rb_floats(x, N);
  qora_type_get(QORA_Q8_1)->from_float(x, b1, N);
  qora_type_get(QORA_Q8_K)->from_float(x, bk, N);

  int ok1 = 1;
  for (int i = 0; i < N / 32; i++) {
    int sum = 0;
    for (int j = 0; j < 32; j++)
      sum += b1[i].qs[j];
    float want = qora_f16_to_f32(b1[i].d) * sum, got = qora_f16_to_f32(b1[i].s);
    ok1 &= fabsf(want - got) <= fabsf(want) / 1000 + 1e-3f;
  }
  TAP_OK(ok1, "Q8_1 carries s = d * sum of its quants");

  int okk = 1;
  for (int i = 0; i < N / 256; i++) {
    int has_127 = 0;
    for (int g = 0; g < 16; g++) {
      int sum = 0;
      for (int j = 0; j < 16; j++) {
        sum += bk[i].qs[16 * g + j];
        has_127 |= abs(bk[i].qs[16 * g + j]) == 127;
      }
      okk &= bk[i].bsums[g] == sum;
    }
    okk &= has_127;
  }
  TAP_OK(okk, "Q8_K bsums are the sums of 16 quants; the largest value maps to 127");
}

/* ------------------------------------------------------------------ vec_dot */

static const int weight_types[] = {QORA_F32, QORA_F16, QORA_BF16, QORA_Q4_0, QORA_Q4_1,
                                   QORA_Q8_0, QORA_Q4_K, QORA_Q5_K, QORA_Q6_K};
#define N_WEIGHT_TYPES (int)(sizeof weight_types / sizeof weight_types[0])


/*
** vec_dot(w, q(x)) against the float64 dot of w's dequantized values with x itself: the only
** difference allowed is what quantizing x explains, plus float rounding.
*/
static void vec_dot_vs_float(int type, int n, const char *level) {
  const qora_type_traits *t = qora_type_get(type), *vt = qora_type_get(t->vec_dot_type);
  float *x = malloc(n * sizeof *x), *w = malloc(n * sizeof *w);
  double *err = malloc(n * sizeof *err);
  void *wq = malloc(qora_row_size(type, n)), *xq = malloc(qora_row_size(t->vec_dot_type, n));
  int fails = 0;
  double worst = 0;

  for (int rep = 0; rep < 20; rep++) {
    rb_floats(x, n);
    rb_weights(type, wq, n);
    t->to_float(wq, w, n);
    vt->from_float(x, xq, n);
    rb_act_error(t->vec_dot_type, x, n, err);
    double ref = 0, bound = 0, mag = 0;
    for (int i = 0; i < n; i++) {
      ref += (double)w[i] * x[i];
      bound += fabs(w[i]) * err[i];
      mag += fabs((double)w[i] * x[i]);
    }
    bound += 2e-6 * mag + 1e-6;
    float got;
    t->vec_dot(n, &got, wq, xq);
    double d = fabs(got - ref);
    if (!(d <= bound))
      fails++;
    worst = fmax(worst, d / bound);
  }
  TAP_OK(fails == 0, "[%s] %s vec_dot, n = %d, matches the float dot within the "
         "activation error", level, t->name, n);
  if (fails)
    TAP_DIAG("%d of 20 out of bounds; worst error / bound %.3g", fails, worst);
  free(x), free(w), free(err), free(wq), free(xq);
}


/* ------------------------------------------------------------------ SIMD vs scalar */

typedef struct ref_kernels {
  int type;
  qora_from_float_fn from_float;
  qora_vec_dot_fn vec_dot;
  int dot_exact;              /* levels (bit mask) whose sums give equal bits */
} ref_kernels;

static const ref_kernels refs[] = {
  {QORA_F32, NULL, qora_vec_dot_f32, 0},
  {QORA_F16, qora_from_float_f16, qora_vec_dot_f16, 0},
  {QORA_BF16, qora_from_float_bf16, qora_vec_dot_bf16, 0},
  {QORA_Q4_0, NULL, qora_vec_dot_q4_0_q8_0, 0},
  {QORA_Q4_1, NULL, qora_vec_dot_q4_1_q8_1, 0},
  {QORA_Q8_0, qora_from_float_q8_0, qora_vec_dot_q8_0_q8_0, 0},
  {QORA_Q8_1, qora_from_float_q8_1, NULL, 0},
  {QORA_Q8_K, qora_from_float_q8_K, NULL, 0},
  /* AVX2 sums each K block exactly and combines it as the scalar code does. */
  {QORA_Q4_K, NULL, qora_vec_dot_q4_K_q8_K, 1 << QORA_CPU_AVX2},
  {QORA_Q5_K, NULL, qora_vec_dot_q5_K_q8_K, 1 << QORA_CPU_AVX2},
  {QORA_Q6_K, NULL, qora_vec_dot_q6_K_q8_K, 1 << QORA_CPU_AVX2},
};


/* The active level's quantizer writes the same bytes as the scalar one (odd sizes too). */
static void quantizer_vs_scalar(const ref_kernels *r, const char *level) {
  const qora_type_traits *t = qora_type_get(r->type);
  int blk = t->blck == 1 ? 1 : t->blck;
  int sizes[] = {blk, blk * 7, blk * 19 + (blk == 1 ? 5 : 0)};
  int ok = 1, bad_n = 0;

  for (int si = 0; si < 3 && ok; si++) {
    int n = sizes[si];
    float *x = malloc(n * sizeof *x);
    size_t bytes = qora_row_size(r->type, n);
    unsigned char *a = calloc(1, bytes), *b = calloc(1, bytes);
    rb_floats(x, n);
    x[n / 3] = x[n / 2] * -1;           /* a tie in magnitude with opposite signs */
    r->from_float(x, a, n);
    t->from_float(x, b, n);
    if (memcmp(a, b, bytes) != 0)
      ok = 0, bad_n = n;
    free(x), free(a), free(b);
  }
  TAP_OK(ok, "[%s] %s quantizer equals the scalar reference bit for bit", level, t->name);
  if (!ok)
    TAP_DIAG("differs for n = %d", bad_n);
}


/*
** The active level's vec_dot against the scalar one on the same blocks: equal bits where the
** sums are integers, else within 1e-6 of the sum of the magnitudes of the block terms.
*/
static void vec_dot_vs_scalar(const ref_kernels *r, const char *level) {
  const qora_type_traits *t = qora_type_get(r->type), *vt = qora_type_get(t->vec_dot_type);
  int vt_id = t->vec_dot_type, blk = t->blck == 1 ? 1 : t->blck;
  int sizes[] = {blk * (blk == 1 ? 37 : 1), blk * 7, blk * (blk == 1 ? 2051 : 19)};
  int ok = 1, exact = (r->dot_exact >> qora_cpu_level()) & 1;
  char why[160] = "";

  for (int si = 0; si < 3; si++) {
    int n = sizes[si];
    float *x = malloc(n * sizeof *x), *w = malloc(n * sizeof *w), *xd = malloc(n * sizeof *xd);
    void *wq = malloc(qora_row_size(r->type, n)), *xq = malloc(qora_row_size(vt_id, n));
    for (int rep = 0; rep < 10; rep++) {
      rb_floats(x, n);
      rb_weights(r->type, wq, n);
      vt->from_float(x, xq, n);
      t->to_float(wq, w, n);
      vt->to_float(xq, xd, n);
      double mag = 0;
      for (int i = 0; i < n; i++)
        mag += fabs((double)w[i] * xd[i]);
      float want, got;
      r->vec_dot(n, &want, wq, xq);
      t->vec_dot(n, &got, wq, xq);
      int same = exact ? memcmp(&want, &got, sizeof got) == 0
                              : fabs((double)want - got) <= 1e-6 * mag;
      if (!same && ok)
        snprintf(why, sizeof why, "n = %d: scalar %.9g, got %.9g (magnitude %.3g)", n, want,
                 got, mag);
      ok &= same;
    }
    free(x), free(w), free(xd), free(wq), free(xq);
  }
  TAP_OK(ok, "[%s] %s vec_dot %s the scalar reference", level, t->name,
         exact ? "equals" : "is within 1e-6 relative of");
  if (!ok)
    TAP_DIAG("%s", why);
}


static void simd_vs_scalar(const char *level) {
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (refs[i].from_float)
      quantizer_vs_scalar(&refs[i], level);
    if (refs[i].vec_dot)
      vec_dot_vs_scalar(&refs[i], level);
  }
}


int main(void) {
  test_f16();
  test_bf16();
  test_table();
  for (int level = QORA_CPU_SCALAR; level <= QORA_CPU_AVX512; level++) {
    if (level > qora_cpu_best()) {
      (void)TAP_OK(1, "[%s] kernels # SKIP this CPU lacks it", qora_cpu_name(level));
      continue;
    }
    qora_cpu_set_level(level);
    test_q4_0_q4_1_q8_0();
    test_q4_K_q5_K();
    test_q6_K();
    test_q8_0_quantizer();
    test_q4_0_quantizer();
    round_trip(QORA_F16, "F16");
    round_trip(QORA_BF16, "BF16");
    round_trip(QORA_Q8_0, "Q8_0");
    round_trip(QORA_Q8_1, "Q8_1");
    round_trip(QORA_Q8_K, "Q8_K");
    round_trip(QORA_Q4_0, "Q4_0");
    round_trip(QORA_Q4_1, "Q4_1");
    test_q8_sums();
    simd_vs_scalar(qora_cpu_name(level));
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
      int blk = qora_type_get(weight_types[i])->blck == QK_K ? QK_K : 32;
      vec_dot_vs_float(weight_types[i], blk * (blk == QK_K ? 3 : 19), qora_cpu_name(level));
      vec_dot_vs_float(weight_types[i], blk * (blk == QK_K ? 8 : 64), qora_cpu_name(level));
    }
  }
  qora_cpu_set_level(qora_cpu_best());
  return tap_done();
}
