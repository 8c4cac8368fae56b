#!/bin/sh
# safetensors against an independent implementation: tests/st_interop.py
# reads and writes the format with struct, json and numpy only.
. "$(dirname "$0")/lib.sh"
[ -n "$PYTHON" ] || skip_all "no Python with numpy"
ST="$PYTHON $TESTS_DIR/st_interop.py"

test_expect_success 'C writes every dtype and metadata: numpy reads it bit-exactly' '
    st_util write c.safetensors &&
    $ST check c.safetensors
'

test_expect_success 'Python writes (spaced JSON, \u escapes, data in reverse order): C reads it exactly' '
    $ST write py.safetensors &&
    st_util dump py.safetensors >dump.jsonl &&
    $ST check-dump dump.jsonl
'

test_expect_success 'Python -> C -> Python: C rewrites what Python wrote, numpy reads it' '
    $ST write py.safetensors &&
    st_util copy py.safetensors copy.safetensors &&
    $ST check copy.safetensors
'

test_expect_success 'C -> C: a copy of a C-written file is byte-identical' '
    st_util write c.safetensors &&
    st_util copy c.safetensors c2.safetensors &&
    cmp c.safetensors c2.safetensors
'

test_expect_success 'stdin and pipes: read through -, written to stdout' '
    st_util write c.safetensors &&
    st_util dump - <c.safetensors >d1 &&
    cat c.safetensors | st_util dump - >d2 &&
    st_util dump c.safetensors >d3 &&
    test_cmp d3 d1 && test_cmp d3 d2 &&
    st_util copy - - <c.safetensors | cat >piped.safetensors &&
    cmp c.safetensors piped.safetensors
'

test_expect_code 1 'a lying file: st_util fails naming the file and the tensor' '
    $PYTHON -c "
import struct, json
h = json.dumps({\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}).encode()
open(\"lie.safetensors\", \"wb\").write(struct.pack(\"<Q\", len(h)) + h + bytes(12))
" &&
    st_util dump lie.safetensors 2>err
    rc=$?
    grep -F "st_util: lie.safetensors: tensor \"w\": data_offsets [0, 12] hold 12 bytes, but shape [4] of F32 needs 16" err >&2 || exit 3
    exit $rc
'

test_expect_success 'a failed copy leaves no output file' '
    printf "x" >short.safetensors &&
    ! st_util copy short.safetensors out.safetensors 2>err &&
    ! test -e out.safetensors &&
    test -z "$(ls -A | grep tmp)"
'
test_done
