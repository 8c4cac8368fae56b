#!/usr/bin/env python3
"""The DiT of bench/bench_dit.c in PyTorch on the CPU (tests/golden-dit.py's
twin of the C model, same weights, same batch, same thread count): one
training step (forward, MSE against the same target, backward) in each of
the ways asked for (default: all four):
   eager          fp32, eager
   compile        fp32, torch.compile
   autocast       bf16 autocast (CPU), eager
   autocast+compile  bf16 autocast with torch.compile
prints one line per way
   torch WAY step_ms MS err_pred E err_loss E
or, when torch.compile fails here, "torch WAY skipped: REASON".
Best of the timed rounds after a warm-up (compile: after two); the clock
is the process CPU time / threads, as bench_dit's (WALL=1: wall clock);
err = max|a-b| / max|b| against avkit's fp32 prediction and loss.
Usage: dit_torch.py DIR THREADS [rounds] [way,way...]"""
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
    ways = sys.argv[4].split(",") if len(sys.argv) > 4 else ["eager", "compile", "autocast", "autocast+compile"]
    wall = os.environ.get("WALL") == "1"
    clock = time.perf_counter if wall else (lambda: time.process_time() / threads)
    torch.set_num_threads(threads)
    sd, meta = read_st(os.path.join(d, "dit.safetensors"))
    io, _ = read_st(os.path.join(d, "io.safetensors"))
    model = gd.DiT(json.loads(meta["config"]))
    model.load_state_dict(sd)
    x, t, target = io["x_t"], io["t"], io["target"]
    tokens, kv_len = io["tokens"].long(), io["text_len"].long()
    for way in ways:
        fwd = model
        if "compile" in way:
            try:
                fwd = torch.compile(model)
            except Exception as e:
                print("torch %s skipped: %s" % (way, str(e).splitlines()[0][:100]), flush=True)
                continue
        amp = "autocast" in way
        warm = 2 if "compile" in way else 1
        best = 1e30
        try:
            for i in range(rounds + warm):
                t0 = clock()
                model.zero_grad(set_to_none=True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    pred = fwd(x, t, tokens, kv_len)
                loss = F.mse_loss(pred.float(), target)
                loss.backward()
                dt = clock() - t0
                if i >= warm:
                    best = min(best, dt)
        except Exception as e:
            print("torch %s skipped: %s" % (way, str(e).splitlines()[0][:100]), flush=True)
            continue
        p = pred.detach().float()
        ep = ((p - io["pred"]).abs().max() / io["pred"].abs().max()).item()
        el = abs(loss.item() - io["loss"].item()) / abs(io["loss"].item())
        print("torch %s step_ms %.1f err_pred %.1e err_loss %.1e" % (way, best * 1e3, ep, el), flush=True)


if __name__ == "__main__":
    main()
