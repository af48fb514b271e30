#!/bin/sh
# Checks code the compiler could silently drop. The r16 decode kernels prefetch weights into
# L2 (engine/matmul_r16_avx512.c, matmul_r16_avx2.c); once, GCC proved the prefetch helper
# free of side effects and deleted its calls in three of the four kernels: Q4_0 decoded 15.2
# tokens/s instead of 17.2, with every result the same. Prints TAP. Run from the top of the
# source tree after a build.
echo "1..2"
if [ "$(uname -m)" != x86_64 ] || ! command -v objdump >/dev/null 2>&1; then
  echo "ok 1 - the r16 decode kernels keep their prefetches # SKIP not x86-64, or no objdump"
  echo "ok 2 - the AVX2 r16 decode kernels keep their prefetches # SKIP not x86-64, or no objdump"
  exit 0
fi

# check N OBJ MIN WHY: test N passes when OBJ holds at least MIN prefetcht1 instructions.
check() {
  name="the r16 decode kernels keep their prefetches (prefetcht1 in $2)"
  n=$(objdump -d "$2" | grep -c prefetcht1)
  if [ "$n" -ge "$3" ]; then
    echo "ok $1 - $name"
  else
    echo "not ok $1 - $name"
    echo "# found $n prefetcht1 instructions, expected at least $3; $4"
  fi
}

# 140 with GCC 12: 14 for each stream of the four kernels' loops for 1 to 4 streams. A helper
# that is not always inlined left 4 before the streams (GCC deleted all but Q6_K's), and 0
# with them.
check 1 build/engine/matmul_r16_avx512.o 100 "was prefetch_ahead inlined?"
# 11 with GCC 12: Q4_0 and Q8_0 one loop each, Q4_K one, Q6_K one per quarter of a block,
# each loop a prefetch or two.
check 2 build/engine/matmul_r16_avx2.o 8 "was prefetch_ahead inlined?"
