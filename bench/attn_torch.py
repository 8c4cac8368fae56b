#!/usr/bin/env python3
"""Baseline for bench/ops.sh: attention in PyTorch on the CPU as
matmul-softmax-matmul (torch 1.13 has no scaled_dot_product_attention),
B=1, H=8, D=64, at the sequence lengths given, with the thread count given
(default 2). Prints one line per length: N, forward ms, forward+backward ms
("-" above --max-backward tokens, default 2048: minutes on 2 threads), and
the peak resident memory added by one forward (MiB)."""
import math, sys, time
import torch

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return float(line.split()[1]) / 1024.0
    return -1.0

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

def attn(q, k, v):
    s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(torch.softmax(s, -1), v)

def main():
    args = sys.argv[1:]
    max_bwd = 2048
    if args and args[0].startswith("--max-backward="):
        max_bwd = int(args.pop(0).split("=")[1])
    threads = int(args[0]) if args else 2
    lens = [int(x) for x in args[1:]] or [1024, 2048, 4096]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    H, D = 8, 64
    for n in lens:
        reps = 5 if n <= 1024 else 2
        q, k, v = (torch.randn(1, H, n, D) for _ in range(3))
        with torch.no_grad():
            attn(q, k, v)                          # warm up
            base = rss("VmRSS:")
            reset_peak()
            attn(q, k, v)
            mem = rss("VmHWM:") - base
            tf = 1e30
            for _ in range(reps):
                t0 = time.perf_counter()
                attn(q, k, v)
                tf = min(tf, time.perf_counter() - t0)
        if n > max_bwd:
            print("%d %.2f - %.1f" % (n, tf * 1e3, mem), flush=True)
            continue
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        dout = torch.randn(1, H, n, D)
        tb = 1e30
        for _ in range(2):
            t0 = time.perf_counter()
            attn(qg, kg, vg).backward(dout)
            tb = min(tb, time.perf_counter() - t0)
            qg.grad = kg.grad = vg.grad = None
        print("%d %.2f %.2f %.1f" % (n, tf * 1e3, tb * 1e3, mem), flush=True)

if __name__ == "__main__":
    main()
