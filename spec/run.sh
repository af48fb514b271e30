#!/bin/sh
# Runs the whole suite: the C test programs, the busted specs, the LuaRocks install check and
# the checks of the build (code the compiler could drop, the aarch64 build).
# Every part speaks TAP; the last line counts them all: "N passed, N failed".
LUA=${LUA:-lua5.4}
top=$(pwd)
export LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;;"
export LUA_CPATH="$top/build/?.so;;"
out=build/tap
mkdir -p "$out"
passed=0
failed=0

# run NAME COMMAND...: runs a TAP producer; a non-zero exit with no failing test is one failure.
run() {
  name=$1
  shift
  echo "# $name"
  ("$@"; echo $? > "$out/$name.rc") 2>&1 | tee "$out/$name.tap"
  rc=$(cat "$out/$name.rc")
  p=$(grep -c '^ok ' "$out/$name.tap")
  f=$(grep -c '^not ok ' "$out/$name.tap")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $name exited with status $rc"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

for t in build/test/test_*; do
  [ -x "$t" ] && run "$(basename "$t")" "$t"
done
# The same programs built with AddressSanitizer (leaks are not counted, memory errors are).
for t in build/asan/test/test_*; do
  [ -x "$t" ] && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 run "asan-$(basename "$t")" "$t"
done
run busted busted --lua="$LUA" -o TAP spec
[ -f spec/rock_check.sh ] && run luarocks sh spec/rock_check.sh
run codegen sh spec/codegen_check.sh
run cross sh spec/cross_check.sh
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
