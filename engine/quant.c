/*
** quant.c: the type table (names, block sizes, kernels), F16 / BF16 conversions and the
** choice of kernels by CPU level. The kernels themselves live in quant_ref.c (scalar) and
** quant_avx2.c / quant_avx512.c.
*/
#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <string.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "quant_kernels.h"

/* ------------------------------------------------------------------ conversions */

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}


static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}


float qora_f16_to_f32(qora_f16 h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;

  if (exp == 0x1f)
    return bits_f32(sign | 0x7f800000 | (man << 13));
  if (exp != 0)
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0)
    return bits_f32(sign);
  float v = (float)man * (1.0f / 16777216.0f);   /* subnormal: man * 2^-24, exact */
  return sign ? -v : v;
}


/* Shifts m right by sh bits, rounding to nearest, ties to even. */
static uint32_t shift_rne(uint32_t m, int sh) {
  uint32_t r = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);

  if (rem > half || (rem == half && (r & 1)))
    r++;
  return r;
}


qora_f16 qora_f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffff;

  if (a > 0x7f800000)
    return sign | 0x7e00 | (uint16_t)((a >> 13) & 0x3ff);   /* quiet NaN, payload kept */
  if (a >= 0x47800000)
    return sign | 0x7c00;                                   /* 2^16 and up: infinity */
  if (a >= 0x38800000)                      /* normal in f16; a carry may reach infinity */
    return sign | (uint16_t)shift_rne(a - (112u << 23), 13);
  int e = (int)(a >> 23);
  if (e < 102)
    return sign;                            /* below half the smallest subnormal */
  uint32_t m = (a & 0x7fffff) | (e ? 0x800000 : 0);
  return sign | (uint16_t)shift_rne(m, 126 - e);
}


float qora_bf16_to_f32(qora_bf16 h) {
  return bits_f32((uint32_t)h << 16);
}


qora_bf16 qora_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);

  if ((u & 0x7fffffff) > 0x7f800000)
    return (qora_bf16)((u >> 16) | 64);     /* keep NaN a NaN */
  return (qora_bf16)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ------------------------------------------------------------------ type table */

static const qora_type_traits scalar_traits[QORA_TYPE_COUNT] = {
  [QORA_F32] = {"F32", 1, 4, QORA_F32, qora_to_float_f32, qora_from_float_f32,
                qora_vec_dot_f32},
  [QORA_F16] = {"F16", 1, 2, QORA_F16, qora_to_float_f16, qora_from_float_f16,
                qora_vec_dot_f16},
  [QORA_BF16] = {"BF16", 1, 2, QORA_BF16, qora_to_float_bf16, qora_from_float_bf16,
                 qora_vec_dot_bf16},
  [QORA_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), QORA_Q8_0, qora_to_float_q4_0,
                 qora_from_float_q4_0, qora_vec_dot_q4_0_q8_0},
  [QORA_Q4_1] = {"Q4_1", QK4_1, sizeof(block_q4_1), QORA_Q8_1, qora_to_float_q4_1,
                 qora_from_float_q4_1, qora_vec_dot_q4_1_q8_1},
  [QORA_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), QORA_Q8_0, qora_to_float_q8_0,
                 qora_from_float_q8_0, qora_vec_dot_q8_0_q8_0},
  [QORA_Q8_1] = {"Q8_1", QK8_1, sizeof(block_q8_1), QORA_Q8_1, qora_to_float_q8_1,
                 qora_from_float_q8_1, NULL},
  /* K-quant weights are only read: qora never quantizes to them. */
  [QORA_Q4_K] = {"Q4_K", QK_K, sizeof(block_q4_K), QORA_Q8_K, qora_to_float_q4_K, NULL,
                 qora_vec_dot_q4_K_q8_K},
  [QORA_Q5_K] = {"Q5_K", QK_K, sizeof(block_q5_K), QORA_Q8_K, qora_to_float_q5_K, NULL,
                 qora_vec_dot_q5_K_q8_K},
  [QORA_Q6_K] = {"Q6_K", QK_K, sizeof(block_q6_K), QORA_Q8_K, qora_to_float_q6_K, NULL,
                 qora_vec_dot_q6_K_q8_K},
  [QORA_Q8_K] = {"Q8_K", QK_K, sizeof(block_q8_K), QORA_Q8_K, qora_to_float_q8_K,
                 qora_from_float_q8_K, NULL},
};

