#!/usr/bin/env python3
"""The VAE of bench/bench_vae.c in PyTorch on the CPU (same weights, same
input, same thread count): prints
   torch encode FPS decode FPS err_mean E err_dec E
(frames a second, best of the timed rounds after a warm-up; err = max|a-b|
/ max|b| against avkit's outputs). The model is tests/golden-vae.py's
AutoencoderKL in plain torch.nn with diffusers' parameter names.
Usage: vae_torch.py DIR THREADS [rounds]"""
import importlib.util, json, os, struct, sys, time
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gv", os.path.join(here, "..", "tests", "golden-vae.py"))
gv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gv)


def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    meta = h.pop("__metadata__", {})
    out = {}
    for k, v in h.items():
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], "<f4").reshape(v["shape"]).copy())
    return out, meta


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(threads)
    sd, meta = read_st(os.path.join(d, "vae.safetensors"))
    io, _ = read_st(os.path.join(d, "io.safetensors"))
    model = gv.AutoencoderKL(json.loads(meta["config"]))
    model.load_state_dict(sd)
    model.eval()
    x = io["x"]
    be = bd = 1e30
    with torch.no_grad():
        for i in range(rounds + 1):
            t0 = time.perf_counter()
            mean, _ = model.encode(x)
            t1 = time.perf_counter()
            dec = model.decode(mean)
            t2 = time.perf_counter()
            if i:
                be, bd = min(be, t1 - t0), min(bd, t2 - t1)
    em = float((mean - io["mean"]).abs().max() / io["mean"].abs().max())
    ed = float((dec - io["dec"]).abs().max() / io["dec"].abs().max())
    B = x.shape[0]
    print("torch encode %.3f decode %.3f err_mean %.2e err_dec %.2e" % (B / be, B / bd, em, ed))


if __name__ == "__main__":
    main()
