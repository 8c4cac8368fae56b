#!/bin/sh
# The numpy reader in examples/ agrees bit for bit with what C wrote, for
# every dtype, compressed and not; .npy goes both ways exactly.
. "$(dirname "$0")/lib.sh"
[ -n "$PYTHON" ] || skip_all "no Python with numpy"
READER="$SRC_DIR/examples/avt_read.py"

test_expect_success 'setup: numpy writes random bit patterns of every dtype' '
    "$PYTHON" - <<-\PY
	import numpy as np
	rng = np.random.default_rng(7)
	def bits(dt, shape):
	    n = int(np.prod(shape)) * np.dtype(dt).itemsize
	    return np.frombuffer(rng.bytes(n), dt).reshape(shape)
	for name, dt, shape in [("f32", "<f4", (3, 5)), ("f16", "<f2", (2, 2, 3)),
	        ("bf16", "<u2", (7,)), ("f64", "<f8", (4, 1)), ("i8", "i1", (9,)),
	        ("i16", "<i2", (2, 3)), ("i32", "<i4", (5,)), ("i64", "<i8", (2, 2)),
	        ("u8", "u1", (3, 3)), ("u16", "<u2", (6,)), ("scalar", "<f8", ())]:
	    np.save(name + ".npy", bits(dt, shape))
	np.save("bool.npy", rng.integers(0, 2, (4, 3)).astype(bool))
	np.save("smooth.npy", np.linspace(-1, 1, 5000, dtype=np.float32))
	PY
'
ARGS="f32=f32.npy f16=f16.npy bf16:bf16=bf16.npy f64=f64.npy i8=i8.npy i16=i16.npy
 i32=i32.npy i64=i64.npy u8=u8.npy u16=u16.npy bool=bool.npy scalar=scalar.npy smooth=smooth.npy"

cat >check.py <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from avt_read import read_avt
recs = read_avt(sys.argv[2])
assert len(recs) == 1, len(recs)
key, meta, t = recs[0]
assert key == "clip 7" and meta == {"caption": "a cat\non a mat", "fps": "24"}, (key, meta)
for name in ["f32", "f16", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "bool", "scalar", "smooth"]:
    want = np.load(name + ".npy")
    got = t[name]
    assert got.dtype == want.dtype and got.shape == want.shape, name
    assert got.tobytes() == want.tobytes(), name
bits = np.load("bf16.npy")
assert (t["bf16"].view(np.uint32) >> 16).astype(np.uint16).tobytes() == bits.tobytes()
assert (t["bf16"].view(np.uint32) & 0xffff).max() == 0
PY

test_expect_success 'pack through a pipe; the numpy reader gets the same bits' '
    av-tensor --pack -k "clip 7" -m "caption=a cat
on a mat" -m fps=24 $ARGS | cat >plain.avt &&
    "$PYTHON" check.py "$SRC_DIR/examples" plain.avt
'
test_expect_success 'pack with zlib to a file; the numpy reader gets the same bits' '
    av-tensor --pack -z -k "clip 7" -m "caption=a cat
on a mat" -m fps=24 -o z.avt $ARGS &&
    test $(wc -c <z.avt) -lt $(wc -c <plain.avt) &&
    "$PYTHON" check.py "$SRC_DIR/examples" z.avt
'
test_expect_success '--npy exports what was packed, bit for bit (bf16 widened to f32)' '
    mkdir out && av-tensor --npy out z.avt &&
    "$PYTHON" -c "
import numpy as np
for n in [\"f32\",\"f16\",\"f64\",\"i8\",\"i16\",\"i32\",\"i64\",\"u8\",\"u16\",\"bool\",\"scalar\"]:
    a, b = np.load(n + \".npy\"), np.load(\"out/\" + n + \".npy\")
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), n
b = np.load(\"out/bf16.npy\"); assert b.dtype == np.float32
assert ((b.view(np.uint32) >> 16).astype(np.uint16) == np.load(\"bf16.npy\")).all()
"
'
test_expect_success 'the numpy reader reads a C-written stream of every dtype (zlib)' '
    avt_write_example -b -z -n 2 -e 30 -o c.avt && mkdir c1 &&
    av-tensor -r 1 --npy c1 c.avt &&
    "$PYTHON" -c "
import sys, numpy as np
sys.path.insert(0, \"$SRC_DIR/examples\")
from avt_read import read_avt
key, meta, t = read_avt(\"c.avt\")[1]
assert key == \"rec0001\" and meta[\"index\"] == \"1\"
for n, a in t.items():
    b = np.load(\"c1/\" + n + \".npy\")
    assert a.shape == b.shape and a.tobytes() == b.tobytes(), n
"
'
test_expect_success 'the numpy reader rejects a flipped payload byte' '
    cp plain.avt bad.avt && size=$(wc -c <bad.avt) &&
    printf "\377" | dd of=bad.avt bs=1 seek=$((size - 40)) conv=notrunc 2>/dev/null &&
    ! "$PYTHON" "$READER" bad.avt 2>err && grep -q "checksum" err
'
test_expect_success 'f32 values convert to f16/bf16 with rounding to nearest even' '
    "$PYTHON" -c "
import numpy as np
np.save(\"v.npy\", np.array([1.0, 1.0009765625+2**-12, 65504.0, 1e6, -0.333, 3.0e-7], np.float32))
" && av-tensor --pack h:f16=v.npy b:bf16=v.npy -o v.avt &&
    av-tensor -x h -o h.npy v.avt && av-tensor -x b -o b.npy v.avt &&
    "$PYTHON" -c "
import numpy as np
v = np.load(\"v.npy\")
assert (np.load(\"h.npy\").view(np.uint16) == v.astype(np.float16).view(np.uint16)).all()
b = np.load(\"b.npy\").view(np.uint32)
u = v.view(np.uint32).astype(np.uint64)
want = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) << 16
assert (b == want.astype(np.uint32)).all()
"
'
test_done
