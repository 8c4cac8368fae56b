#!/bin/sh
# A rank whose own samples give a non-finite loss (latents near the float
# limit: finite, so the reader takes them, but the loss overflows) ends the
# whole job at that step with one message naming the rank, within seconds
# and never a hang (run under timeout); nothing is written.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (writes the .npy inputs)"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"

test_expect_success 'setup: the fixture, and a stream of four clips of 3e38 everywhere' '
    test_dit_train --fixture . &&
    cat >npy.py <<-\EOF &&
	import struct
	def npy(path, descr, shape, data):
	    hdr = "{\x27descr\x27: \x27%s\x27, \x27fortran_order\x27: False, \x27shape\x27: (%s), }" % (
	        descr, "".join("%d, " % s for s in shape))
	    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
	    with open(path, "wb") as f:
	        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data)
	n = 4 * 2 * 8 * 8
	npy("lat.npy", "<f4", (4, 2, 8, 8), struct.pack("<%df" % n, *([3e38] * n)))
	npy("tok.npy", "<i4", (8,), struct.pack("<8i", 1, 3, 10, 20, 2, 0, 0, 0))
	npy("mask.npy", "|u1", (8,), bytes([1, 1, 1, 1, 1, 0, 0, 0]))
	EOF
    python3 npy.py &&
    for i in 0 1 2 3; do
        av-tensor --pack -k huge$i -m bucket=64x64 -o h$i.avt latent=lat.npy \
            tokens=tok.npy mask=mask.npy || return 1
    done &&
    av-tensor --cat -o huge.avt h0.avt h1.avt h2.avt h3.avt
'
test_expect_success 'NaN on rank 1 only: every rank stops at step 1, one message, no hang' '
    start=$(date +%s) &&
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x LD_LIBRARY_PATH -x OMP_NUM_THREADS=1 \
        -np 1 $TRAIN --batch 4 --steps 5 train.avt -o n.safetensors : \
        -np 1 $TRAIN --batch 4 --steps 5 huge.avt -o n.safetensors 2>err; rc=$?; } &&
    end=$(date +%s) && echo "rc $rc in $((end - start)) s" &&
    test $rc -ne 0 && test $rc -ne 124 && test $((end - start)) -lt 40 &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep "^av-train: step 1: the loss of rank 1.s share of the batch is NaN; stopped" err &&
    test ! -e n.safetensors
'
test_expect_success 'the same under --zero 2 at -np 4 (rank 3 fails)' '
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x LD_LIBRARY_PATH -x OMP_NUM_THREADS=1 \
        -np 3 $TRAIN --batch 4 --steps 5 --zero 2 train.avt -o n.safetensors : \
        -np 1 $TRAIN --batch 4 --steps 5 --zero 2 huge.avt -o n.safetensors 2>err; rc=$?; } &&
    test $rc -ne 0 && test $rc -ne 124 &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep "^av-train: step 1: the loss of rank 3.s share of the batch is NaN" err &&
    test ! -e n.safetensors
'
test_done
