#!/usr/bin/env python3
"""PyTorch twin of bench/bench_cuda_block.c, for scripts/gpu-check.sh: the
same stack of DiT blocks (adaLN-modulated LayerNorm without affine, fused
qkv, full attention, projection, gated residual, GELU(tanh) MLP of ratio 4,
gated residual; the modulation vectors are inputs), an MSE loss, backward
and one AdamW step, on the same GPU. Ways: fp32 eager (TF32 off), bf16
autocast eager, bf16 autocast + torch.compile. Prints one line per way:
   torch WAY step_ms MS tflops T mfu P% loss L0 -> L
with the same model-FLOP count as the C benchmark (3x the forward's matrix
products), then single-operator times at the block's shapes.
Usage: torch_dit_block.py [--cpu-dry] batch tokens width heads depth steps
--cpu-dry: a tiny shape on the CPU, one step per way (proves the script
runs where there is no GPU; prints no timings worth reading)."""
import os, sys, time

import torch
import torch.nn.functional as F

PEAKS = [("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4),
         ("H800", 989.4), ("GH200", 989.4), ("A100", 312.0), ("A800", 312.0),
         ("L40S", 362.0), ("L40", 181.0), ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0)]


def bf16_peak(name):
    env = os.environ.get("AVK_PEAK_TFLOPS")
    if env and float(env) > 0:
        return float(env)
    for key, tf in PEAKS:
        if key in name:
            return tf
    return 0.0


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.fc1 = torch.nn.Linear(d, 4 * d)
        self.fc2 = torch.nn.Linear(4 * d, d)

    def forward(self, x, mod):
        # mod [6, B, 1, D]: shift1, scale1, gate1, shift2, scale2, gate2
        B, N, D = x.shape
        h = F.layer_norm(x, (D,), eps=1e-6) * (1 + mod[1]) + mod[0]
        qkv = self.qkv(h).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + mod[2] * self.proj(o.transpose(1, 2).reshape(B, N, D))
        h = F.layer_norm(x, (D,), eps=1e-6) * (1 + mod[4]) + mod[3]
        return x + mod[5] * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class Stack(torch.nn.Module):
    def __init__(self, d, heads, depth):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(d, heads) for _ in range(depth)])

    def forward(self, x, mods):
        for blk, mod in zip(self.blocks, mods):
            x = blk(x, mod)
        return x


def step_flop(B, N, D, L):
    m = B * N
    linear = 2.0 * m * (12 * D * D)
    attn = 4.0 * B * N * N * D
    return 3.0 * L * (linear + attn)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def run_way(way, shape, steps, dev, peak):
    B, N, D, H, L = shape
    torch.manual_seed(2026)
    model = Stack(D, H, L).to(dev)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    mods = torch.nn.Parameter(0.1 * torch.randn(L, 6, B, 1, D, device=dev))
    x = torch.randn(B, N, D, device=dev)
    target = torch.randn(B, N, D, device=dev)
    # the modulation vectors get gradients but, as in the C benchmark, no update
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    fwd = model
    if "compile" in way:
        fwd = torch.compile(model)
    use_bf16 = "bf16" in way

    def one():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = fwd(x, mods)
        loss = F.mse_loss(out.float(), target)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.time()
    l0 = one()
    one()
    warm = time.time() - t0
    sync(dev)
    t0 = time.time()
    loss = l0
    for _ in range(steps):
        loss = one()
    sync(dev)
    ms = (time.time() - t0) * 1e3 / steps
    tf = step_flop(B, N, D, L) / (ms * 1e-3) / 1e12
    mfu = "%.1f%%" % (100 * tf / peak) if peak > 0 else "(unknown peak)"
    print("torch %s step_ms %.3f tflops %.2f mfu %s loss %.6f -> %.6f (warm-up %.1f s)"
          % (way, ms, tf, mfu, l0, loss, warm), flush=True)


def time_op(label, fn, reps, dev):
    fn()
    sync(dev)
    t0 = time.time()
    for _ in range(reps):
        fn()
    sync(dev)
    print("torch op %-22s ms %.4f" % (label, (time.time() - t0) * 1e3 / reps), flush=True)


def ops(shape, dev):
    B, N, D, H, L = shape
    M, Dh = B * N, D // H
    x = torch.randn(M, D, device=dev)
    w = torch.randn(3 * D, D, device=dev) * 0.02
    b = torch.randn(3 * D, device=dev)
    time_op("linear_fwd_qkv_fp32", lambda: F.linear(x, w, b), 10, dev)
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    time_op("linear_fwd_qkv_bf16", lambda: F.linear(xb, wb, bb), 10, dev)
    q, k, v = (torch.randn(B, H, N, Dh, device=dev, requires_grad=True) for _ in range(3))
    time_op("attention_fwd", lambda: F.scaled_dot_product_attention(q, k, v), 5, dev)
    o = F.scaled_dot_product_attention(q, k, v)
    g = torch.randn_like(o)
    time_op("attention_bwd", lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True), 3, dev)
    qb, kb, vb = (t.detach().bfloat16() for t in (q, k, v))
    time_op("attention_fwd_bf16", lambda: F.scaled_dot_product_attention(qb, kb, vb), 5, dev)
    qb, kb, vb = (t.requires_grad_() for t in (qb, kb, vb))
    ob = F.scaled_dot_product_attention(qb, kb, vb)
    gb = torch.randn_like(ob)
    time_op("attention_bwd_bf16", lambda: torch.autograd.grad(ob, (qb, kb, vb), gb, retain_graph=True), 3, dev)
    time_op("layernorm_fwd", lambda: F.layer_norm(x, (D,), eps=1e-6), 20, dev)
    h = torch.randn(M, 4 * D, device=dev)
    time_op("gelu_fwd", lambda: F.gelu(h, approximate="tanh"), 20, dev)


def main():
    args = sys.argv[1:]
    dry = bool(args) and args[0] == "--cpu-dry"
    if dry:
        args = args[1:]
    vals = [int(a) for a in args] + [4, 1024, 1152, 16, 4, 10][len(args):]
    B, N, D, H, L, steps = vals
    if dry:
        dev, (B, N, D, H, L, steps) = torch.device("cpu"), (1, 16, 32, 2, 1, 1)
        name = "cpu (dry run)"
    else:
        if not torch.cuda.is_available():
            print("torch_dit_block: PyTorch sees no CUDA device", file=sys.stderr)
            return 1
        dev = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        name = torch.cuda.get_device_name(0)
    peak = bf16_peak(name)
    print("# torch %s on %s, bf16 peak %.1f TFLOP/s" % (torch.__version__, name, peak), flush=True)
    shape = (B, N, D, H, L)
    for way in ("fp32-eager", "bf16-eager", "bf16-compile"):
        if dry and way == "bf16-compile":
            print("torch bf16-compile skipped in the dry run (needs a compiler toolchain and time)")
            continue
        try:
            run_way(way, shape, steps, dev, peak)
        except Exception as e:  # compile may be unavailable: say so and go on
            print("torch %s skipped: %s" % (way, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if not dry:
        ops(shape, dev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
