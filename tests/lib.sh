# avkit test library, after git's t/test-lib.sh: one behaviour per test,
# TAP on stdout, run by prove. A test script looks like
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it shows' '
#       av-tensor --version
#   '
#   test_done
#
# Each script runs in its own scratch directory ($TRASH, removed when every
# test passed). Tools come from $AVKIT_BUILD/bin (set by make check).

set -u
TEST_NAME=$(basename "$0" .t)
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$TESTS_DIR/.." && pwd)
: "${AVKIT_BUILD:=$SRC_DIR/build/rel}"
export AVKIT_BUILD SRC_DIR TESTS_DIR
export PATH="$AVKIT_BUILD/bin:$AVKIT_BUILD/tests:$AVKIT_BUILD/examples:$PATH"
GOLDEN_DIR="$TESTS_DIR/golden"
# Shared, cached test media (generated with ffmpeg's lavfi sources).
MEDIA="$AVKIT_BUILD/test-media"
TRASH="$AVKIT_BUILD/trash/$TEST_NAME"
rm -rf "$TRASH" && mkdir -p "$TRASH" "$MEDIA" || exit 1
cd "$TRASH" || exit 1
export LC_ALL=C OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Spinning OpenMP threads starve each other when prove runs tests in parallel.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Sanitizer builds: leaks in MPI and FFmpeg internals are not ours.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

test_count=0
test_failed=0
test_skip_all=

# Python with numpy, for interop checks (the suite's only Python use).
PYTHON=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then
        PYTHON=$p; break
    fi
done

# test_expect_success DESC SCRIPT: run SCRIPT in a subshell; ok if it exits 0.
test_expect_success() {
    test_count=$((test_count + 1))
    local out="$TRASH/.out.$test_count"
    if (eval "$2") >"$out" 2>&1; then
        echo "ok $test_count - $1"
    else
        test_failed=$((test_failed + 1))
        echo "not ok $test_count - $1"
        sed 's/^/#   /' "$out"
    fi
}

# test_expect_failure_status STATUS DESC SCRIPT: SCRIPT's last command must
# exit with exactly STATUS (for usage errors and failures of the work).
test_expect_code() {
    local want=$1; shift
    test_expect_success "$1" "( $2 ); rc=\$?; test \$rc -eq $want || { echo \"exit \$rc, expected $want\"; false; }"
}

# test_skip DESC REASON
test_skip() {
    test_count=$((test_count + 1))
    echo "ok $test_count - $1 # SKIP $2"
}

# skip_all REASON: skip the whole script (call before any test).
skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

test_done() {
    echo "1..$test_count"
    if [ "$test_failed" -eq 0 ]; then
        cd "$SRC_DIR" && rm -rf "$TRASH"
        exit 0
    fi
    exit 1
}

# test_cmp EXPECTED ACTUAL: identical files, else show the diff.
test_cmp() {
    diff -u "$1" "$2"
}

# test_golden NAME ACTUAL: compare with tests/golden/NAME; under
# `make golden` (AVKIT_UPDATE_GOLDEN=1) write it instead.
test_golden() {
    if [ "${AVKIT_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$2" "$GOLDEN_DIR/$1"
        return 0
    fi
    [ -f "$GOLDEN_DIR/$1" ] || { echo "missing golden file tests/golden/$1 (run make golden)"; return 1; }
    diff -u "$GOLDEN_DIR/$1" "$2"
}

# test_golden_approx NAME ACTUAL RELTOL: like test_golden, but numbers in
# KEY=VALUE words may differ by RELTOL relative (of the larger magnitude,
# at least 1e-3): for listings of values that a trained model computes,
# whose last bits depend on the CPU's GEMM kernels. Everything else must
# match exactly.
test_golden_approx() {
    if [ "${AVKIT_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$2" "$GOLDEN_DIR/$1"
        return 0
    fi
    [ -f "$GOLDEN_DIR/$1" ] || { echo "missing golden file tests/golden/$1 (run make golden)"; return 1; }
    awk -v tol="$3" -v gold="$GOLDEN_DIR/$1" '
        function abs(x) { return x < 0 ? -x : x }
        {
            if ((getline g < gold) <= 0) { print "extra line " NR ": " $0; bad = 1; exit }
            n = split($0, a, " "); m = split(g, b, " ")
            if (n != m) { print "line " NR ": " g " != " $0; bad = 1; next }
            for (i = 1; i <= n; i++) {
                if (a[i] == b[i]) continue
                if (split(a[i], x, "=") == 2 && split(b[i], y, "=") == 2 && x[1] == y[1] &&
                    x[2] ~ /^-?[0-9.e+-]+$/ && y[2] ~ /^-?[0-9.e+-]+$/) {
                    s = abs(x[2]) > abs(y[2]) ? abs(x[2]) : abs(y[2]); if (s < 1e-3) s = 1e-3
                    if (abs(x[2] - y[2]) <= tol * s) continue
                }
                print "line " NR ": " b[i] " != " a[i]; bad = 1
            }
        }
        END { if (!bad && (getline g < gold) > 0) { print "missing line: " g; bad = 1 }
              exit bad }' "$2"
}

# test_stderr_has PATTERN FILE: FILE (captured stderr) matches PATTERN.
test_grep() {
    grep -E -- "$1" "$2" || { echo "no match for /$1/ in $2:"; cat "$2"; return 1; }
}

# mpirun for the tests: as root, oversubscribed, quiet.
avk_mpirun() {
    local np=$1; shift
    mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
        -x PATH -x LD_LIBRARY_PATH -x ASAN_OPTIONS -x UBSAN_OPTIONS -x OMP_NUM_THREADS=1 \
        -np "$np" "$@"
}

# test_media NAME LAVFI_ARGS...: generate (once, cached) $MEDIA/NAME with
# ffmpeg; prints the path. Arguments after the name are ffmpeg arguments
# between the inputs and the output.
test_media() {
    local name=$1; shift
    local path="$MEDIA/$name"
    if [ ! -s "$path" ]; then
        local tmp="$MEDIA/.tmp.$$.$name"
        ffmpeg -nostdin -loglevel error -y "$@" "$tmp" && mv "$tmp" "$path" || { rm -f "$tmp"; return 1; }
    fi
    echo "$path"
}

# run_unit NAME: run the C unit test program tests/unit/NAME.c (built into
# $AVKIT_BUILD/tests/NAME) as this script's whole TAP stream.
run_unit() {
    "$AVKIT_BUILD/tests/$1"
    local rc=$?
    [ $rc -eq 0 ] && cd "$SRC_DIR" && rm -rf "$TRASH"
    exit $rc
}
