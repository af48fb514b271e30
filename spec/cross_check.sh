#!/bin/sh
# Checks that qora still builds and runs off the CPUs it is developed on. First aarch64, where
# no x86 intrinsic, cpuid or arch_prctl exists: the engine, the binding, the tools and the C
# tests compiled with no warning, and the programs linked with nothing of qora's missing
# (cJSON and utf8proc, which the host has only for x86-64, are left unresolved); where
# qemu-aarch64 is installed, the C tests that need neither library run too, skipping the x86
# levels. Then an x86-64 CPU with no AVX at all (qemu-x86_64 -cpu Nehalem): the same tests,
# built as make builds them, must pass at the scalar level, where an instruction of a higher
# level kills them. Last one with AVX2 and no AVX-512 (-cpu Haswell), where the whole process
# picks the AVX2 level, as it does on such a CPU, and not only the tests' forced kernels. Prints
# TAP; each part skips without its tools (Debian: gcc-aarch64-linux-gnu, qemu-user). Run from
# the top of the tree after a build.
CROSS=${CROSS:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
QEMU_X86=${QEMU_X86:-qemu-x86_64}
RUNS="test_matmul test_ops test_quant"   # test_pool waits on spinning threads: minutes in qemu
out=build/cross
flags="-O1 -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Wno-unused-parameter -Werror -Iengine
$(pkg-config --cflags lua5.4 libcjson libutf8proc 2>/dev/null)"

# obj FILE: the path of FILE's object and log, less their extensions.
obj() {
  echo "$out/obj/$(echo "${1%.c}" | tr / _)"
}

# compile NAME FILES...: two files at a time, then one TAP line with the first complaints.
n=0
compile() {
  n=$((n + 1))
  name=$1
  shift
  i=0
  for f in "$@"; do
    # shellcheck disable=SC2086
    $CROSS $flags -fPIC -Ispec/c -c "$f" -o "$(obj "$f").o" > "$(obj "$f").log" 2>&1 &
    i=$((i + 1))
    [ $((i % 2)) -eq 0 ] && wait
  done
  wait
  for f in "$@"; do cat "$(obj "$f").log"; done > "$out/$n.log"
  if [ -s "$out/$n.log" ]; then
    echo "not ok $n - $name"
    head -n 5 "$out/$n.log" | sed 's/^/# /'
  else
    echo "ok $n - $name"
  fi
}

# verdict N NAME: test N's TAP line, with what went wrong ($bad) when anything did.
verdict() {
  if [ -z "$bad" ]; then
    echo "ok $1 - $2"
  else
    echo "not ok $1 - $2"
    echo "#$bad"
  fi
}

# check_tap PROGRAM TAP STATUS PATTERN: adds to $bad when the run ended with a status other
# than 0, failed a test, printed no line matching PATTERN (no test ran where it should), or
# printed no plan of as many tests as it passed (it stopped before the end).
check_tap() {
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$2" | tail -n 1)
  if [ "$3" -ne 0 ] || grep -q '^not ok' "$2" || ! grep -q "$4" "$2" ||
      [ "$plan" != "$(grep -c '^ok ' "$2")" ]; then
    bad="$bad $1 (status $3, plan 1..${plan:-none}: $(grep -m 1 '^not ok' "$2"); after: $(grep \
      '^ok' "$2" | tail -n 1))"
  fi
}

# Tests 1 to 4: aarch64.
aarch64() {
  if ! command -v "$CROSS" >/dev/null 2>&1; then
    for i in 1 2 3 4; do
      echo "ok $i - aarch64 build # SKIP no $CROSS"
    done
    return
  fi
  rm -rf "$out"
  mkdir -p "$out/obj" "$out/test" "$out/inc"
  # Debian's luaconf.h includes a header of the host's architecture only
  printf '#define DEB_HOST_MULTIARCH "aarch64-linux-gnu"\n' > "$out/inc/lua5.4-deb-multiarch.h"
  flags="$flags -idirafter $out/inc"

  compile "engine/*.c, lqora/*.c and tools/*.c compile for aarch64 with no warning" \
    engine/*.c lqora/*.c tools/*.c
  compile "spec/c/test_*.c compile for aarch64 with no warning" spec/c/test_*.c

  # Every symbol a program takes from the engine must be there; only the libraries' may be
  # missing.
  ar rcs "$out/libqora.a" "$out"/obj/engine_*.o
  missing=""
  for t in spec/c/test_*.c tools/*.c; do
    b=$(basename "$t" .c)
    $CROSS -static -pthread -o "$out/test/$b" "$(obj "$t").o" "$out/libqora.a" -lm \
      -Wl,--warn-unresolved-symbols 2> "$out/$b.link"
    m=$(grep -o "undefined reference to \`[^']*'" "$out/$b.link" | grep -v '`cJSON_\|`utf8proc_' |
        sort -u | head -n 3)
    [ -x "$out/test/$b" ] || m="$m $(grep -m 1 -v 'undefined reference' "$out/$b.link")"
    [ -n "$m" ] && missing="$missing $b: $m;"
  done
  bad=$missing
  verdict 3 "the C tests and tools link for aarch64 with every engine symbol defined"

  name="$RUNS pass on aarch64 under qemu"
  if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "ok 4 - $name # SKIP no $QEMU"
    return
  fi
  bad=""
  for b in $RUNS; do
    "$QEMU" "$out/test/$b" > "$out/$b.tap" 2>&1
    check_tap "$b" "$out/$b.tap" $? '^ok'
  done
  verdict 4 "$name"
}

# no_x86_qemu N NAME: true, test N printed as skipped, off x86-64 or without $QEMU_X86.
no_x86_qemu() {
  if [ "$(uname -m)" != x86_64 ] || ! command -v "$QEMU_X86" >/dev/null 2>&1; then
    echo "ok $1 - $2 # SKIP not x86-64, or no $QEMU_X86"
    return 0
  fi
  return 1
}

# Test 5: x86-64 with no AVX, on the host's own build.
no_avx() {
  name="$RUNS pass on x86-64 with no AVX (qemu -cpu Nehalem)"
  no_x86_qemu 5 "$name" && return
  mkdir -p "$out"
  bad=""
  for b in $RUNS; do
    "$QEMU_X86" -cpu Nehalem "build/test/$b" > "$out/$b.x86.tap" 2>&1
    check_tap "$b" "$out/$b.x86.tap" $? '^ok'
  done
  verdict 5 "$name"
}

# Test 6: x86-64 with AVX2 and no AVX-512. QEMU (7.2 to 10.0.13 at least) flushes subnormal
# halves in VCVTPH2PS when MXCSR's DAZ is set, which the instruction ignores on the CPU (Intel's
# SDM), and real K-quant scales are subnormal: with the engine's FTZ and DAZ, about a hundred
# test_matmul cases read scales as 0. So these tests link a pool.o whose jobs set FTZ alone;
# the native run checks the scales under DAZ (test_matmul, subnormal F16 scales). -O2 as make
# builds: the tests' float64 references took test_matmul 53 s at -O1 here, 40 at -O2.
avx2_only() {
  name="$RUNS pass on x86-64 with AVX2 and no AVX-512 (qemu -cpu Haswell, jobs without DAZ)"
  no_x86_qemu 6 "$name" && return
  hsw="$out/haswell"
  mkdir -p "$hsw"
  cp build/libqora.a "$hsw/libqora.a"
  bad="" built=1
  # shellcheck disable=SC2086
  if ! ${CC:-cc} $flags -O2 -fPIC -DQORA_MXCSR_FLUSH=0x8000 -c engine/pool.c -o "$hsw/pool.o" \
      > "$hsw/build.log" 2>&1 || ! ar rcs "$hsw/libqora.a" "$hsw/pool.o" >> "$hsw/build.log" 2>&1
  then
    bad=" build: $(head -n 1 "$hsw/build.log")" built=0
  fi
  for b in $RUNS; do
    [ "$built" -eq 1 ] || break
    # shellcheck disable=SC2086
    if ! ${CC:-cc} $flags -O2 -Ispec/c "spec/c/$b.c" -o "$hsw/$b" "$hsw/libqora.a" \
        -lcjson -lutf8proc -lm -pthread > "$hsw/$b.log" 2>&1; then
      bad="$bad $b (build: $(head -n 1 "$hsw/$b.log"))"
      continue
    fi
    "$QEMU_X86" -cpu Haswell "$hsw/$b" > "$hsw/$b.tap" 2>&1
    check_tap "$b" "$hsw/$b.tap" $? '^ok .*avx2'
  done
  verdict 6 "$name"
}

echo "1..6"
aarch64
no_avx
avx2_only
