#!/bin/sh
# Installs the benchmark's peers, ik_llama.cpp and llama.cpp through their PyPI bindings, into
# a virtual environment (default .venv-peers/). Both compile llama.cpp from source for this
# CPU, as a user's own build would. A peer that is already importable is kept.
# usage: [PEERS="ik_llama llamacpp"] sh bench/peers-install.sh [VENV]
set -u
VENV=${1:-.venv-peers}
PY=${PYTHON:-python3}
IK_VERSION=${IK_VERSION:-0.1.5}
LLAMACPP_VERSION=${LLAMACPP_VERSION:-0.3.36}
COMMON="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || {
  echo "peers: cannot create $VENV (is python3-venv installed?)" >&2; exit 1; }
# Two installs at once would unpack and build over each other.
VENV=$(cd "$VENV" && pwd)   # absolute: pip runs builds from the source folder
lock=$VENV/install.lock
mkdir "$lock" 2>/dev/null || {
  echo "peers: another install holds $lock; wait for it (or remove that folder)" >&2; exit 1; }
trap 'rmdir "$lock"' EXIT INT TERM
"$VENV/bin/pip" install -q numpy >/dev/null 2>&1

# ggml turns GGML_NATIVE off when SOURCE_DATE_EPOCH is set.
unset SOURCE_DATE_EPOCH
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}

# llama.cpp's AMX path crashes on the first decode on a Sapphire Rapids VM (its issue #20824)
# and -march=native would enable it: name every other instruction set the CPU has instead.
mainline_isa() {
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
  args="-DGGML_NATIVE=OFF"
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI \
              avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI \
              avx512_bf16:AVX512_BF16; do
    case " $flags " in
      *" ${pair%%:*} "*) args="$args -DGGML_${pair#*:}=ON" ;;
      *) args="$args -DGGML_${pair#*:}=OFF" ;;
    esac
  done
  echo "$args"
}

HERE=$(cd "$(dirname "$0")" && pwd)
loads() { "$VENV/bin/python" "$HERE/peers.py" --check "$1" 2>/dev/null; }

