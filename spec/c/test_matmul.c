/*
** test_matmul.c: qora_matmul on random matrices of every weight type against a float64
** product of the dequantized weights, with 1 and 2 threads, odd row and token counts, and
** strided activations and outputs.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "matmul_kernels.h"
#include "quant.h"
#include "rand_blocks.h"
#include "repack.h"
#include "tap.h"

static const char *level_name(void) {
  return qora_cpu_name(qora_cpu_level());
}


typedef struct shape {
  int rows, cols, n_tok;
} shape;


/*
** Checks y (n_tok rows of ldy) against the float64 product, within what quantizing the
** activations explains; the padding between rows must stay untouched (NaN).
*/
static int check_product(const qora_weight *w, const float *wd, const float *x, int ldx,
                         int n_tok, const float *y, int ldy, char *why, size_t why_len) {
  int rows = (int)w->rows, cols = (int)w->cols;
  int vt = qora_type_get(w->type)->vec_dot_type;
  double *err = malloc(cols * sizeof *err);

  for (int t = 0; t < n_tok; t++) {
    rb_act_error(vt, x + (size_t)t * ldx, cols, err);
    for (int r = 0; r < ldy; r++) {
      float got = y[(size_t)t * ldy + r];
      if (r >= rows) {
        if (!isnan(got)) {
          snprintf(why, why_len, "token %d: padding at %d was written", t, r);
          return free(err), 0;
        }
        continue;
      }
      double ref = 0, bound = 0, mag = 0;
      for (int k = 0; k < cols; k++) {
        double p = (double)wd[(size_t)r * cols + k] * x[(size_t)t * ldx + k];
        ref += p;
        mag += fabs(p);
        bound += fabs(wd[(size_t)r * cols + k]) * err[k];
      }
      bound += 2e-6 * mag + 1e-6;
      if (!(fabs(got - ref) <= bound)) {
        snprintf(why, why_len, "token %d row %d: expected %.7g (+- %.3g), got %.7g", t, r,
                 ref, bound, got);
        return free(err), 0;
      }
    }
  }
  free(err);
  return 1;
}


/*
** For Q8_0 and Q8_K activations, a tighter check: y against the float64 product of the
** dequantized weights and the activations as quantized (the kernels' integer sums are exact,
** so only float rounding remains; Q8_1 is left out, its block sums are rounded to F16).
** quantized_ref puts each product of n_tok tokens in ref[t * rows + r], and what float
** rounding explains of it in tol; check_ref holds y against them.
*/
static void quantized_ref(const qora_weight *w, const float *wd, const float *x, int ldx,
                          int n_tok, double *ref, double *tol) {
  int vtype = qora_type_get(w->type)->vec_dot_type;
  const qora_type_traits *vt = qora_type_get(vtype);
  int rows = (int)w->rows, cols = (int)w->cols;
  void *q = malloc(qora_row_size(vtype, cols));
  float *xq = malloc(cols * sizeof *xq);

  for (int t = 0; t < n_tok; t++) {
    vt->from_float(x + (size_t)t * ldx, q, cols);
    vt->to_float(q, xq, cols);
    for (int r = 0; r < rows; r++) {
      double sum = 0, mag = 0;
      for (int k = 0; k < cols; k++) {
        double p = (double)wd[(size_t)r * cols + k] * xq[k];
        sum += p;
        mag += fabs(p);
      }
      ref[(size_t)t * rows + r] = sum;
      tol[(size_t)t * rows + r] = 1e-5 * mag + 1e-6;
    }
  }
  free(q), free(xq);
}


/* Also fails on padding written between the rows of y (NaN before the product). */
static int check_ref(const double *ref, const double *tol, int rows, int n_tok, const float *y,
                     int ldy, char *why, size_t why_len) {
  for (int t = 0; t < n_tok; t++)
    for (int r = 0; r < ldy; r++) {
      float got = y[(size_t)t * ldy + r];
      size_t i = (size_t)t * rows + r;
      if (r >= rows && !isnan(got)) {
        snprintf(why, why_len, "token %d: padding at %d was written", t, r);
        return 0;
      }
      if (r < rows && !(fabs(got - ref[i]) <= tol[i])) {
        snprintf(why, why_len, "token %d row %d: expected %.7g (+- %.3g), got %.7g", t, r,
                 ref[i], tol[i], got);
        return 0;
      }
    }
  return 1;
}


static int check_quantized(const qora_weight *w, const float *wd, const float *x, int ldx,
                           int n_tok, const float *y, int ldy, char *why, size_t why_len) {
  size_t n = (size_t)n_tok * w->rows;
  double *ref = malloc(n * sizeof *ref), *tol = malloc(n * sizeof *tol);

  quantized_ref(w, wd, x, ldx, n_tok, ref, tol);
  int ok = check_ref(ref, tol, (int)w->rows, n_tok, y, ldy, why, why_len);
  free(ref), free(tol);
  return ok;
}


/*
** How test_type_r multiplies: on the stored rows, on the r16 layout by qora_matmul's own
** choice, or through the r16 kernels whatever the token count (Q4_0, Q8_0 and Q4_K take the
** tiles from 2 tokens, so their several-token r16 walk is reached only this way).
*/
enum { STORED, REPACKED, R16_FORCED };

