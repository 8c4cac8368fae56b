#!/usr/bin/env python3
"""Golden tensors for the whole VAE (tests/golden/vae/).

An AutoencoderKL-shaped model written in plain torch.nn, with the module
and parameter names of diffusers (Encoder, Decoder, DownEncoderBlock2D,
UpDecoderBlock2D, ResnetBlock2D, Downsample2D, Upsample2D, UNetMidBlock2D,
Attention), so its state_dict has the exact keys a diffusers checkpoint
has. A tiny configuration is built with a fixed seed; one training pass
(encode, reparameterized sample with a given eps, decode, loss = L1 + MSE +
kl_weight * KL / B, backward) is run, and written as safetensors with
numpy + json + struct:

  weights.safetensors  the parameters (diffusers names; metadata "format"
                       "pt" and "config" as avkit writes it)
  pass.safetensors     x, eps, mean, logvar, rec, dec_mean (= decode(mean)),
                       loss_{l1,mse,kl,total}, d_x and grad.<param> for
                       every parameter

tests/unit/test_vae.c compares the C model with these. Run by `make golden`.
"""
import json, os, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "vae")
torch.set_num_threads(1)

CONFIG = {
    "_class_name": "AutoencoderKL", "act_fn": "silu",
    "block_out_channels": [8, 16, 16],
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4,
    "layers_per_block": 1, "norm_num_groups": 4,
    "mid_block_add_attention": True, "use_quant_conv": True, "use_post_quant_conv": True,
    "scaling_factor": 0.5, "shift_factor": None,
}
EPS = 1e-6
KL_WEIGHT = 0.1


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=EPS, affine=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=EPS, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    """Single-head self-attention over H*W with a residual connection."""
    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=EPS, affine=True)
        self.to_q = nn.Linear(c, c)
        self.to_k = nn.Linear(c, c)
        self.to_v = nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.group_norm(x).view(b, c, h * w).transpose(1, 2)
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        s = torch.softmax(q @ k.transpose(1, 2) / c ** 0.5, dim=-1)
        o = self.to_out[0](s @ v)
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class MidBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.attentions = nn.ModuleList([Attention(c, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, groups), ResnetBlock2D(c, c, groups)])

    def forward(self, x):
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class Downsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Block(nn.Module):
    def __init__(self, cin, cout, n, groups, down=False, up=False):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, groups)
                                      for i in range(n)])
        if down:
            self.downsamplers = nn.ModuleList([Downsample2D(cout)])
        if up:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        for m in getattr(self, "downsamplers", []):
            x = m(x)
        for m in getattr(self, "upsamplers", []):
            x = m(x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            self.down_blocks.append(Block(prev, c, n, g, down=i < len(ch) - 1))
            prev = c
        self.mid_block = MidBlock(ch[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, g, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        rch = list(reversed(ch))
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[-1], 3, padding=1)
        self.up_blocks = nn.ModuleList()
        prev = rch[0]
        for i, c in enumerate(rch):
            self.up_blocks.append(Block(prev, c, n + 1, g, up=i < len(ch) - 1))
            prev = c
        self.mid_block = MidBlock(ch[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, ch[0], eps=EPS)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        L = cfg["latent_channels"]
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * L, 2 * L, 1)
        self.post_quant_conv = nn.Conv2d(L, L, 1)

    def encode(self, x):
        mean, logvar = torch.chunk(self.quant_conv(self.encoder(x)), 2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


def write_st(path, tensors, meta):
    """safetensors: u64 little-endian header length, JSON header, data."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors:
        b = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4")).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20261122)
    model = AutoencoderKL(CONFIG)
    with torch.no_grad():   # non-trivial norm affines, so their gradients matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    g = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    x.requires_grad_(True)
    mean, logvar = model.encode(x)
    eps = torch.randn(mean.shape, generator=g)
    z = mean + torch.exp(0.5 * logvar) * eps
    rec = model.decode(z)
    target = x.detach()     # d_x is the gradient through the encoder only
    l1 = F.l1_loss(rec, target)
    mse = F.mse_loss(rec, target)
    kl = 0.5 * torch.sum(mean ** 2 + torch.exp(logvar) - 1.0 - logvar) / x.shape[0]
    total = l1 + mse + KL_WEIGHT * kl
    total.backward()
    with torch.no_grad():
        dec_mean = model.decode(mean)

    cfg = dict(CONFIG)
    meta = {"format": "pt", "config": json.dumps(cfg, separators=(",", ":"))}
    write_st(os.path.join(OUT, "weights.safetensors"), list(model.state_dict().items()), meta)
    tensors = [("x", x), ("eps", eps), ("mean", mean), ("logvar", logvar), ("rec", rec),
               ("dec_mean", dec_mean),
               ("loss_l1", l1.reshape(1)), ("loss_mse", mse.reshape(1)),
               ("loss_kl", kl.reshape(1)), ("loss_total", total.reshape(1)), ("d_x", x.grad)]
    tensors += [("grad." + n, p.grad) for n, p in model.named_parameters()]
    write_st(os.path.join(OUT, "pass.safetensors"), tensors, {"kl_weight": str(KL_WEIGHT)})


if __name__ == "__main__":
    main()
