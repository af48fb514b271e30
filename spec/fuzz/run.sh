#!/bin/sh
# Runs each fuzzer for SECONDS: usage run.sh SECONDS BIN... (make fuzz calls it).
# Each target's corpus grows in build/fuzz/corpus/TARGET, started from spec/fuzz/seeds/TARGET;
# its log is build/fuzz/TARGET.log, and an input that fails is saved in build/fuzz/crashes/.
# -malloc_limit_mb makes one allocation of more than 512 MB a failure: a few kilobytes of
# input never justify it, so a size field that reaches malloc unchecked is found.
# Every target runs even after one fails, so one fault does not hide the next target's;
# the exit status is non-zero at the end if any failed, and the failed ones are named.
seconds=$1
shift
mkdir -p build/fuzz/crashes
failed=
for bin in "$@"; do
  name=$(basename "$bin")
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  printf 'fuzz %s for %ss: ' "$name" "$seconds"
  if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
       -artifact_prefix=build/fuzz/crashes/"$name"- "$corpus" spec/fuzz/seeds/"$name" \
       > build/fuzz/"$name".log 2>&1; then
    grep -E '^#[0-9]+' build/fuzz/"$name".log | tail -n 1
  else
    echo "FAILED"
    grep -E '^(==|SUMMARY|fuzz check|artifact_prefix|Test unit written)' build/fuzz/"$name".log
    failed="$failed $name"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: failed:$failed (logs in build/fuzz/, inputs in build/fuzz/crashes/)"
  exit 1
fi