static void test_type_r(int type, shape s, int n_threads, int how) {
  const qora_type_traits *t = qora_type_get(type);
  int ldx = s.cols + 5, ldy = s.rows + 3;
  size_t row_bytes = qora_row_size(type, s.cols);
  void *data = malloc(row_bytes * s.rows);
  float *wd = malloc((size_t)s.rows * s.cols * sizeof *wd);
  float *x = malloc((size_t)s.n_tok * ldx * sizeof *x);
  float *y = malloc((size_t)s.n_tok * ldy * sizeof *y);

  rb_weights(type, data, (int64_t)s.rows * s.cols);
  t->to_float(data, wd, (int64_t)s.rows * s.cols);
  rb_floats(x, (int64_t)s.n_tok * ldx);
  for (size_t i = 0; i < (size_t)s.n_tok * ldy; i++)
    y[i] = NAN;

  qora_weight w = {type, s.rows, s.cols, row_bytes, data, NULL};
  size_t scratch_bytes = qora_matmul_scratch(&w, s.n_tok);
  char *scratch = malloc(scratch_bytes + 1);
  qora_pool *pool = qora_pool_new(n_threads);
  void *r16 = how != STORED ? aligned_alloc(64, qora_r16_bytes(&w)) : NULL;
  if (r16)
    qora_r16_repack(pool, &w, r16);
  if (how == R16_FORCED)
    qora_matmul_r16(pool, &w, x, ldx, s.n_tok, y, ldy, scratch + 1);
  else
    qora_matmul(pool, &w, x, ldx, s.n_tok, y, ldy, scratch + 1);   /* misaligned on purpose */
  qora_pool_free(pool);

  char why[200] = "";
  int ok = check_product(&w, wd, x, ldx, s.n_tok, y, ldy, why, sizeof why);
  if (ok && (t->vec_dot_type == QORA_Q8_0 || t->vec_dot_type == QORA_Q8_K))
    ok = check_quantized(&w, wd, x, ldx, s.n_tok, y, ldy, why, sizeof why);
  TAP_OK(ok, "[%s] %s%s matmul %dx%d, %d tokens, %d threads, matches float64", level_name(),
         t->name, how == R16_FORCED ? " r16 (forced)" : r16 ? " r16" : "", s.rows, s.cols,
         s.n_tok, n_threads);
  if (!ok)
    TAP_DIAG("%s", why);
  free(data), free(wd), free(x), free(y), free(scratch), free(r16);
}


static void test_type(int type, shape s, int n_threads) {
  test_type_r(type, s, n_threads, STORED);
}


/* The same product with 1 and 2 threads gives the same bits (each output has one owner). */
static void test_threads_agree(int type, shape s) {
  size_t row_bytes = qora_row_size(type, s.cols);
  void *data = malloc(row_bytes * s.rows);
  float *x = malloc((size_t)s.n_tok * s.cols * sizeof *x);
  float *y1 = malloc((size_t)s.n_tok * s.rows * sizeof *y1);
  float *y2 = malloc((size_t)s.n_tok * s.rows * sizeof *y2);
  rb_weights(type, data, (int64_t)s.rows * s.cols);
  rb_floats(x, (int64_t)s.n_tok * s.cols);

  qora_weight w = {type, s.rows, s.cols, row_bytes, data, NULL};
  void *scratch = malloc(qora_matmul_scratch(&w, s.n_tok) + 1);
  qora_pool *p1 = qora_pool_new(1), *p2 = qora_pool_new(2);
  qora_matmul(p1, &w, x, s.cols, s.n_tok, y1, s.rows, scratch);
  qora_matmul(p2, &w, x, s.cols, s.n_tok, y2, s.rows, scratch);
  qora_pool_free(p1);
  qora_pool_free(p2);

  TAP_OK(memcmp(y1, y2, (size_t)s.n_tok * s.rows * sizeof *y1) == 0,
         "[%s] %s matmul: 1 and 2 threads give identical results", level_name(),
         qora_type_name(type));
  free(data), free(x), free(y1), free(y2), free(scratch);
}


/*
** Besides the ways of test_type_r, R16_ONLY: the r16 layout with the stored rows gone (w.data
** NULL, as qora_model_repack leaves a folder's matrices), so every path reads the copy alone.
*/
enum { R16_ONLY = R16_FORCED + 1 };

static const char *way_name(int how) {
  static const char *const names[] = {"stored", "r16", "r16 forced", "r16 only"};
  return names[how];
}


/* 1 when type multiplies the way `how` for n_tok tokens at the CPU level in force. */
static int way_runs(int type, int how, int n_tok) {
  if (how == STORED)
    return 1;
  if (!qora_r16_type(type))
    return 0;
  return how != R16_FORCED || (qora_r16_cpu() && n_tok <= 3);
}


/* y = w x the way `how` says, w its stored rows and r16 their qora_r16_repack. */
static void product_way(qora_pool *pool, const qora_weight *w, const void *r16, int how,
                        const float *x, int ldx, int n_tok, float *y, int ldy, char *scratch) {
  qora_weight ww = *w;

  ww.r16 = how == STORED ? NULL : r16;
  if (how == R16_ONLY)
    ww.data = NULL;
  if (how == R16_FORCED)
    qora_matmul_r16(pool, &ww, x, ldx, n_tok, y, ldy, scratch);
  else
    qora_matmul(pool, &ww, x, ldx, n_tok, y, ldy, scratch);
}