# sdist PACKAGE VERSION: downloads and unpacks a source distribution into its own folder;
# prints the source folder.
sdist() {
  dir=$VENV/src/$1
  rm -rf "$dir" && mkdir -p "$dir" &&
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$dir" "$1==$2" >&2 &&
    tar xzf "$dir"/*.tar.gz -C "$dir" || return 1
  echo "$dir/$(echo "$1" | tr - _)-$2"
}

# ik-llama-cpp-python 0.1.5's sdist lacks common/cmake/build-info-gen-cpp.cmake, the script
# its build runs to write common/build-info.cpp (version strings); this one writes the same
# file from the template that is there.
# SmolLM3's heads are 128 wide, and ik_llama.cpp's flash-attention kernels for the 8 other
# head sizes took about 4 of the peers' 9 build minutes on 2 cores. Those files are compiled as
# stubs that decline, as ik_llama.cpp itself declines a head size it has no kernel for (its
# generic path would run); the 128 x 128 kernel is built as published.
ik_source() {
  src=$(sdist ik-llama-cpp-python "$IK_VERSION") || return 1
  gen=$src/vendor/ik_llama.cpp/common/cmake/build-info-gen-cpp.cmake
  if [ ! -f "$gen" ]; then
    mkdir -p "$(dirname "$gen")"
    cat >"$gen" <<'CMAKE'
set(BUILD_NUMBER 0)
set(BUILD_COMMIT "ik-llama-cpp-python sdist")
set(BUILD_COMPILER "${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION}")
set(BUILD_TARGET "native")
configure_file("${CMAKE_CURRENT_LIST_DIR}/../build-info.cpp.in"
               "${CMAKE_CURRENT_LIST_DIR}/../build-info.cpp")
CMAKE
  fi
  for f in "$src"/vendor/ik_llama.cpp/ggml/src/iqk/fa/iqk_fa_*_*.cpp; do
    name=$(basename "$f" .cpp)
    # No match leaves the pattern itself: nothing to stub, the kernels build as published.
    [ -f "$f" ] && [ "$name" != iqk_fa_128_128 ] || continue
    printf '%s\n' '#include "iqk/iqk_config.h"' \
      '#if defined IQK_IMPLEMENT && defined GGML_IQK_FLASH_ATTENTION' \
      '#include "iqk/fa/iqk_fa_templates.h"' \
      "IQK_FA_CASE($name) { return false; }   // head size not benchmarked (qora)" \
      '#endif' >"$f"
  done
  ik_stub_gemm "$src" || return 1
  ik_skip_tools "$src" || return 1
  echo "$src"
}

# ik_llama.cpp's matrix kernels for its IQ1_*, IQ2_*, IQ3_* and IQ*_K types, in three files,
# took 107 of its 730 compile-seconds (52 iqk_gemm_iqk_quants, 29 iqk_gemm_1bit, 26
# iqk_gemm_iquants; two builds sharing 2 cores). The benchmark's files hold Q4_0, Q4_K, Q6_K,
# Q8_0 and F32, its caches F16: iqk_mul_mat.cpp sends those (repacked by -rtr, or converted
# for large batches) to its float, legacy and k-quant kernels, never to these files, and no
# other file calls into them. They are compiled as stubs that stop with a message instead of
# declining: once ggml.c has quantized the activations for the iqk path, a declined matrix
# product is left unwritten (no generic fallback, unlike flash attention), so a file of those
# types would give wrong output silently.
ik_stub_gemm() {
  iqk=$1/vendor/ik_llama.cpp/ggml/src/iqk
  for kind in 1bit iquants iqk_quants; do
    set_k="bool iqk_set_kernels_$kind(int ne00, int typeA, int typeB, \
std::array<mul_mat_t, IQK_MAX_NY>& kernels, mul_mat_t& func16);"
    conv="bool iqk_convert_${kind}_q80_r8(int type, int n, const void * vx, size_t bx, \
void * vy, int nrc_x);"
    # The header's declarations, minus preprocessor lines, must be these two and no more.
    decls=$(grep -vE '^[[:space:]]*(#|$)' "$iqk/iqk_gemm_$kind.h" 2>/dev/null)
    if [ ! -f "$iqk/iqk_gemm_$kind.cpp" ] || [ "$decls" != "$(printf '%s\n%s' "$set_k" "$conv")" ]
    then
      # Another version of ik: its kernels build as published (slower, same results).
      echo "peers: iqk_gemm_$kind.cpp or its header is not as ik_stub_gemm expects;" \
        "building ik_llama.cpp's kernels as published" >&2
      return 0
    fi
  done
  for kind in 1bit iquants iqk_quants; do
    ik_gemm_stub "$kind" >"$iqk/iqk_gemm_$kind.cpp" || return 1
  done
}

# ik_gemm_stub KIND: the C++ text of a stub for iqk_gemm_KIND.cpp (see ik_stub_gemm).
ik_gemm_stub() {
  cat <<CPP
// Kernels left out by qora's bench/peers-install.sh: the benchmark never uses these types.
#include "iqk_gemm_$1.h"
#ifdef IQK_IMPLEMENT
#include <cstdio>
#include <cstdlib>
static bool no_kernel(int type) {
    fprintf(stderr, "ik_llama.cpp: this build (qora's bench/peers-install.sh) has no matrix "
            "kernels for ggml type %d; install ik-llama-cpp-python with pip to run it\n", type);
    abort();
}
bool iqk_set_kernels_$1(int, int typeA, int, std::array<mul_mat_t, IQK_MAX_NY>&, mul_mat_t&) {
    return no_kernel(typeA);
}
bool iqk_convert_$1_q80_r8(int type, int, const void *, size_t, void *, int) {
    return no_kernel(type);
}
#endif
CPP
}

# The binding also builds llama-quantize, which links llama.cpp's common library and its HTTP
# client: about 2.5 of ik_llama's 8.5 build minutes on 2 cores, for a program the benchmark
# never runs. The libraries it loads (llama, ggml) build as before.
ik_skip_tools() {
  top=$1/CMakeLists.txt
  sub=$1/vendor/ik_llama.cpp/CMakeLists.txt
  perl -0pi -e 's{add_subdirectory\(vendor/ik_llama\.cpp/examples/quantize\)\n}{};
                s{install\(\s*TARGETS llama-quantize[^)]*\)\n}{}' "$top" &&
    sed -i -E 's@^(add_subdirectory\((common|vendor/cpp-httplib))\)$@\1 EXCLUDE_FROM_ALL)@' \
      "$sub" || return 1
  if grep -qE 'TARGETS llama-quantize|examples/quantize' "$top" ||
     [ "$(grep -c '^add_subdirectory(.* EXCLUDE_FROM_ALL)$' "$sub")" != 2 ]; then
    echo "peers: could not leave llama-quantize out of $1's build" >&2
    return 1
  fi
}

# llama-cpp-python 0.3.36 forces llama.cpp's common library on, which only its multimodal
# part (off here) uses: with its HTTP client, about 3.5 minutes of compiling on 2 cores.
lc_source() {
  src=$(sdist llama-cpp-python "$LLAMACPP_VERSION") || return 1
  sed -i '/set(LLAMA_BUILD_COMMON ON CACHE BOOL/d' "$src/CMakeLists.txt" || return 1
  if grep -q 'LLAMA_BUILD_COMMON ON' "$src/CMakeLists.txt"; then
    echo "peers: $src/CMakeLists.txt still turns LLAMA_BUILD_COMMON on" >&2
    return 1
  fi
  echo "$src"
}

# install_peer PEER SOURCE LOG CMAKE_ARGS: builds from source, never from a cached wheel
# (one cached under other CMAKE_ARGS would be reused silently).
install_peer() {
  if loads "$1"; then return 0; fi
  [ -n "$2" ] || { echo "peers: no source for $1; see the messages above" >&2; return 1; }
  echo "peers: building $1 (several minutes; log in $3)" >&2
  start=$(date +%s)
  # A build folder that outlives pip, so a failure late in a long build can be looked into.
  if CMAKE_ARGS="$4 $COMMON" SKBUILD_BUILD_DIR="$VENV/build/$1" \
       "$VENV/bin/pip" install --no-cache-dir \
       --no-binary ik-llama-cpp-python,llama-cpp-python "$2" >"$3" 2>&1; then
    echo "peers: $1 built in $(( $(date +%s) - start )) s" >&2
  else
    echo "peers: $1 failed after $(( $(date +%s) - start )) s; see $3" >&2
    return 1
  fi
}

status=0
ik=
lc=
want=" ${PEERS:-ik_llama llamacpp} "
if [ "${want#* ik_llama }" != "$want" ]; then
  # Flash attention over quantized KV caches is not benchmarked; leaving it out saves minutes.
  ik_src=
  loads ik_llama || ik_src=$(ik_source)
  install_peer ik_llama "$ik_src" "$VENV/ik_llama.log" \
    "-DGGML_NATIVE=ON -DGGML_IQK_FA_ALL_QUANTS=OFF" &
  ik=$!
fi
if [ "${want#* llamacpp }" != "$want" ]; then
  lc_src=
  loads llamacpp || lc_src=$(lc_source)
  install_peer llamacpp "$lc_src" "$VENV/llamacpp.log" \
    "$(mainline_isa) -DLLAMA_BUILD_COMMON=OFF" &
  lc=$!
fi
[ -z "$ik" ] || wait $ik || status=1
[ -z "$lc" ] || wait $lc || status=1
exit $status
