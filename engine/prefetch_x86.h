/*
** prefetch_x86.h: the weight prefetch of the r16 decode kernels (matmul_r16_avx2.c,
** matmul_r16_avx512.c). Include it only inside their #if defined(__x86_64__).
*/
#ifndef QORA_PREFETCH_X86_H
#define QORA_PREFETCH_X86_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/*
** Asks for the n bytes pf past p, into L2. Near a buffer's end they lie past it: a prefetch
** never faults, and the address is made as an integer, since pointer arithmetic beyond an
** object's end is undefined in C. Always inlined: out of line, GCC 12 found the helper free
** of side effects and deleted its calls (spec/codegen_check.sh checks).
*/
static inline __attribute__((always_inline))
void prefetch_ahead(const uint8_t *p, size_t n, size_t pf) {
  for (size_t o = 0; o < n; o += 64)
    _mm_prefetch((const char *)((uintptr_t)p + pf + o), _MM_HINT_T1);
}

#endif