/*
** n weights of type at the largest magnitude of their quants, where vpmaddubsw's 16-bit pair
** sums come nearest to saturating and the AVX2 kernels' 16-bit additions of them to
** overflowing: 4-bit quants all 15, Q5_K's all 31, Q6_K's all 63 with sub-block scales 127
** and -128 by turns, Q8_0 blocks all 127 and all -128 by turns; Q4_K and Q5_K scales and mins
** 63. Scales 0.001, Q4_1's min -0.001.
*/
static void extreme_weights(int type, void *out, int64_t n) {
  const qora_type_traits *t = qora_type_get(type);
  qora_f16 d = qora_f32_to_f16(0.001f);

  memset(out, 0xff, (size_t)(n / t->blck) * t->type_size);
  for (int64_t i = 0; i < n / t->blck; i++) {
    switch (type) {
    case QORA_Q4_0: ((block_q4_0 *)out)[i].d = d; break;
    case QORA_Q4_1:
      ((block_q4_1 *)out)[i].d = d;
      ((block_q4_1 *)out)[i].m = qora_f32_to_f16(-0.001f);
      break;
    case QORA_Q8_0:
      ((block_q8_0 *)out)[i].d = d;
      memset(((block_q8_0 *)out)[i].qs, i % 2 ? 0x80 : 0x7f, QK8_0);
      break;
    case QORA_Q4_K: ((block_q4_K *)out)[i].d = ((block_q4_K *)out)[i].dmin = d; break;
    case QORA_Q5_K: ((block_q5_K *)out)[i].d = ((block_q5_K *)out)[i].dmin = d; break;
    case QORA_Q6_K:
      ((block_q6_K *)out)[i].d = d;
      for (int j = 0; j < QK_K / 16; j++)
        ((block_q6_K *)out)[i].scales[j] = (int8_t)((i + j) % 2 ? -128 : 127);
      break;
    }
  }
}


/* Activations of +-1, by mode m: all +1, all -1, or +1 and -1 by token. */
static const char *const SIGNS[] = {"all +1", "all -1", "+1 and -1 by token"};

static void sign_activations(int m, float *x, int n_tok, int ldx) {
  for (int t = 0; t < n_tok; t++)
    for (int k = 0; k < ldx; k++)
      x[(size_t)t * ldx + k] = m == 0 || (m == 2 && t % 2 == 0) ? 1.0f : -1.0f;
}


/*
** Weights at their largest (extreme_weights) against activations of +-1, which every
** activation type holds as +-127 exactly: each output is the float64 product of the
** dequantized weights and activations within check_ref's tolerance (Q4_1's activation sums,
** rounded to F16, are off by less here). Where the CPU has them, 1 to 3 tokens take the row
** or r16 kernels and 4 and more the tiles (2 and 3 too but for Q6_K); every way of multiplying.
*/
static void test_extreme(int type, int rows, int cols) {
  static const int n_toks[] = {1, 2, 3, 4, 8, 13};
  enum { N = 13 };
  int ldx = cols + 5, ldy = rows + 3;
  size_t row_bytes = qora_row_size(type, cols);
  void *data = malloc(row_bytes * rows);
  float *wd = malloc((size_t)rows * cols * sizeof *wd);
  float *x = malloc((size_t)N * ldx * sizeof *x), *y = malloc((size_t)N * ldy * sizeof *y);
  double *ref[3], *tol[3];
  qora_weight w = {type, rows, cols, row_bytes, data, NULL};
  char *scratch = malloc(qora_matmul_scratch(&w, N) + 1);
  void *r16 = qora_r16_type(type) ? aligned_alloc(64, qora_r16_bytes(&w)) : NULL;
  qora_pool *pool = qora_pool_new(2);

  extreme_weights(type, data, (int64_t)rows * cols);
  qora_type_get(type)->to_float(data, wd, (int64_t)rows * cols);
  for (int m = 0; m < 3; m++) {    /* the products of all N tokens, once */
    ref[m] = malloc((size_t)N * rows * sizeof *ref[m]);
    tol[m] = malloc((size_t)N * rows * sizeof *tol[m]);
    sign_activations(m, x, N, ldx);
    quantized_ref(&w, wd, x, ldx, N, ref[m], tol[m]);
  }
  if (r16)
    qora_r16_repack(pool, &w, r16);   /* product_way sets w.r16 and w.data each time */
  for (int how = STORED; how <= R16_ONLY; how++) {
    char why[200] = "";
    int ok = 1, bad_m = 0, bad_n = 0;
    if (!way_runs(type, how, 1))
      continue;
    for (int m = 0; m < 3 && ok; m++) {
      sign_activations(m, x, N, ldx);
      for (size_t i = 0; i < sizeof n_toks / sizeof *n_toks && ok; i++) {
        int n = n_toks[i];
        if (!way_runs(type, how, n))
          continue;
        for (size_t k = 0; k < (size_t)N * ldy; k++)
          y[k] = NAN;
        product_way(pool, &w, r16, how, x, ldx, n, y, ldy, scratch + 1);   /* misaligned */
        ok = check_ref(ref[m], tol[m], rows, n, y, ldy, why, sizeof why);
        bad_m = m, bad_n = n;
      }
    }
    if (!TAP_OK(ok, "[%s] %s %s %dx%d, weights at their largest, activations +-1: 1 to %d "
                "tokens match float64", level_name(), qora_type_name(type), way_name(how),
                rows, cols, how == R16_FORCED ? 3 : N))
      TAP_DIAG("activations %s, %d tokens, %s", SIGNS[bad_m], bad_n, why);
  }
  qora_pool_free(pool);
  for (int m = 0; m < 3; m++)
    free(ref[m]), free(tol[m]);
  free(data), free(wd), free(x), free(y), free(scratch), free(r16);
}


