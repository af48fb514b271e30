/*
** rand_blocks.h: seeded random inputs for the kernel tests: activations, valid weight blocks
** of every type (finite, small scales), and the error that quantizing activations explains.
*/
#ifndef QORA_RAND_BLOCKS_H
#define QORA_RAND_BLOCKS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static uint64_t rb_state = 0x9e3779b97f4a7c15ull;


static uint32_t rb_u32(void) {
  rb_state ^= rb_state << 13;
  rb_state ^= rb_state >> 7;
  rb_state ^= rb_state << 17;
  return (uint32_t)(rb_state >> 16);
}


/* Uniform in [lo, hi). */
static float rb_uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)(rb_u32() >> 8) * (1.0f / 16777216.0f);
}


/* Activation-like values: mostly small, with an occasional outlier as real models have. */
static void rb_floats(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    x[i] = rb_u32() % 61 == 0 ? rb_uniform(-20, 20) : rb_uniform(-2, 2);
}


static void rb_bytes(void *p, size_t n) {
  uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)rb_u32();
}


static qora_f16 rb_scale(float lo, float hi) {
  return qora_f32_to_f16(rb_uniform(lo, hi));
}


/*
** n values of type as random bytes whose scales are replaced by small finite ones. The float
** types get values of weight-like size.
*/
static void rb_weights(int type, void *out, int64_t n) {
  const qora_type_traits *t = qora_type_get(type);
  int64_t nb = n / t->blck;

  rb_bytes(out, (size_t)nb * t->type_size);
  for (int64_t i = 0; i < nb; i++) {
    switch (type) {
    case QORA_F32: ((float *)out)[i] = rb_uniform(-0.5f, 0.5f); break;
    case QORA_F16: ((qora_f16 *)out)[i] = rb_scale(-0.5f, 0.5f); break;
    case QORA_BF16: ((qora_bf16 *)out)[i] = qora_f32_to_bf16(rb_uniform(-0.5f, 0.5f)); break;
    case QORA_Q4_0: ((block_q4_0 *)out)[i].d = rb_scale(-0.05f, 0.05f); break;
    case QORA_Q4_1:
      ((block_q4_1 *)out)[i].d = rb_scale(0, 0.05f);
      ((block_q4_1 *)out)[i].m = rb_scale(-0.4f, 0);
      break;
    case QORA_Q8_0: ((block_q8_0 *)out)[i].d = rb_scale(-0.005f, 0.005f); break;
    case QORA_Q4_K:
      ((block_q4_K *)out)[i].d = rb_scale(0, 0.003f);
      ((block_q4_K *)out)[i].dmin = rb_scale(0, 0.003f);
      break;
    case QORA_Q5_K:
      ((block_q5_K *)out)[i].d = rb_scale(0, 0.0015f);
      ((block_q5_K *)out)[i].dmin = rb_scale(0, 0.003f);
      break;
    case QORA_Q6_K: ((block_q6_K *)out)[i].d = rb_scale(-0.0002f, 0.0002f); break;
    }
  }
}


/*
** Largest error that converting x[0..n) to activation type vt may introduce, per value:
** half a step of its block's scale (amax / 127), plus the F16 rounding of that scale.
*/
__attribute__((unused))
static void rb_act_error(int vt, const float *x, int64_t n, double *err) {
  int blk = vt == QORA_Q8_K ? QK_K : 32;

  for (int64_t i = 0; i < n; i++) {
    double ax = fabs(x[i]);
    if (vt == QORA_F32)
      err[i] = 0;
    else if (vt == QORA_F16)
      err[i] = ax * (1.0 / 2048) + 6e-8;
    else if (vt == QORA_BF16)
      err[i] = ax * (1.0 / 256) + 1e-38;
    else
      err[i] = -1;
  }
  if (vt == QORA_F32 || vt == QORA_F16 || vt == QORA_BF16)
    return;
  for (int64_t b = 0; b < n; b += blk) {
    double amax = 0;
    for (int j = 0; j < blk; j++)
      amax = fabs(x[b + j]) > amax ? fabs(x[b + j]) : amax;
    for (int j = 0; j < blk; j++)
      err[b + j] = (vt == QORA_Q8_K ? 0.501 : 0.563) * amax / 127;
  }
}

#endif
