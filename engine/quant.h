/*
** quant.h: the tensor types qora reads, their block layouts (GGML's, byte for byte), and the
** kernels that work on them. Every type has a scalar reference; SIMD variants are chosen at
** run time by CPU feature and are tested against the reference.
*/
#ifndef QORA_QUANT_H
#define QORA_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "qora.h"

typedef uint16_t qora_f16;
typedef uint16_t qora_bf16;

#define QK4_0 32
#define QK4_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { qora_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { qora_f16 d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { qora_f16 d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { qora_f16 d, s; int8_t qs[QK8_1]; } block_q8_1;  /* s = d * sum(qs) */
typedef struct {
  qora_f16 d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
  qora_f16 d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  qora_f16 d;
} block_q6_K;
typedef struct {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block size");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block size");

/* Scalar conversions (exact, round to nearest even). */
float qora_f16_to_f32(qora_f16 h);
qora_f16 qora_f32_to_f16(float f);
float qora_bf16_to_f32(qora_bf16 h);
qora_bf16 qora_f32_to_bf16(float f);

/* Dot product of n values: one row of weights x against activations y in vec_dot_type. */
typedef void (*qora_vec_dot_fn)(int n, float *s, const void *x, const void *y);
typedef void (*qora_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*qora_from_float_fn)(const float *x, void *y, int64_t n);

typedef struct qora_type_traits {
  const char *name;
  int blck;                   /* values per block */
  size_t type_size;           /* bytes per block */
  int vec_dot_type;           /* what activations are converted to for vec_dot */
  qora_to_float_fn to_float;  /* dequantize */
  qora_from_float_fn from_float;  /* quantize (for activations, and to quantize weights) */
  qora_vec_dot_fn vec_dot;    /* NULL for activation-only types (Q8_1, Q8_K) */
} qora_type_traits;

/* Traits of a type with the kernels of the active CPU level, or NULL for an unknown type. */
const qora_type_traits *qora_type_get(int type);

/* Bytes taken by n values of type (n a multiple of the block size). */
size_t qora_row_size(int type, int64_t n);

/* CPU levels; the best one the CPU supports is chosen at start. Tests force each in turn. */
/* AMX: AVX-512 and AMX-INT8 tiles the kernel lets the process use (the tiled product's kernel). */
enum { QORA_CPU_SCALAR = 0, QORA_CPU_AVX2 = 1, QORA_CPU_AVX512 = 2, QORA_CPU_AMX = 3 };
int qora_cpu_best(void);
int qora_cpu_level(void);
/* "scalar", "avx2", "avx512" or "amx"; "?" for a number that is no level. */
const char *qora_cpu_name(int level);
/*
** Forces a level (not above qora_cpu_best); returns the level in effect. It rewrites the
** shared table, so call it only while no other thread computes (tests, benchmarks).
*/
int qora_cpu_set_level(int level);

#endif