/*
** Each token's outputs are the same bits however the batch is cut: 13 tokens at once, then
** cut 4 + 5 + 4, 6 + 7, 5 + 8 and 4 + 4 + 5, so that a token lands in another slot of its
** activation tile and another call of the kernel (every part takes the tiles, even Q6_K's).
*/
static void test_split(int type, int rows, int cols) {
  static const int cuts[][3] = {{4, 5, 4}, {6, 7, 0}, {5, 8, 0}, {4, 4, 5}};
  enum { N = 13 };
  int ldx = cols + 5, ldy = rows + 3;
  size_t row_bytes = qora_row_size(type, cols);
  void *data = malloc(row_bytes * rows);
  float *x = malloc((size_t)N * ldx * sizeof *x);
  float *y = malloc((size_t)N * ldy * sizeof *y), *ys = malloc((size_t)N * ldy * sizeof *ys);
  qora_weight w = {type, rows, cols, row_bytes, data, NULL};
  char *scratch = malloc(qora_matmul_scratch(&w, N));
  void *r16 = qora_r16_type(type) ? aligned_alloc(64, qora_r16_bytes(&w)) : NULL;
  qora_pool *pool = qora_pool_new(2);

  rb_weights(type, data, (int64_t)rows * cols);
  rb_floats(x, (int64_t)N * ldx);
  if (r16)
    qora_r16_repack(pool, &w, r16);   /* product_way sets w.r16 and w.data each time */
  for (int how = STORED; how <= R16_ONLY; how++) {
    int bad_c = -1, bad_t = 0, bad_r = 0;
    if (how == R16_FORCED || !way_runs(type, how, N))
      continue;
    product_way(pool, &w, r16, how, x, ldx, N, y, ldy, scratch);
    for (int c = 0; c < (int)(sizeof cuts / sizeof *cuts) && bad_c < 0; c++) {
      for (int p = 0, at = 0; p < 3 && cuts[c][p]; at += cuts[c][p++])
        product_way(pool, &w, r16, how, x + (size_t)at * ldx, ldx, cuts[c][p],
                    ys + (size_t)at * ldy, ldy, scratch);
      for (int t = 0; t < N && bad_c < 0; t++)
        for (int r = 0; r < rows && bad_c < 0; r++)
          if (memcmp(&y[(size_t)t * ldy + r], &ys[(size_t)t * ldy + r], sizeof *y) != 0)
            bad_c = c, bad_t = t, bad_r = r;
    }
    if (!TAP_OK(bad_c < 0, "[%s] %s %s %dx%d: 13 tokens cut 4+5+4, 6+7, 5+8, 4+4+5 give the "
                "bits of one batch", level_name(), qora_type_name(type), way_name(how), rows,
                cols))
      TAP_DIAG("cut %d+%d%s%.0d, token %d row %d: expected %.9g (one batch), got %.9g",
               cuts[bad_c][0], cuts[bad_c][1], cuts[bad_c][2] ? "+" : "", cuts[bad_c][2],
               bad_t, bad_r, y[(size_t)bad_t * ldy + bad_r], ys[(size_t)bad_t * ldy + bad_r]);
  }
  qora_pool_free(pool);
  free(data), free(x), free(y), free(ys), free(scratch), free(r16);
}


/* y = w x at the given CPU level, on the r16 layout when repack says so. */
static void product_at(int level, const qora_weight *w0, const float *x, shape s, int repack,
                       float *y) {
  qora_weight w = *w0;
  void *scratch = malloc(qora_matmul_scratch(&w, s.n_tok));
  void *r16 = repack ? aligned_alloc(64, qora_r16_bytes(&w)) : NULL;
  qora_pool *pool = qora_pool_new(2);

  qora_cpu_set_level(level);
  if (r16)
    qora_r16_repack(pool, &w, r16);
  qora_matmul(pool, &w, x, s.cols, s.n_tok, y, s.rows, scratch);
  qora_pool_free(pool);
  free(r16), free(scratch);
}


/*
** The tiled product on AMX gives the bits of the VNNI kernel: the integer sums are exact and
** the float steps the same. Tokens beyond one tile of 16 and a last partial one, two column
** chunks, rows that fill no tile.
*/
static void test_amx_same(int type, shape s, int repack) {
  size_t row_bytes = qora_row_size(type, s.cols), n_y = (size_t)s.n_tok * s.rows;
  void *data = malloc(row_bytes * s.rows);
  float *x = malloc((size_t)s.n_tok * s.cols * sizeof *x);
  float *y0 = malloc(n_y * sizeof *y0), *y1 = malloc(n_y * sizeof *y1);
  qora_weight w = {type, s.rows, s.cols, row_bytes, data, NULL};
  size_t at = 0;

  rb_weights(type, data, (int64_t)s.rows * s.cols);
  rb_floats(x, (int64_t)s.n_tok * s.cols);
  product_at(QORA_CPU_AVX512, &w, x, s, repack, y0);
  product_at(QORA_CPU_AMX, &w, x, s, repack, y1);
  qora_cpu_set_level(qora_cpu_best());
  while (at < n_y && memcmp(&y0[at], &y1[at], sizeof *y0) == 0)
    at++;
  if (!TAP_OK(at == n_y, "[amx] %s%s matmul %dx%d, %d tokens: the bits of the VNNI kernel",
              qora_type_name(type), repack ? " r16" : "", s.rows, s.cols, s.n_tok))
    TAP_DIAG("token %zu row %zu: VNNI %.9g, AMX %.9g", at / s.rows, at % s.rows, y0[at],
             y1[at]);
  free(data), free(x), free(y0), free(y1);
}


/*
** Only the AMX level packs tiles of AMX_TOK tokens, and only for blocks of 32: at a level
** forced lower the VNNI kernel runs, else test_amx_same would hold AMX against itself and a
** CPU without AMX would meet its instructions.
*/
static void test_tok_by_level(void) {
  static const int types[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_1, QORA_Q4_K, QORA_Q5_K,
                              QORA_Q6_K};
  int bad_level = -1, bad_type = 0, got = 0;

  for (int level = QORA_CPU_SCALAR; level <= qora_cpu_best() && bad_level < 0; level++) {
    qora_cpu_set_level(level);
    for (size_t i = 0; i < sizeof types / sizeof *types && bad_level < 0; i++) {
      int want = level == QORA_CPU_AMX && types[i] != QORA_Q6_K ? AMX_TOK : GEMM_TOK;
      got = qora_gemm_tok(types[i]);
      if (got != want)
        bad_level = level, bad_type = types[i];
    }
  }
  qora_cpu_set_level(qora_cpu_best());
  if (!TAP_OK(bad_level < 0, "tiles of %d tokens at the amx level only, %d below it (up to %s)",
              AMX_TOK, GEMM_TOK, qora_cpu_name(qora_cpu_best())))
    TAP_DIAG("%s at level %s: tiles of %d tokens", qora_type_name(bad_type),
             qora_cpu_name(bad_level), got);
}


