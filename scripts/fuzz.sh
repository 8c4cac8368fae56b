#!/bin/sh
# Build and run the libFuzzer targets: scripts/fuzz.sh SECONDS [TARGET.c...]
#
# Every tests/fuzz/*.c is a target (LLVMFuzzerTestOneInput). The library
# sources are compiled with clang, coverage-instrumented and under ASan and
# UBSan, into build/fuzz/libavkit-fuzz.a (a source clang cannot compile is
# skipped; a target only pulls the objects it needs). Each target runs for
# SECONDS on its corpus in build/fuzz/corpus/NAME, seeded by the target
# itself when it supports FUZZ_WRITE_SEEDS=DIR. Sources see
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention) and may
# relax checksums under it. Crashes are left in
# build/fuzz/artifacts/ and make the script fail.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- tests/fuzz/*.c
[ -e "$1" ] || { echo "fuzz: no targets" >&2; exit 0; }
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang)" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out/obj" "$out/artifacts"
PKGS="libavformat libavcodec libavutil libswscale libtiff-4 zlib libdeflate"
mpi_inc=$(mpicc --showme:incdirs 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/openmpi/include)
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -Iinclude -Ilib $(pkg-config --cflags $PKGS 2>/dev/null || true)"
for d in $mpi_inc; do CFLAGS="$CFLAGS -I$d"; done
LIBS="$(pkg-config --libs $PKGS 2>/dev/null || echo -lz -ldeflate) -lm -lpthread"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

for src in lib/*/*.c; do
    obj="$out/obj/$(basename "$src" .c).o"
    [ "$obj" -nt "$src" ] && continue
    if ! $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj" 2>"$obj.log"; then
        echo "fuzz: skipping $src (does not compile with $CC; see $obj.log)" >&2
        rm -f "$obj"
    fi
done
rm -f "$out/libavkit-fuzz.a"
ar rcs "$out/libavkit-fuzz.a" "$out"/obj/*.o

status=0
for target in "$@"; do
    name=$(basename "$target" .c)
    bin="$out/$name"
    $CC $CFLAGS $SAN -fsanitize=fuzzer "$target" "$out/libavkit-fuzz.a" $LIBS -o "$bin"
    corpus="$out/corpus/$name"
    mkdir -p "$corpus"
    FUZZ_WRITE_SEEDS="$corpus" "$bin" -runs=0 >/dev/null 2>&1 || true
    echo "fuzz: $name for ${secs}s ($(ls "$corpus" | wc -l) inputs in the corpus)" >&2
    if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" "$corpus" \
            >"$out/$name.log" 2>&1; then
        echo "fuzz: $name FAILED; see $out/$name.log and $out/artifacts/" >&2
        tail -40 "$out/$name.log" >&2
        status=1
    else
        grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)" \
            "$out/$name.log" >&2 || true
        echo "fuzz: $name: no crash; corpus now $(ls "$corpus" | wc -l) inputs" >&2
    fi
done
exit $status
