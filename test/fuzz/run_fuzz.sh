#!/usr/bin/env bash
# test/fuzz/run_fuzz.sh SECONDS [TARGET...] — replay each target's
# regression inputs, then fuzz it for SECONDS with one worker.
#
# Targets: load config forward flat onnx (default: all).  Corpora grow in
# test/fuzz/corpus/<target>/ (not committed), seeded from the fixtures, the
# shared real models (TL_DATA_DIR, default ../shared/data) and
# test/fuzz/build/make_seeds.  Crashing inputs land in
# test/fuzz/artifacts/<target>/, each with its report (.report).
# Prints one line per target, "fuzz <target>: ok, ..." or "... FAILED", and
# exits non-zero if any failed.  Expects `make fuzz-build` to have run.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
SECONDS_EACH=${1:?usage: run_fuzz.sh SECONDS [TARGET...]}
shift
TARGETS=${*:-load config forward flat onnx}
DATA_DIR=${TL_DATA_DIR:-$REPO/../shared/data}
B=test/fuzz/build
MAX_LEN=65536
# full unwinding on malloc: leak stacks pass through libhdf5, built without frame pointers
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$REPO/test/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# seeds: model files small enough to mutate quickly
SEEDS=$B/seeds
rm -rf "$SEEDS"
mkdir -p "$SEEDS/load" "$SEEDS/config" "$SEEDS/flat" "$SEEDS/forward" "$SEEDS/onnx"
models=$( (find test/fixtures -type f; [ -d "$DATA_DIR/models" ] && find "$DATA_DIR/models" -name '*_model.h5' -o -name '*.keras' -o -path '*/other/*.h5') |
  while read -r f; do [ "$(stat -c %s "$f")" -le $MAX_LEN ] && echo "$f"; done | sort)
i=0
for f in $models; do i=$((i + 1)); cp "$f" "$SEEDS/load/seed$(printf %03d $i)"; done
# shellcheck disable=SC2086
$B/make_seeds "$SEEDS" $models >/dev/null
# ONNX: the PyTorch fixtures, the hostile files, and one model.onnx in five
# of the ONNX backend test data (Debian libonnx-testdata), when installed
i=0
for f in test/fixtures/onnx/*.onnx test/fixtures/onnx/bad/*.onnx \
         $(ls -d /usr/share/libonnx-testdata/data/{node,pytorch-converted}/*/model.onnx 2>/dev/null | awk 'NR % 5 == 0'); do
  i=$((i + 1)); cp "$f" "$SEEDS/onnx/seed$(printf %04d $i)"
done

# Where a crash report points: "hdf5" when its first frame in libhdf5 or in
# our sources is in libhdf5 (a libhdf5 bug: in the server it only kills the
# parser process), "ours" when it is in our code, "none" when the input did
# not crash again on replay (leaks that depend on earlier inputs).
crash_site() {
  grep -qE 'ERROR: |runtime error:' "$1" || { echo none; return; }
  if grep -q 'runtime error:' "$1"; then echo ours; return; fi
  frame=$(grep -E '^    #[0-9]+ ' "$1" | grep -E 'libhdf5|src/core/[a-z_0-9/]+\.c|test/fuzz/[a-z_]+\.c' | head -1)
  case "$frame" in *libhdf5*) echo hdf5 ;; *) echo ours ;; esac
}

failed=0
for t in $TARGETS; do
  bin=$B/fuzz_$t
  corpus=test/fuzz/corpus/$t
  art=test/fuzz/artifacts/$t
  rm -rf "$art"
  mkdir -p "$corpus" "$art"
  log=$B/fuzz_$t.log
  status=ok
  execs=0
  n_hdf5=0
  # 1. the inputs that once crashed it must not crash it now
  regress=test/fuzz/regress/$t
  n_regress=0
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    n_regress=$(ls "$regress" | wc -l)
    if ! "$bin" -runs=1 -timeout=20 "$regress"/* >"$log.regress" 2>&1; then
      status="FAILED (a regression input crashes it again: see $log.regress)"
    fi
  fi
  # 2. fuzz for the given time.  The loader target links libhdf5, whose own
  # crashes and hangs cannot be fixed here: it runs in fork mode, going on
  # after them, and each one is then triaged below.
  opts=(-timeout=20)
  [ "$t" = load ] && opts=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -timeout=5)
  [ -f test/fuzz/$t.dict ] && opts+=(-dict=test/fuzz/$t.dict)
  if [ "$status" = ok ]; then
    "$bin" "${opts[@]}" -max_total_time="$SECONDS_EACH" -max_len=$MAX_LEN -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art/" "$corpus" "$SEEDS/$t" >"$log" 2>&1
    rc=$?
    execs=$( (grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$';
              grep -oE '^#[0-9]+:' "$log" | tr -d '#:') | sort -n | tail -1)
    if [ $rc != 0 ] && [ "$t" != load ]; then
      status="FAILED (exit $rc: $(grep -oE 'Test unit written to .*' "$log" | head -1); see $log)"
      grep -E '^(==[0-9]+==ERROR|SUMMARY|    #[0-9]+ )' "$log" | head -25
    fi
  fi
  # 3. triage: a crash outside libhdf5 is a failure; one inside it must be
  # contained by the parser process (replay_isolated survives it).  The
  # replay allows 30 s: on a loaded machine a slow input (the 5000-layer
  # .keras seed takes about 4 s of CPU under ASan) passes the fuzzing
  # timeout without hanging; a real hang still times out here.
  for a in "$art"/*; do
    [ -f "$a" ] || continue
    case "$a" in *.report|*.isolated) continue ;; esac
    # a generous timeout: on a busy machine a seed can take seconds; a hang still hangs
    "$bin" -runs=1 -timeout=60 "$a" >"$a.report" 2>&1
    case $(crash_site "$a.report") in
      none) ;;
      hdf5)
        n_hdf5=$((n_hdf5 + 1))
        if ! timeout 60 $B/replay_isolated "$a" >"$a.isolated" 2>&1; then
          status="FAILED (the isolated loader did not survive $a)"
        fi ;;
      *)
        status="FAILED ($a: $(grep -m1 -E 'ERROR|runtime error' "$a.report"))"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|    #[0-9]+ )' "$a.report" | head -25 ;;
    esac
  done
  echo "fuzz $t: $status, ${SECONDS_EACH} s, ${execs:-0} execs, corpus $(ls "$corpus" | wc -l)," \
    "$n_regress regression inputs replayed, $n_hdf5 libhdf5 crashes/hangs contained"
  [ "$status" = ok ] || failed=$((failed + 1))
done
[ $failed = 0 ]
