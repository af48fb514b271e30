/*
** attention_simd.h: the attention row kernels written once for any vector width. A file that
** includes it defines VEC, W (floats per vector) and the VZERO, VLOAD, VLOAD_F16, VSTORE,
** VSET1, VFMA and VSUM operations, and INSTALL, the name of its installer. Query heads are taken
** four at a time so each cached row is widened once for all of them.
*/
#include "attention.h"
#include "quant.h"

static float row_value(const void *row, int f16, int i) {
  return f16 ? qora_f16_to_f32(((const qora_f16 *)row)[i]) : ((const float *)row)[i];
}


static void scores(const void *k, size_t stride, int n, const float *q, int group, int hd,
                   float scale, float *s, int ss, int f16) {
  int vec = hd / W * W;

  for (int j = 0; j < n; j++) {
    const void *row = (const char *)k + j * stride;
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


static void accum(const void *v, size_t stride, int n, const float *p, int ps, int group,
                  int hd, float *out, int f16) {
  int vec = hd / W * W;

  for (int j = 0; j < n; j++) {
    const void *row = (const char *)v + j * stride;
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


static void scores_f16(const void *k, size_t stride, int n, const float *q, int group, int hd,
                       float scale, float *s, int ss) {
  scores(k, stride, n, q, group, hd, scale, s, ss, 1);
}


static void scores_f32(const void *k, size_t stride, int n, const float *q, int group, int hd,
                       float scale, float *s, int ss) {
  scores(k, stride, n, q, group, hd, scale, s, ss, 0);
}


static void accum_f16(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  accum(v, stride, n, p, ps, group, hd, out, 1);
}


static void accum_f32(const void *v, size_t stride, int n, const float *p, int ps, int group,
                      int hd, float *out) {
  accum(v, stride, n, p, ps, group, hd, out, 0);
}


void INSTALL(qora_attn_kernels *k) {
  k->scores_f16 = scores_f16;
  k->scores_f32 = scores_f32;
  k->accum_f16 = accum_f16;
  k->accum_f32 = accum_f32;
}
