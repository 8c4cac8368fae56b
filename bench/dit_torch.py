#!/usr/bin/env python3
"""The DiT of bench/bench_dit.c in PyTorch on the CPU (tests/golden-dit.py's
twin of the C model, same weights, same batch, same thread count): one
fp32 training step (forward, MSE against the same target, backward),
eager; prints
   torch step_ms MS err_pred E err_loss E
(best of the timed rounds after a warm-up; err = max|a-b| / max|b| against
avkit's prediction and loss).
Usage: dit_torch.py DIR THREADS [rounds]"""
import importlib.util, json, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gd", os.path.join(here, "..", "tests", "golden-dit.py"))
gd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gd)


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
    sd, meta = read_st(os.path.join(d, "dit.safetensors"))
    io, _ = read_st(os.path.join(d, "io.safetensors"))
    model = gd.DiT(json.loads(meta["config"]))
    model.load_state_dict(sd)
    x, t, target = io["x_t"], io["t"], io["target"]
    tokens, kv_len = io["tokens"].long(), io["text_len"].long()
    best = 1e30
    for i in range(rounds + 1):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        pred = model(x, t, tokens, kv_len)
        loss = F.mse_loss(pred, target)
        loss.backward()
        dt = time.perf_counter() - t0
        if i > 0:
            best = min(best, dt)
    ep = ((pred.detach() - io["pred"]).abs().max() / io["pred"].abs().max()).item()
    el = abs(loss.item() - io["loss"].item()) / abs(io["loss"].item())
    print("torch step_ms %.1f err_pred %.1e err_loss %.1e" % (best * 1e3, ep, el))


if __name__ == "__main__":
    main()
