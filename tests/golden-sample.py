#!/usr/bin/env python3
"""Golden sampling runs of the video DiT (tests/golden/sample/).

The PyTorch twin of lib/diffusion/sample.c over the DiT twin of
tests/golden-dit.py, with the weights that script wrote
(tests/golden/dit/*.weights.safetensors): the shifted rectified-flow
schedule, Euler, Heun and two-step Adams-Bashforth, classifier-free
guidance v = v_u + cfg (v_c - v_u), and kept latents re-noised to the
current time, x_t = (1 - t) z + t e, pasted before each evaluation, with
the velocity there replaced by e - z and z pasted at the end. The state is
float32; each update is taken in float64 and rounded once, as the C code
does. Three runs:

  euler_cfg1  single_cross, Euler, 4 steps, no shift, cfg 1 (one pass)
  ab2_neg     single_cross, AB2, 6 steps, shift 3, cfg 4.5 against a
              negative prompt
  heun_keep   mmdit_joint, Heun, 3 steps, shift 2, cfg 2 against the empty
              caption, the first latent frame and a corner of the others
              kept

Written to sample.safetensors: the texts, the kept latents, and for each
run its starting noise ("<run>.noise") and result ("<run>.out").
tests/unit/test_sample.c runs the same in C. Run by `make golden`.
"""
import importlib.util, json, os, struct
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden", "sample")
spec = importlib.util.spec_from_file_location("golden_dit", os.path.join(HERE, "golden-dit.py"))
gd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gd)
torch.set_num_threads(1)
C, T, H, W, L = 4, 3, 8, 8, 8


def read_st(path):
    """F32 tensors and metadata of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    ts = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        ts[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).view(*v["shape"])
    return ts, meta


def load(variant):
    ts, meta = read_st(os.path.join(HERE, "golden", "dit", variant + ".weights.safetensors"))
    model = gd.DiT(json.loads(meta["config"]))
    model.load_state_dict(ts)
    model.eval()
    return model


def timesteps(steps, shift):
    ts = [1.0 - i / steps for i in range(steps + 1)]
    ts = [shift * t / (1.0 + (shift - 1.0) * t) for t in ts]
    ts[0], ts[steps] = 1.0, 0.0
    return ts


def velocity(model, x, t, cfg, cond, uncond, keep):
    """The sampler's velocity for one video x [C, T, H, W] (float32)."""
    if keep is not None:
        z, e, m = keep
        xin = torch.where(m, ((1 - t) * z.double() + t * e.double()).float(), x)
    else:
        xin = x
    tt = torch.tensor([t], dtype=torch.float32)
    def run(text):
        tok, n = text
        return model(xin[None], tt, tok[None], torch.tensor([n]))[0]
    with torch.no_grad():
        v = run(cond)
        if cfg != 1.0:
            vu = run(uncond)
            v = (vu.double() + cfg * (v.double() - vu.double())).float()
    if keep is not None:
        v = torch.where(m, e - z, v)
    return v


def sample(model, solver, steps, shift, cfg, cond, uncond, keep, x):
    ts = timesteps(steps, shift)
    vel = lambda x, t: velocity(model, x, t, cfg, cond, uncond, keep)
    vprev, hprev = None, 0.0
    for i in range(steps):
        h = ts[i + 1] - ts[i]
        v = vel(x, ts[i])
        if solver == "euler" or (solver == "heun" and ts[i + 1] <= 0.0):
            x = (x.double() + h * v.double()).float()
        elif solver == "heun":
            xp = (x.double() + h * v.double()).float()
            v2 = vel(xp, ts[i + 1])
            x = (x.double() + 0.5 * h * (v.double() + v2.double())).float()
        else:   # ab2
            c = 0.5 * h / hprev if i > 0 else 0.0
            vp = vprev.double() if i > 0 else torch.zeros_like(x, dtype=torch.float64)
            x = (x.double() + h * ((1.0 + c) * v.double() - c * vp)).float()
            vprev, hprev = v, h
    if keep is not None:
        x = torch.where(keep[2], keep[0], x)
    return x


def text(ids):
    t = torch.zeros(L, dtype=torch.long)
    t[:len(ids)] = torch.tensor(ids)
    return t, len(ids)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20261208)
    cond, neg, empty = text([1, 17, 33, 8, 41, 2]), text([1, 25, 2]), text([1, 2])
    z = torch.randn(C, T, H, W, generator=g)
    e = torch.randn(C, T, H, W, generator=g)
    mask = torch.zeros(T, H, W, dtype=torch.bool)
    mask[0] = True
    mask[1:, :3, :4] = True
    keepm = mask[None].expand(C, T, H, W)
    out = [("cond", cond[0].float()), ("neg", neg[0].float()), ("empty", empty[0].float()),
           ("keep.z", z), ("keep.eps", e), ("keep.mask", mask.float())]
    runs = [("euler_cfg1", "single_cross", "euler", 4, 1.0, 1.0, neg, None),
            ("ab2_neg", "single_cross", "ab2", 6, 3.0, 4.5, neg, None),
            ("heun_keep", "mmdit_joint", "heun", 3, 2.0, 2.0, empty, (z, e, keepm))]
    for name, variant, solver, steps, shift, cfg, unc, keep in runs:
        noise = torch.randn(C, T, H, W, generator=g)
        x = sample(load(variant), solver, steps, shift, cfg, cond, unc, keep, noise.clone())
        out += [(name + ".noise", noise), (name + ".out", x)]
        print("golden-sample: %s: |x| mean %.4f" % (name, x.abs().mean().item()))
    gd.write_st(os.path.join(OUT, "sample.safetensors"), out, {"format": "pt"})


if __name__ == "__main__":
    main()