static void test_amx(void) {
  static const int types[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_1, QORA_Q4_K, QORA_Q5_K,
                              QORA_Q6_K};
  static const shape shapes[] = {{45, 2304, 37}, {37, 512, 16}, {16, 256, 3}, {70, 768, 33}};

  if (qora_cpu_best() < QORA_CPU_AMX) {
    (void)TAP_OK(1, "AMX tiled product # SKIP this CPU (or its kernel) lacks AMX");
    return;
  }
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    for (size_t j = 0; j < sizeof shapes / sizeof *shapes; j++) {
      test_amx_same(types[i], shapes[j], 0);
      if (qora_r16_bytes(&(qora_weight){types[i], shapes[j].rows, shapes[j].cols,
                                        qora_row_size(types[i], shapes[j].cols), NULL, NULL}))
        test_amx_same(types[i], shapes[j], 1);
    }
}


/*
** qora_matmul_n gives each output the bits of its own qora_matmul, fused or not (types that
** share activations fuse on repacked weights), with 1 and 2 threads.
*/
static void test_matmul_n(const int *types, int n, int cols, int n_tok) {
  qora_weight w[QORA_FUSE_MAX];
  const qora_weight *wp[QORA_FUSE_MAX];
  float *y[QORA_FUSE_MAX], *y1[QORA_FUSE_MAX];
  int ldy[QORA_FUSE_MAX], ok = 1;
  void *data[QORA_FUSE_MAX], *r16[QORA_FUSE_MAX];
  float *x = malloc((size_t)n_tok * cols * sizeof *x);
  size_t scratch_bytes = 0;
  qora_pool *pool = qora_pool_new(2), *one = qora_pool_new(1);
  char names[64] = "";

  rb_floats(x, (int64_t)n_tok * cols);
  for (int i = 0; i < n; i++) {
    int rows = 16 + 21 * i;
    size_t rb = qora_row_size(types[i], cols);
    data[i] = malloc(rb * rows);
    rb_weights(types[i], data[i], (int64_t)rows * cols);
    w[i] = (qora_weight){types[i], rows, cols, rb, data[i], NULL};
    r16[i] = qora_r16_type(types[i]) ? aligned_alloc(64, qora_r16_bytes(&w[i])) : NULL;
    if (r16[i])
      qora_r16_repack(pool, &w[i], r16[i]);
    wp[i] = &w[i];
    ldy[i] = rows + 1;
    y[i] = calloc((size_t)n_tok * ldy[i], sizeof(float));
    y1[i] = calloc((size_t)n_tok * ldy[i], sizeof(float));
    size_t need = qora_matmul_scratch(&w[i], n_tok);
    scratch_bytes = need > scratch_bytes ? need : scratch_bytes;
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "+" : "",
             qora_type_name(types[i]));
  }
  char *scratch = malloc(scratch_bytes + 1);
  for (int th = 0; th < 2; th++) {
    qora_matmul_n(th ? pool : one, n, wp, x, cols, n_tok, y, ldy, scratch + 1);
    for (int i = 0; i < n; i++) {
      qora_matmul(pool, &w[i], x, cols, n_tok, y1[i], ldy[i], scratch);
      ok &= memcmp(y[i], y1[i], (size_t)n_tok * ldy[i] * sizeof(float)) == 0;
    }
  }
  TAP_OK(ok, "[%s] fused %s x %d tokens: the bits of separate products, 1 and 2 threads",
         level_name(), names, n_tok);
  for (int i = 0; i < n; i++)
    free(data[i]), free(r16[i]), free(y[i]), free(y1[i]);
  free(x), free(scratch);
  qora_pool_free(pool);
  qora_pool_free(one);
}


/*
** The AVX-512 repacker writes the bytes of the portable one, every byte of every group
** (padding rows and the tail of an odd last block included): the buffers start with
** different junk, so a byte either one leaves unwritten shows.
*/
static void test_repack_same(int type, int rows, int cols, int level) {
  size_t row_bytes = qora_row_size(type, cols);
  void *data = malloc(row_bytes * rows);
  rb_weights(type, data, (int64_t)rows * cols);
  qora_weight w = {type, rows, cols, row_bytes, data, NULL};
  size_t n = qora_r16_bytes(&w);
  uint8_t *a = aligned_alloc(64, n), *b = aligned_alloc(64, n);
  long groups = (rows + R16_ROWS - 1) / R16_ROWS, bad = -1;

  memset(a, 0xAA, n), memset(b, 0x55, n);
  qora_r16_pack(&w, a, 0, groups);
#if defined(__x86_64__)
  if (level == QORA_CPU_AVX2)
    qora_r16_pack_avx2(&w, b, 0, groups);
  else
    qora_r16_pack_avx512(&w, b, 0, groups);
#endif
  for (size_t i = 0; i < n && bad < 0; i++)
    if (a[i] != b[i])
      bad = (long)i;
  TAP_OK(bad < 0, "%s %dx%d: the %s repacker writes the reference's bytes",
         qora_type_name(type), rows, cols, qora_cpu_name(level));
  if (bad >= 0)
    TAP_DIAG("first difference at byte %ld: expected %d, got %d", bad, a[bad], b[bad]);
  free(data), free(a), free(b);
}


