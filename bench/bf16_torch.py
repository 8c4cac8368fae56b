#!/usr/bin/env python3
"""PyTorch baseline for bench/bf16.sh: torch.matmul and
scaled_dot_product_attention in fp32 and bf16 on the CPU, same shapes and
thread count as bench_bf16.

Usage: bf16_torch.py [--wall] THREADS [gemm M N K]... [attn N]...
The clock is the process CPU time divided by THREADS, as bench_bf16's
(--wall: wall clock).
Prints one line per case, GFLOP/s (best of several runs; -1 when not run):
  gemm M N K FP32 BF16                 C[M,N] = A[M,K] B[N,K]^T
  attn N FWD32 FWD16 FB32 FB16         B=1, H=8, D=64, forward and
                                       forward+backward (FLOPs counted
                                       4 N^2 D per head forward, 10 N^2 D
                                       backward, as bench_bf16 does)
and first a line "# torch VERSION, cpu capability X, ..." ."""
import sys, time
import torch
import torch.nn.functional as F


CLOCK = None


def best(fn, reps):
    t = 1e30
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        t = min(t, CLOCK() - t0)
    return t


def gemm(m, n, k):
    out = []
    for dt in (torch.float32, torch.bfloat16):
        a = torch.randn(m, k).to(dt)
        b = torch.randn(n, k).to(dt)
        fn = lambda: torch.matmul(a, b.t())
        fn()
        reps = 3 if m * n * k >= 2 ** 30 else 8
        out.append(2.0 * m * n * k / best(fn, reps) * 1e-9)
    print("gemm %d %d %d %.2f %.2f" % (m, n, k, out[0], out[1]), flush=True)


def attn(n, max_bwd=2048):
    h, d = 8, 64
    fwd_flop = 4.0 * h * n * n * d
    bwd_flop = 10.0 * h * n * n * d
    res = []
    for dt in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(1, h, n, d).to(dt) for _ in range(3))
        with torch.no_grad():
            f = lambda: F.scaled_dot_product_attention(q, k, v)
            f()
            tf = best(f, 3 if n >= 2048 else 5)
        res.append(fwd_flop / tf * 1e-9)
        if n > max_bwd:
            res.append(-1.0)
            continue
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        dout = torch.randn(1, h, n, d).to(dt)

        def fb():
            F.scaled_dot_product_attention(qg, kg, vg).backward(dout)
            qg.grad = kg.grad = vg.grad = None
        fb()
        res.append((fwd_flop + bwd_flop) / best(fb, 2) * 1e-9)
    print("attn %d %.2f %.2f %.2f %.2f" % (n, res[0], res[2], res[1], res[3]), flush=True)


def main():
    global CLOCK
    args = sys.argv[1:]
    wall = bool(args) and args[0] == "--wall"
    if wall:
        args.pop(0)
    threads = int(args.pop(0)) if args else 2
    CLOCK = time.perf_counter if wall else (lambda: time.process_time() / threads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    try:
        bf16_native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except Exception:
        bf16_native = "unknown"
    print("# torch %s, cpu capability %s, mkldnn bf16 supported %s, %d threads, %s clock" %
          (torch.__version__, torch.backends.cpu.get_cpu_capability(), bf16_native, threads,
           "wall" if wall else "cpu"), flush=True)
    i = 0
    while i < len(args):
        if args[i] == "gemm":
            gemm(int(args[i + 1]), int(args[i + 2]), int(args[i + 3]))
            i += 4
        elif args[i] == "attn":
            attn(int(args[i + 1]))
            i += 2
        else:
            sys.exit("bf16_torch.py: unknown case '%s'" % args[i])


if __name__ == "__main__":
    main()
