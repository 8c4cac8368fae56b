#!/bin/sh
# av-vaeenc on bad input: every problem a clear error naming the place,
# exit 1, and no output file.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

# edit_st IN OUT NAME EXPR: rewrite tensor NAME of a safetensors file
# (numpy: a = the tensor's f32 array; EXPR returns the new array, possibly
# of another shape; DROP removes it).
edit_st() {
    "$PYTHON" - "$@" <<-\PY
	import json, struct, sys
	import numpy as np
	src, dst, name, expr = sys.argv[1:5]
	raw = open(src, "rb").read()
	n = struct.unpack("<Q", raw[:8])[0]
	h = json.loads(raw[8:8 + n]); data = raw[8 + n:]
	meta = h.pop("__metadata__", {})
	out, blobs, off = {"__metadata__": meta}, [], 0
	for k, v in h.items():
	    a0, a1 = v["data_offsets"]
	    a = np.frombuffer(data[a0:a1], "<f4").reshape(v["shape"]).copy()
	    if k == name:
	        if expr == "DROP":
	            continue
	        a = eval(expr)
	    b = np.ascontiguousarray(a, "<f4").tobytes()
	    out[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
	    blobs.append(b); off += len(b)
	hb = json.dumps(out).encode()
	open(dst, "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
	PY
}

test_expect_success 'setup: tiny model and a manifest' '
    test -n "$PYTHON" || { echo "no python with numpy"; exit 1; }
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\n%s\t0\t20\n" "$(vae_media wide)" >clips.tsv
'
test_expect_code 1 'a checkpoint with a missing tensor names it' '
    edit_st vae.safetensors miss.safetensors decoder.up_blocks.2.resnets.1.norm2.bias DROP &&
    av-vaeenc -m miss.safetensors --base 32 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "miss.safetensors: missing tensor \"decoder.up_blocks.2.resnets.1.norm2.bias\"" err &&
    test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'a mis-shaped tensor is named with both shapes' '
    edit_st vae.safetensors shape.safetensors encoder.conv_in.weight "a[:, :, :2, :]" &&
    av-vaeenc -m shape.safetensors --base 32 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "\"encoder.conv_in.weight\" has shape \[8, 3, 2, 3\], expected \[8, 3, 3, 3\]" err &&
    test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'an unsupported config is refused' '
    sed "s/\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"\]/\"UpDecoderBlock2D\", \"AttnUpDecoderBlock2D\"]/" tiny.json >bad.json &&
    av-vaeenc -m vae.safetensors --vae-config bad.json --base 32 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "bad.json: VAE config: unsupported block type \"AttnUpDecoderBlock2D\"" err &&
    test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'NaN in the weights is named' '
    edit_st vae.safetensors nan.safetensors quant_conv.weight "np.where(np.arange(a.size).reshape(a.shape) == 9, np.nan, a)" &&
    av-vaeenc -m nan.safetensors --base 32 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "tensor \"quant_conv.weight\": NaN at element 9" err && test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'Inf in the weights is named' '
    edit_st vae.safetensors inf.safetensors decoder.conv_in.bias "np.where(np.arange(a.size) == 1, np.inf, a)" &&
    av-vaeenc -m inf.safetensors --base 32 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "tensor \"decoder.conv_in.bias\": Inf at element 1" err || exit 99; exit $rc
'
test_expect_code 1 'NaN in latents to decode is named with the record' '
    av-vaeenc -m vae.safetensors --base 32 --max-frames 2 clips.tsv -o lat.avt &&
    av-tensor -x latent -o lat.npy lat.avt &&
    "$PYTHON" -c "import numpy as n; a = n.load(\"lat.npy\"); a.flat[5] = n.nan; n.save(\"bad.npy\", a)" &&
    av-tensor --pack -k broken -o badlat.avt latent=bad.npy &&
    av-vaeenc -d -m vae.safetensors badlat.avt -o vids 2>err; rc=$?
    test_grep "badlat.avt: record 0 \(broken\): tensor \"latent\": NaN at element 5" err &&
    test -z "$(ls vids 2>/dev/null)" || exit 99; exit $rc
'
test_expect_code 1 'a latent of the wrong channel count is refused' '
    "$PYTHON" -c "import numpy as n; n.save(\"c3.npy\", n.zeros((3, 2, 4, 4), n.float32))" &&
    av-tensor --pack -k c3 -o c3.avt latent=c3.npy &&
    av-vaeenc -d -m vae.safetensors c3.avt -o vids 2>err; rc=$?
    test_grep "tensor \"latent\" is not \[4, T, h, w\]" err || exit 99; exit $rc
'
test_expect_code 1 'a clip shorter than one frame after resampling' '
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t3\t4\t10\n" "$(vae_media wide)" "$(vae_media wide)" >short.tsv &&
    av-vaeenc -m vae.safetensors --base 32 --fps 4 short.tsv -o out.avt 2>err; rc=$?
    test_grep "vae-wide.mp4#3-4: 1 frames at 10 fps are shorter than one frame at 4 fps" err &&
    test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'frames smaller than one latent cell' '
    printf "video\tstart_frame\tend_frame\n%s\t0\t5\n" "$(vae_media tiny)" >tiny.tsv &&
    av-vaeenc -m vae.safetensors --base 32 tiny.tsv -o out.avt 2>err; rc=$?
    test_grep "frames of 4x4 are smaller than one latent cell \(8x8\)" err && test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'a missing video names the clip source' '
    printf "video\tstart_frame\tend_frame\nnope.mp4\t0\t5\n" >nope.tsv &&
    av-vaeenc -m vae.safetensors nope.tsv -o out.avt 2>err; rc=$?
    test_grep "nope.mp4" err && test ! -e out.avt || exit 99; exit $rc
'
test_expect_code 1 'a manifest without a frame range column' '
    printf "video\tstart\n%s\t0\n" "$(vae_media wide)" >cols.tsv &&
    av-vaeenc -m vae.safetensors cols.tsv -o out.avt 2>err; rc=$?
    test_grep "missing column .start_frame." err || exit 99; exit $rc
'
test_expect_code 1 'a clip record without a video' '
    av-tensor --pack -k novideo -m start_frame=0 -m end_frame=3 -o nov.avt latent=c3.npy &&
    av-vaeenc -m vae.safetensors nov.avt -o out.avt 2>err; rc=$?
    test_grep "record 0 \(novideo\): no \"video\"" err || exit 99; exit $rc
'
test_expect_code 2 '-d without -o is a usage error' '
    av-vaeenc -d -m vae.safetensors lat.avt 2>err
'
test_expect_code 2 'a base below one bucket unit is a usage error' '
    av-vaeenc -m vae.safetensors --base 8 clips.tsv -o out.avt 2>err; rc=$?
    test_grep "smaller than one bucket unit" err || exit 99; exit $rc
'
test_expect_code 2 'no -m is a usage error' '
    av-vaeenc clips.tsv -o out.avt 2>err
'
test_done