/* Every block read back from the r16 layout is the stored block, byte for byte. */
static void test_r16_block(int type, int rows, int cols) {
  size_t row_bytes = qora_row_size(type, cols), bsize = qora_type_get(type)->type_size;
  int blck = qora_type_get(type)->blck;
  uint8_t *data = malloc(row_bytes * rows), got[256];
  rb_weights(type, data, (int64_t)rows * cols);
  qora_weight w = {type, rows, cols, row_bytes, data, NULL};
  void *r16 = aligned_alloc(64, qora_r16_bytes(&w));
  long bad_row = -1, bad_block = -1, bad_byte = -1;

  qora_r16_pack(&w, r16, 0, (rows + R16_ROWS - 1) / R16_ROWS);
  w.r16 = r16;
  for (int r = 0; r < rows && bad_row < 0; r++)
    for (int b = 0; b < cols / blck && bad_row < 0; b++) {
      const uint8_t *want = data + (size_t)r * row_bytes + (size_t)b * bsize;
      qora_r16_block(&w, r, b, got);
      for (size_t k = 0; k < bsize && bad_row < 0; k++)
        if (got[k] != want[k])
          bad_row = r, bad_block = b, bad_byte = (long)k;
    }
  TAP_OK(bad_row < 0, "%s %dx%d: every block read back from r16 is the stored block",
         qora_type_name(type), rows, cols);
  if (bad_row >= 0)
    TAP_DIAG("row %ld block %ld byte %ld: expected %d, got %d", bad_row, bad_block, bad_byte,
             data[bad_row * row_bytes + bad_block * bsize + bad_byte], got[bad_byte]);
  free(data), free(r16);
}


/* Scratch sized for a batch serves every smaller count (the forward pass sizes it once). */
static void test_scratch_monotonic(void) {
  static const int types[] = {QORA_F16, QORA_Q4_0, QORA_Q4_1, QORA_Q8_0, QORA_Q4_K, QORA_Q6_K};
  int ok = 1, bad_type = -1, bad_n = 0;
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    qora_weight w = {types[i], 64, 2048, qora_row_size(types[i], 2048), NULL, NULL};
    for (int n = 1; n <= 512; n++)
      if (qora_matmul_scratch(&w, n) > qora_matmul_scratch(&w, 512)) {
        ok = 0, bad_type = types[i], bad_n = n;
        break;
      }
  }
  TAP_OK(ok, "scratch for 512 tokens is enough for 1 to 512");
  if (!ok)
    TAP_DIAG("%s needs more for %d tokens", qora_type_name(bad_type), bad_n);
}


/*
** One row of 256 weights of one value *v, every F16 scale of it subnormal (below 2^-14):
** Q4_0 d = 2^-15 and nibbles 9; Q4_1 d = 2^-16, m = -2^-16, nibbles 3; Q8_0 d = 2^-24, quants
** 1; Q4_K and Q5_K d = dmin = 2^-24, scales 2, mins 1, nibbles 1; Q6_K d = 2^-24, scales 1,
** quants 33; F16 values 2^-24.
*/
static void subnormal_row(int type, void *row, float *v) {
  static const uint8_t k4_scales[K_SCALE_SIZE] = {2, 2, 2, 2, 1, 1, 1, 1, 0x12, 0x12, 0x12, 0x12};
  size_t bytes = qora_row_size(type, 256), bs = qora_type_get(type)->type_size;

  *v = 0x1p-24f;
  for (size_t at = 0; at < bytes; at += bs) {
    char *b = (char *)row + at;
    switch (type) {
    case QORA_F16: *(qora_f16 *)b = 0x0001; break;
    case QORA_Q4_0:
      *(block_q4_0 *)b = (block_q4_0){.d = 0x0200};
      memset(((block_q4_0 *)b)->qs, 0x99, QK4_0 / 2);
      *v = 0x1p-15f;
      break;
    case QORA_Q4_1:
      *(block_q4_1 *)b = (block_q4_1){.d = 0x0100, .m = 0x8100};
      memset(((block_q4_1 *)b)->qs, 0x33, QK4_1 / 2);
      *v = 0x1p-15f;
      break;
    case QORA_Q8_0:
      *(block_q8_0 *)b = (block_q8_0){.d = 0x0001};
      memset(((block_q8_0 *)b)->qs, 1, QK8_0);
      break;
    case QORA_Q4_K: {
      block_q4_K *k = (block_q4_K *)b;
      *k = (block_q4_K){.d = 0x0001, .dmin = 0x0001};
      memcpy(k->scales, k4_scales, K_SCALE_SIZE);
      memset(k->qs, 0x11, QK_K / 2);
      break;
    }
    case QORA_Q5_K: {
      block_q5_K *k = (block_q5_K *)b;
      *k = (block_q5_K){.d = 0x0001, .dmin = 0x0001};
      memcpy(k->scales, k4_scales, K_SCALE_SIZE);
      memset(k->qs, 0x11, QK_K / 2);
      break;
    }
    case QORA_Q6_K: {
      block_q6_K *k = (block_q6_K *)b;
      *k = (block_q6_K){.d = 0x0001};
      memset(k->scales, 1, QK_K / 16);
      memset(k->ql, 0x11, QK_K / 2);           /* low 4 bits 1 */
      memset(k->qh, 0xaa, QK_K / 4);           /* high 2 bits 2: 33, minus 32 */
      break;
    }
    }
  }
}


