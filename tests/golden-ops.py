#!/usr/bin/env python3
"""Golden tensors for the compute core's operators (tests/golden/ops/).

Each operator is built from PyTorch primitives on small shapes with a fixed
seed; inputs, the upstream gradient `dy`, the output `out` and the input
gradients from autograd `d_<input>` are written as a safetensors file per
operator, with numpy + json + struct only (no safetensors package).
tests/unit/test_ops.c reads them and compares the C operators (fast and
reference) to them. Run by `make golden` (scripts/golden.sh)."""
import json, math, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "ops")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def write_st(path, tensors, meta):
    """Write a safetensors file: u64 header length, JSON header, data."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors:
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def case(name, fn, inputs, grad_inputs=None, extra=None, seed=0, **meta):
    """Run fn(*inputs) -> out, backprop a random dy, write the file.
    inputs: list of (name, tensor); grad_inputs: names that get gradients."""
    g = torch.Generator().manual_seed(seed + 1000)
    ts = []
    for n, t in inputs:
        t = t.clone().float()
        if grad_inputs is None or n in grad_inputs:
            t.requires_grad_(True)
        ts.append((n, t))
    out = fn(*[t for _, t in ts])
    dy = torch.randn(out.shape, generator=g)
    tensors = [(n, t) for n, t in ts] + [("out", out), ("dy", dy)]
    if any(t.requires_grad for _, t in ts):
        out.backward(dy)
        for n, t in ts:
            if t.requires_grad:
                tensors.append(("d_" + n, t.grad))
    for n, t in (extra or []):
        tensors.append((n, t))
    meta = {k: str(v) for k, v in meta.items()}
    write_st(os.path.join(OUT, name + ".safetensors"), tensors, meta)


def rn(*shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def main():
    os.makedirs(OUT, exist_ok=True)
    # linear: y = x w^T + b
    case("linear", lambda x, w, b: F.linear(x, w, b),
         [("x", rn(6, 10, seed=1)), ("w", rn(7, 10, seed=2, scale=0.3)), ("b", rn(7, seed=3))])
    # conv2d 3x3, stride 1, pad 1
    case("conv2d_3x3", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
         [("x", rn(2, 3, 6, 5, seed=4)), ("w", rn(4, 3, 3, 3, seed=5, scale=0.3)), ("b", rn(4, seed=6))])
    # diffusers Downsample2D: pad (0,1,0,1) then 3x3 stride 2
    case("conv2d_down", lambda x, w, b: F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2),
         [("x", rn(1, 3, 7, 6, seed=7)), ("w", rn(5, 3, 3, 3, seed=8, scale=0.3)), ("b", rn(5, seed=9))])
    # 1x1 conv
    case("conv2d_1x1", lambda x, w, b: F.conv2d(x, w, b),
         [("x", rn(2, 6, 4, 4, seed=10)), ("w", rn(3, 6, 1, 1, seed=11, scale=0.3)), ("b", rn(3, seed=12))])
    # 5x5 stride 2 pad 2 (generic)
    case("conv2d_5x5s2", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=2),
         [("x", rn(2, 2, 9, 8, seed=13)), ("w", rn(3, 2, 5, 5, seed=14, scale=0.2)), ("b", rn(3, seed=15))])
    # group norm (C=8, G=4), affine, eps 1e-6 as diffusers
    case("groupnorm", lambda x, g, b: F.group_norm(x, 4, g, b, eps=1e-6),
         [("x", rn(2, 8, 3, 4, seed=16, scale=2.0) + 0.5), ("gamma", rn(8, seed=17) * 0.5 + 1),
          ("beta", rn(8, seed=18))])
    # layer norm with and without affine
    case("layernorm", lambda x, g, b: F.layer_norm(x, (16,), g, b, eps=1e-5),
         [("x", rn(5, 16, seed=19) + 1.0), ("gamma", rn(16, seed=20) * 0.5 + 1), ("beta", rn(16, seed=21))])
    case("layernorm_plain", lambda x: F.layer_norm(x, (16,), None, None, eps=1e-6),
         [("x", rn(5, 16, seed=22) * 3 - 1)])
    # RMS norm (no torch module in 1.13: the formula)
    case("rmsnorm", lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w,
         [("x", rn(5, 16, seed=23)), ("w", rn(16, seed=24) * 0.5 + 1)])
    # activations over a wide range
    xs = torch.linspace(-9, 9, 61) + rn(61, seed=25, scale=0.05)
    case("silu", lambda x: F.silu(x), [("x", xs)])
    case("gelu", lambda x: F.gelu(x, approximate="tanh"), [("x", xs)])
    case("softmax", lambda x: torch.softmax(x, -1), [("x", rn(4, 13, seed=26, scale=3.0))])

    def attn(q, k, v, mask=None):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        return torch.softmax(s, -1) @ v
    # two key blocks (the C kernel uses 128 x 512 blocks; many query blocks
    # are checked against the reference in tests/unit/test_attention.c)
    case("attention", attn, [("q", rn(1, 3, 70, 4, seed=27)), ("k", rn(1, 3, 530, 4, seed=28)),
                             ("v", rn(1, 3, 530, 4, seed=29))])
    kv_len = torch.tensor([19, 7])
    mask = (torch.arange(23)[None, :] < kv_len[:, None])[:, None, None, :]
    case("attention_masked", lambda q, k, v: attn(q, k, v, mask),
         [("q", rn(2, 2, 11, 8, seed=30)), ("k", rn(2, 2, 23, 8, seed=31)), ("v", rn(2, 2, 23, 8, seed=32))],
         kv_len="19,7")
    # adaLN with G=3 groups of tokens
    B, N, G, D = 2, 6, 3, 8
    def modulate(x, shift, scale):
        xr = x.view(B, G, N // G, D)
        return (xr * (1 + scale[:, :, None]) + shift[:, :, None]).view(B, N, D)
    case("modulate", modulate, [("x", rn(B, N, D, seed=33)), ("shift", rn(B, G, D, seed=34)),
                                ("scale", rn(B, G, D, seed=35, scale=0.5))])
    def gated(res, y, gate):
        return res + (y.view(B, G, N // G, D) * gate[:, :, None]).view(B, N, D)
    case("gated_residual", gated, [("res", rn(B, N, D, seed=36)), ("y", rn(B, N, D, seed=37)),
                                   ("gate", rn(B, G, D, seed=38))])
    # 3D rotary: T=2, Hp=2, Wp=3 grid, head dim 8 split 2+2+4, base 10000
    T, Hp, Wp, dims = 2, 2, 3, (2, 2, 4)
    pos = torch.stack(torch.meshgrid(torch.arange(T), torch.arange(Hp), torch.arange(Wp),
                                     indexing="ij"), -1).reshape(-1, 3).double()
    angs = []
    for a, d in enumerate(dims):
        inv = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angs.append(pos[:, a:a + 1] * inv[None, :])
    ang = torch.cat(angs, 1)                      # [N, D/2]
    cos, sin = ang.cos().float(), ang.sin().float()
    def rope(x):
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack([y0, y1], -1).flatten(-2)
    case("rope", rope, [("x", rn(2, T * Hp * Wp, 8, seed=39))])
    # patchify [B,C,T,H,W] -> [B,N,C*pt*ph*pw], patch (2,2,3)
    pb, pc, pt_, ph_, pw_ = 1, 3, 2, 2, 3
    def patchify(x):
        b, c, t, h, w = x.shape
        x = x.view(b, c, t // pt_, pt_, h // ph_, ph_, w // pw_, pw_)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(b, -1, c * pt_ * ph_ * pw_)
    case("patchify", patchify, [("x", rn(pb, pc, 4, 4, 6, seed=40))])
    def unpatchify(tok):
        t, h, w = 4 // pt_, 4 // ph_, 6 // pw_
        x = tok.view(pb, t, h, w, pc, pt_, ph_, pw_).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(pb, pc, 4, 4, 6)
    case("unpatchify", unpatchify, [("tokens", rn(pb, 8, 36, seed=41))])
    case("upsample", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
         [("x", rn(2, 3, 3, 4, seed=42))])
    case("avgpool", lambda x: F.avg_pool2d(x, 2), [("x", rn(2, 3, 4, 6, seed=43))])
    # losses: dy is a scalar upstream gradient (gscale)
    case("mse", lambda p, t: F.mse_loss(p, t), [("pred", rn(40, seed=44)), ("target", rn(40, seed=45))],
         grad_inputs=["pred"])
    case("l1", lambda p, t: F.l1_loss(p, t), [("pred", rn(40, seed=46)), ("target", rn(40, seed=47))],
         grad_inputs=["pred"])
    case("kl", lambda m, lv: 0.5 * torch.sum(m.pow(2) + lv.exp() - 1.0 - lv) / 2.0,
         [("mean", rn(30, seed=48)), ("logvar", rn(30, seed=49))], norm=2)
    def gsample(m, lv, e):
        lv = torch.clamp(lv, -30.0, 20.0)
        return m + torch.exp(0.5 * lv) * e
    lv = rn(30, seed=51)
    lv[3], lv[7] = 25.0, -35.0              # outside the clamp range
    case("gaussian_sample", gsample, [("mean", rn(30, seed=50)), ("logvar", lv), ("eps", rn(30, seed=52))],
         grad_inputs=["mean", "logvar"])
    # embedding lookup with a repeated id; ids stored as float (exact)
    ids = torch.tensor([3, 0, 5, 3, 9, 1, 3])
    case("embedding", lambda table: F.embedding(ids, table), [("table", rn(10, 6, seed=54))],
         extra=[("ids", ids.float())])
    # timestep embedding (no gradient): DiT's formula
    t = torch.tensor([0.0, 1.0, 17.5, 999.0])
    half = 8
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    write_st(os.path.join(OUT, "timestep.safetensors"), [("t", t), ("out", emb)],
             {"dim": "16", "max_period": "10000"})
    # AdamW: 5 steps on a parameter with given gradients, then clipping
    p0 = rn(50, seed=53)
    grads = [rn(50, seed=60 + i) for i in range(5)]
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for gr in grads:
        p.grad = gr.clone()
        opt.step()
    st = opt.state[p]
    g1, g2 = rn(20, seed=70, scale=3.0), rn(30, seed=71, scale=2.0)
    c1, c2 = g1.clone(), g2.clone()
    w1, w2 = torch.zeros(20, requires_grad=True), torch.zeros(30, requires_grad=True)
    w1.grad, w2.grad = c1, c2
    norm = torch.nn.utils.clip_grad_norm_([w1, w2], 1.5)
    write_st(os.path.join(OUT, "adamw.safetensors"),
             [("p0", p0)] + [("g%d" % i, g) for i, g in enumerate(grads)] +
             [("p", p.detach()), ("m", st["exp_avg"]), ("v", st["exp_avg_sq"]),
              ("clip_g1", g1), ("clip_g2", g2), ("clipped_g1", w1.grad), ("clipped_g2", w2.grad),
              ("clip_norm", norm.reshape(1))],
             {"lr": "0.01", "beta1": "0.9", "beta2": "0.95", "eps": "1e-8", "weight_decay": "0.1",
              "steps": "5", "max_norm": "1.5"})


if __name__ == "__main__":
    main()