static qora_type_traits traits[QORA_TYPE_COUNT];
static int cpu_best, cpu_level;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;


#if defined(__x86_64__)
/* F16C by cpuid: clang before 15 does not know "f16c" in __builtin_cpu_supports. */
static int has_f16c(void) {
  unsigned a, b, c, d;

  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}


#define CPUID_AMX_TILE (1u << 24)    /* leaf 7, EDX */
#define CPUID_AMX_INT8 (1u << 25)
#define ARCH_REQ_XCOMP_PERM 0x1023    /* Linux's asm/prctl.h, which C code need not see */
#define XFEATURE_XTILEDATA 18

/*
** AMX-TILE and AMX-INT8 by cpuid (leaf 7, EDX bits 24 and 25), then Linux's leave to use the
** tile data (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), given once per process.
** x86-64 only, like cpuid itself: other machines have neither the call nor the tiles.
*/
static int has_amx(void) {
#if defined(__linux__)
  unsigned a, b, c, d;

  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & CPUID_AMX_TILE) || !(d & CPUID_AMX_INT8))
    return 0;
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return 0;
#endif
}
#endif


static int detect_cpu(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("fma") &&
      has_f16c())
    return has_amx() ? QORA_CPU_AMX : QORA_CPU_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      has_f16c())
    return QORA_CPU_AVX2;
#endif
  return QORA_CPU_SCALAR;
}


/* Fills the table with the scalar kernels, then overlays each SIMD level up to level. */
static void install(int level) {
  memcpy(traits, scalar_traits, sizeof traits);
#if defined(__x86_64__)
  if (level >= QORA_CPU_AVX2)
    qora_quant_install_avx2(traits);
  if (level >= QORA_CPU_AVX512)
    qora_quant_install_avx512(traits);
#endif
  cpu_level = level;
}


static void init(void) {
  cpu_best = detect_cpu();
  install(cpu_best);
}


const qora_type_traits *qora_type_get(int type) {
  pthread_once(&init_once, init);
  if (type < 0 || type >= QORA_TYPE_COUNT || traits[type].name == NULL)
    return NULL;
  return &traits[type];
}


const char *qora_type_name(int type) {
  if (type < 0 || type >= QORA_TYPE_COUNT)
    return NULL;
  return scalar_traits[type].name;
}


size_t qora_row_size(int type, int64_t n) {
  if (type < 0 || type >= QORA_TYPE_COUNT || scalar_traits[type].name == NULL)
    return 0;
  const qora_type_traits *t = &scalar_traits[type];
  return (size_t)(n / t->blck) * t->type_size;
}


int qora_cpu_best(void) {
  pthread_once(&init_once, init);
  return cpu_best;
}


int qora_cpu_level(void) {
  pthread_once(&init_once, init);
  return cpu_level;
}


const char *qora_cpu_name(int level) {
  static const char *const names[] = {"scalar", "avx2", "avx512", "amx"};

  return level >= QORA_CPU_SCALAR && level <= QORA_CPU_AMX ? names[level] : "?";
}


const char *qora_cpu_kernels(void) {
  return qora_cpu_name(qora_cpu_level());
}


int qora_cpu_set_level(int level) {
  pthread_once(&init_once, init);
  if (level < QORA_CPU_SCALAR)
    level = QORA_CPU_SCALAR;
  install(level > cpu_best ? cpu_best : level);
  return cpu_level;
}