/*
** Subnormal F16 scales are read as what they are, not as 0: the pool runs every product with
** MXCSR's DAZ set, which VCVTPH2PS ignores (Intel's SDM). QEMU does not (spec/cross_check.sh).
** 16 rows of 256 values v against activations of 127/128, which every activation type holds
** exactly (Q8_0: d = 2^-7, quants 127): each output is 256 * v * 127/128 to the bit. 1 token
** (row kernels, r16) and 8 (tiles), on the stored rows and repacked.
*/
static void test_subnormal_scales(int type) {
  enum { ROWS = 16, COLS = 256, TOK = 8 };
  size_t row_bytes = qora_row_size(type, COLS);
  char *data = malloc(row_bytes * ROWS);
  float x[TOK * COLS], y[TOK * ROWS], v;
  qora_pool *pool = qora_pool_new(1);
  int bad_n = 0, bad_at = -1, repacked = 0;

  for (int r = 0; r < ROWS; r++)
    subnormal_row(type, data + r * row_bytes, &v);
  for (int i = 0; i < TOK * COLS; i++)
    x[i] = 127.0f / 128;
  float want = v * 256 * 127 / 128;
  qora_weight w = {type, ROWS, COLS, row_bytes, data, NULL};
  void *scratch = malloc(qora_matmul_scratch(&w, TOK));
  void *r16 = qora_r16_bytes(&w) ? aligned_alloc(64, qora_r16_bytes(&w)) : NULL;
  for (int pass = 0; pass < (r16 ? 2 : 1) && bad_at < 0; pass++) {
    if (pass == 1)
      qora_r16_repack(pool, &w, r16), repacked = 1;
    for (int n = 1; n <= TOK && bad_at < 0; n += TOK - 1) {
      qora_matmul(pool, &w, x, COLS, n, y, ROWS, scratch);
      for (int i = 0; i < n * ROWS && bad_at < 0; i++)
        if (memcmp(&y[i], &want, sizeof want) != 0)
          bad_n = n, bad_at = i;
    }
  }
  if (!TAP_OK(bad_at < 0, "[%s] %s matmul reads subnormal F16 scales exactly under the pool's "
              "DAZ (1 and %d tokens%s)", level_name(), qora_type_name(type), TOK,
              r16 ? ", stored and repacked" : ""))
    TAP_DIAG("%s, %d tokens, token %d row %d: expected %.9g, got %.9g",
             repacked ? "repacked" : "stored", bad_n, bad_at / ROWS, bad_at % ROWS, want,
             y[bad_at]);
  qora_pool_free(pool);
  free(data), free(scratch), free(r16);
}


/*
** The ways a one-token product may walk the weights (qora_r16_set_walk): Intel's 4 runs 2560
** bytes ahead and AMD's 1 run 512 ahead, which a CPU gets by its maker, then 2 and 3 runs.
** Each must compute every group once, whichever the CPU running the tests.
*/
#if defined(__x86_64__)
static const int WALKS[][2] = {{4, 2560}, {1, 512}, {2, 0}, {3, 1024}};
#endif


static int n_walks(int level) {
#if defined(__x86_64__)
  if (level == QORA_CPU_AVX512)
    return (int)(sizeof WALKS / sizeof *WALKS);
#endif
  return 1;
}


/* Forces walk i, or with i = -1 puts back the CPU's own. */
static void set_walk(int i) {
#if defined(__x86_64__)
  static int own[2] = {-1, -1};
  if (own[0] < 0)
    qora_r16_get_walk(&own[0], &own[1]);
  const int *w = i < 0 ? own : WALKS[i];
  int got[2];
  qora_r16_set_walk(w[0], w[1]);
  qora_r16_get_walk(&got[0], &got[1]);
  if (i >= 0)   /* a walk refused would leave the last one, and its runs would go untested */
    TAP_OK(got[0] == w[0] && got[1] == w[1], "r16 walk: %d run%s, %d bytes ahead, in effect",
           w[0], w[0] > 1 ? "s" : "", w[1]);
#else
  (void)i;
#endif
}


/* The idle prefetch's size can be set (benchmarks switch it within one process) and bounded. */
static void test_set_idle(void) {
  size_t own = qora_r16_walk().idle;
  int ok = qora_r16_set_idle(64 << 10) == 0 && qora_r16_walk().idle == (64u << 10);

  ok = ok && qora_r16_set_idle((size_t)5 << 20) == -1 && qora_r16_walk().idle == (64u << 10);
  ok = ok && qora_r16_set_idle(0) == 0 && qora_r16_walk().idle == 0;
  qora_r16_set_idle(own);
  TAP_OK(ok && qora_r16_walk().idle == own, "the idle prefetch takes 0 to 4 MB and refuses "
         "more, leaving what it had");
}


int main(void) {
  static const int types32[] = {QORA_F32, QORA_F16, QORA_BF16, QORA_Q4_0, QORA_Q4_1,
                                QORA_Q8_0};
  static const int typesK[] = {QORA_Q4_K, QORA_Q5_K, QORA_Q6_K};
  /*
** 8 tokens and more take the tiled path where the CPU has it (2304 columns make 2 chunks);
** fewer take the row kernels, whose scales come 16 blocks at a time (1056 = 33 blocks).
*/
  static const shape shapes32[] = {{37, 576, 1}, {45, 96, 7}, {1, 64, 3}, {130, 32, 2},
                                   {45, 96, 8}, {37, 576, 13}, {17, 2304, 9}, {130, 64, 21},
                                   {21, 1056, 1}, {17, 2304, 3}};
  static const shape shapesK[] = {{37, 512, 1}, {19, 256, 5}, {3, 768, 2}, {37, 512, 8},
                                  {19, 2304, 11}, {33, 256, 17}};

  for (int level = QORA_CPU_SCALAR; level <= QORA_CPU_AMX; level++) {
    if (level > qora_cpu_best()) {
      (void)TAP_OK(1, "matmul at level %d # SKIP this CPU lacks it", level);
      continue;
    }
    qora_cpu_set_level(level);
    for (int th = 1; th <= 2; th++) {
      for (size_t i = 0; i < sizeof types32 / sizeof *types32; i++)
        for (size_t j = 0; j < sizeof shapes32 / sizeof *shapes32; j++)
          test_type(types32[i], shapes32[j], th);
      for (size_t i = 0; i < sizeof typesK / sizeof *typesK; i++)
        for (size_t j = 0; j < sizeof shapesK / sizeof *shapesK; j++)
          test_type(typesK[i], shapesK[j], th);
    }
    /* Float types take any column count: 100 is not a multiple of 16. */
    for (int f = 0; f < 3; f++) {
      int ft = f == 0 ? QORA_F32 : f == 1 ? QORA_F16 : QORA_BF16;
      test_type(ft, (shape){9, 100, 5}, 2);
      test_type(ft, (shape){40, 300, 1}, 1);
    }
    /*
    ** On the r16 layout: rows not a multiple of 16, odd block counts; 1 to 3 tokens (decode
    ** kernels, but for Q4_0, Q8_0, Q4_K at 2 and 3), 7 to 13 (tiles; 2304 columns: 2 chunks).
    ** The last four give one token chunks of 3, 6, 4 and 7 groups, which 4 runs read as 3,
    ** 4 + 2, 4 and 4 + 3 streams: threads are 1 + j % 2, so 441x512 comes twice, on 2 then 1.
    */
    static const int types16[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_K, QORA_Q6_K};
    static const shape shapes16[] = {{37, 576, 1}, {16, 96, 1}, {5, 256, 1}, {130, 1024, 1},
                                     {33, 768, 2}, {48, 2304, 3}, {20, 1280, 1}, {37, 576, 8},
                                     {48, 2304, 9}, {130, 1024, 7}, {5, 256, 13},
                                     {441, 512, 1}, {369, 256, 1}, {597, 768, 1},
                                     {441, 512, 1}};
    for (int wi = 0; wi < n_walks(level); wi++) {
      set_walk(n_walks(level) > 1 ? wi : -1);
      for (size_t i = 0; i < sizeof types16 / sizeof *types16; i++)
        for (size_t j = 0; j < sizeof shapes16 / sizeof *shapes16; j++)
          if (shapes16[j].cols % qora_type_get(types16[i])->blck == 0)
            test_type_r(types16[i], shapes16[j], 1 + (int)(j % 2), REPACKED);
    }
    set_walk(-1);
    /* Each token's extras at its own stride: 2 and 3 tokens through the r16 kernels. */
    static const shape few[] = {{33, 768, 2}, {48, 2304, 3}, {5, 256, 3}};
    if (!qora_r16_cpu())
      (void)TAP_OK(1, "r16 kernels forced at level %s # SKIP they run at the avx2 level and "
                   "above", qora_cpu_name(level));
    else
      for (size_t i = 0; i < sizeof types16 / sizeof *types16; i++)
        for (size_t j = 0; j < sizeof few / sizeof *few; j++)
          test_type_r(types16[i], few[j], 1 + (int)(j % 2), R16_FORCED);
    static const int mix_k[] = {QORA_Q4_K, QORA_Q4_K, QORA_Q6_K};
    static const int mix_0[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_0, QORA_Q4_0};
    static const int mix_no[] = {QORA_Q4_0, QORA_Q4_1};
    test_matmul_n(mix_k, 3, 512, 1);
    test_matmul_n(mix_k, 3, 768, 3);
    test_matmul_n(mix_0, 4, 576, 1);
    test_matmul_n(mix_no, 2, 576, 1);
    test_threads_agree(QORA_Q4_0, (shape){101, 256, 9});
    test_threads_agree(QORA_Q6_K, (shape){33, 512, 4});
    test_threads_agree(QORA_F16, (shape){7, 64, 2});
    static const int subnormal_types[] = {QORA_F16, QORA_Q4_0, QORA_Q4_1, QORA_Q8_0,
                                          QORA_Q4_K, QORA_Q5_K, QORA_Q6_K};
    for (size_t i = 0; i < sizeof subnormal_types / sizeof *subnormal_types; i++)
      test_subnormal_scales(subnormal_types[i]);
    /*
    ** Quants at their largest and a batch cut in parts, on the stored rows and the r16 layout:
    ** rows not a multiple of 16 (nor of 8), 2 and 3 chunks of the AVX2 tiles (1024 columns),
    ** and for blocks of 32 an odd block count (1056: 33).
    */
    static const int types_x[] = {QORA_Q4_0, QORA_Q4_1, QORA_Q8_0, QORA_Q4_K, QORA_Q5_K,
                                  QORA_Q6_K};
    static const int shapes_x[][2] = {{37, 2304}, {5, 1280}, {19, 1056}};
    for (size_t i = 0; i < sizeof types_x / sizeof *types_x; i++)
      for (size_t j = 0; j < sizeof shapes_x / sizeof *shapes_x; j++)
        if (shapes_x[j][1] % qora_type_get(types_x[i])->blck == 0) {
          test_extreme(types_x[i], shapes_x[j][0], shapes_x[j][1]);
          test_split(types_x[i], shapes_x[j][0], shapes_x[j][1]);
        }
  }
  qora_cpu_set_level(qora_cpu_best());
  test_tok_by_level();
  test_set_idle();
  test_amx();
  test_scratch_monotonic();
  static const int types16[] = {QORA_Q4_0, QORA_Q8_0, QORA_Q4_K, QORA_Q6_K};
  for (size_t i = 0; i < sizeof types16 / sizeof *types16; i++) {
    test_r16_block(types16[i], 37, 768);
    test_r16_block(types16[i], 3, 256);
    for (int level = QORA_CPU_AVX2; level <= QORA_CPU_AVX512; level++) {
      if (qora_cpu_best() < level) {
        (void)TAP_OK(1, "%s repacker # SKIP this CPU lacks it", qora_cpu_name(level));
        continue;
      }
      test_repack_same(types16[i], 37, 768, level);
      test_repack_same(types16[i], 16, 512, level);
      test_repack_same(types16[i], 9, 256, level);
    }
  }
  return tap_done();
}
