#!/usr/bin/env python3
"""Golden tensors for the video diffusion transformer (tests/golden/dit/).

A plain torch.nn twin of lib/models/dit*.c: the same parameter names (those
of diffusers' SD3-style transformers, extended for the parallel block's
temporal and cross branches; see avkit-dit(5)), the same token orders and
the same arithmetic. For each of four configurations (single-stream and
dual-stream MM-DiT, each with the cross-attention branch and with full 3D
joint self-attention instead) a small model is built with a fixed seed and
every parameter drawn at random (so no gradient is trivially zero), one
training pass is run on a batch of two clips, and ten AdamW steps are run
from the same weights on ten fixed batches. Written with numpy + json +
struct:

  <variant>.weights.safetensors  the parameters, metadata "format" "pt" and
                                 "config" (the JSON avk_dit_load reads)
  <variant>.pass.safetensors     x0, eps, t, tokens (or text_emb), text_len
                                 (as floats),
                                 x_t, pred, target, loss, and grad.<param>
                                 for every parameter
  <variant>.steps.safetensors    step<k>.{x0,eps,t,tokens,text_len} for ten
                                 steps and "loss" [10], the loss of each
                                 step before its update

The objective is rectified flow: x_t = (1 - t) x0 + t eps, the model
predicts v = eps - x0 at timestep 1000 t, loss = mean((pred - v)^2).
A fifth configuration takes external text embeddings (text_emb) through
context_embedder instead of caption tokens through the text encoder; a
sixth adds fixed sine-cosine 3D positions to the patch tokens
(pos_embed_type "sincos"); two more condition the video tokens per frame
("frame_cond": c plus sinusoidal features of the frame index before the
SiLU of every video adaLN modulation), single-stream and MM-DiT.
tests/unit/test_dit.c compares the C model with these. Run by `make golden`.
"""
import json, math, os, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "dit")
torch.set_num_threads(1)
EPS = 1e-6

BASE = {
    "_class_name": "AvkitVideoDiT", "in_channels": 4, "patch_size": [1, 2, 2],
    "hidden_size": 32, "num_heads": 2, "depth": 2, "mlp_ratio": 2,
    "vocab_size": 50, "max_text_len": 8, "text_layers": 2,
    "freq_dim": 64, "rope_dims": [4, 6, 6], "rope_theta": 10000.0,
}
VARIANTS = {
    "single_cross": dict(variant="single", attention="cross", qk_norm=False),
    "single_joint": dict(variant="single", attention="joint", qk_norm=False),
    "mmdit_cross": dict(variant="mmdit", attention="cross", qk_norm=True),
    "mmdit_joint": dict(variant="mmdit", attention="joint", qk_norm=True),
    # external text embeddings (av-caption-feed --text-emb) through context_embedder
    "single_cross_emb": dict(variant="single", attention="cross", qk_norm=True, text_emb_dim=12),
    # fixed sine-cosine 3D positions added to the patch tokens
    "single_joint_pos": dict(variant="single", attention="joint", qk_norm=True,
                             pos_embed_type="sincos"),
    # per-frame adaLN conditioning of the video tokens, with the text's
    # modulation from the same linear (single) or its own (mmdit)
    "single_joint_frame": dict(variant="single", attention="joint", qk_norm=True,
                               frame_cond=True),
    "mmdit_joint_frame": dict(variant="mmdit", attention="joint", qk_norm=True,
                              frame_cond=True),
}
B, T, H, W, LT = 2, 3, 8, 8, 6


def lin(i, o):
    return nn.Linear(i, o)


class FF(nn.Module):
    """net.0.proj (D -> r D), GELU (tanh), net.2 (r D -> D) as diffusers."""
    def __init__(self, d, r):
        super().__init__()
        self.net = nn.ModuleList([nn.Module(), nn.Identity(), lin(d * r, d)])
        self.net[0].proj = lin(d, d * r)

    def forward(self, x):
        return self.net[2](F.gelu(self.net[0].proj(x), approximate="tanh"))


class RMS(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def attention(q, k, v, kv_len=None):
    """q [..., Nq, Dh] k, v [..., Nk, Dh]; kv_len [batch] masks keys >= kv_len
    (the leading dimension of q is the batch)."""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if kv_len is not None:
        m = torch.arange(k.shape[-2])[None, :] < kv_len[:, None]         # [B, Nk]
        m = m.view(m.shape[0], *([1] * (s.dim() - 2)), m.shape[1])
        s = s.masked_fill(~m, float("-inf"))
    return torch.softmax(s, -1) @ v


class Attn(nn.Module):
    """One attention module: to_q/to_k/to_v/to_out.0 for the video stream
    (or the only stream), and add_q_proj/add_k_proj/add_v_proj/to_add_out
    for the text stream when `dual` (MM-DiT); norm_q/norm_k (and
    norm_added_q/norm_added_k) are RMS norms over the head dimension."""
    def __init__(self, d, heads, qk_norm, dual, text_out=True):
        super().__init__()
        self.h, self.dual = heads, dual
        self.to_q, self.to_k, self.to_v = lin(d, d), lin(d, d), lin(d, d)
        if qk_norm:
            self.norm_q, self.norm_k = RMS(d // heads), RMS(d // heads)
        if dual:   # text queries only where the text is updated
            if text_out:
                self.add_q_proj = lin(d, d)
            self.add_k_proj, self.add_v_proj = lin(d, d), lin(d, d)
            if qk_norm:
                if text_out:
                    self.norm_added_q = RMS(d // heads)
                self.norm_added_k = RMS(d // heads)
        self.to_out = nn.ModuleList([lin(d, d), nn.Dropout(0.0)])
        if dual and text_out:
            self.to_add_out = lin(d, d)
        self.qk_norm = qk_norm

    def heads(self, x):
        return x.view(*x.shape[:-1], self.h, -1)

    def qkv(self, x, text, cos_sin=None):
        """Per-head q, k, v [..., N, H, Dh] of one stream, normed and rotated."""
        if text and self.dual:
            q = self.add_q_proj(x) if hasattr(self, "add_q_proj") else x
            k, v = self.add_k_proj(x), self.add_v_proj(x)
            nq = getattr(self, "norm_added_q", None) if self.qk_norm else None
            nk = self.norm_added_k if self.qk_norm else None
        else:
            q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
            nq, nk = (self.norm_q, self.norm_k) if self.qk_norm else (None, None)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        if nq is not None:
            q = nq(q)
        if nk is not None:
            k = nk(k)
        if cos_sin is not None:
            q, k = rope(q, cos_sin), rope(k, cos_sin)
        return q, k, v

    def out(self, x, text):
        return self.to_add_out(x) if text and self.dual else self.to_out[0](x)


def rope_table(T_, Hp, Wp, dims, theta):
    pos = torch.stack(torch.meshgrid(torch.arange(T_), torch.arange(Hp), torch.arange(Wp),
                                     indexing="ij"), -1).reshape(-1, 3).double()
    angs = []
    for a, d in enumerate(dims):
        inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angs.append(pos[:, a:a + 1] * inv[None, :])
    ang = torch.cat(angs, 1)                                  # [N, Dh/2]
    return ang.cos().float(), ang.sin().float()


def sincos_table(T_, Hp, Wp, dims, theta):
    """[N, sum(dims)]: per axis a, sin(pos * f_j) then cos(pos * f_j),
    f_j = theta^(-2j / dims[a]), j < dims[a] / 2."""
    pos = torch.stack(torch.meshgrid(torch.arange(T_), torch.arange(Hp), torch.arange(Wp),
                                     indexing="ij"), -1).reshape(-1, 3).double()
    parts = []
    for a, d in enumerate(dims):
        ang = pos[:, a:a + 1] * theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)[None, :]
        parts += [ang.sin(), ang.cos()]
    return torch.cat(parts, 1).float()


def frame_features(T_, d):
    """[T, d] sinusoidal features of the frame index, cos first."""
    half = d // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = torch.arange(T_, dtype=torch.float32)[:, None] * f[None]
    return torch.cat([torch.cos(a), torch.sin(a)], -1)


def per_token(v, S):
    """[B, T, K] per frame -> [B, T * S, K], each frame's row for its S tokens."""
    Bn, T_, K = v.shape
    return v[:, :, None].expand(Bn, T_, S, K).reshape(Bn, T_ * S, K)


def rope(x, cos_sin):
    """x [B, N, H, Dh]: interleaved pairs rotated by the token's angles."""
    cos, sin = cos_sin[0][:, None, :], cos_sin[1][:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)


def ln(x):
    return F.layer_norm(x, (x.shape[-1],), eps=EPS)


def mha(q, k, v, kv_len=None):
    """q [B', Nq, H, Dh] ... -> [B', Nq, H*Dh] over heads."""
    o = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), kv_len)
    return o.transpose(1, 2).flatten(2)


class Block(nn.Module):
    """Vchitect-2.0's parallel block with adaLN-zero modulation."""
    def __init__(self, c, last):
        super().__init__()
        d, r, h, qn = c["hidden_size"], c["mlp_ratio"], c["num_heads"], c["qk_norm"]
        self.mm, self.joint = c["variant"] == "mmdit", c["attention"] == "joint"
        self.last = last    # the text is only read (SD3's context_pre_only)
        self.norm1 = nn.Module()
        self.norm1.linear = lin(d, 6 * d)
        if self.mm:
            self.norm1_context = nn.Module()
            self.norm1_context.linear = lin(d, (2 if last else 6) * d)
        self.attn = Attn(d, h, qn, self.mm, not last)
        self.attn_temp = Attn(d, h, qn, False)
        if self.joint:
            self.attn_joint = Attn(d, h, qn, self.mm, not last)
        else:
            self.attn_cross = Attn(d, h, qn, False)
        self.ff = FF(d, r)
        if self.mm and not last:
            self.ff_context = FF(d, r)

    def forward(self, x, e, sc, kv_len, grid, cs, scf=None):
        """scf [B, T, D]: a conditioning per frame for the video tokens
        ("frame_cond"); the text keeps sc."""
        Bn, N, D = x.shape
        T_, S = grid[0], grid[1] * grid[2]
        Lt = e.shape[1]
        m = self.norm1.linear(sc).view(Bn, 6, 1, D)
        cm = self.norm1_context.linear(sc).view(Bn, -1, 1, D) if self.mm else m
        if scf is not None:
            m = per_token(self.norm1.linear(scf), S).view(Bn, N, 6, D).transpose(1, 2)
        nx = ln(x) * (1 + m[:, 1]) + m[:, 0]
        ne = ln(e) * (1 + cm[:, 1]) + cm[:, 0]
        # spatial: each frame's tokens jointly with the text tokens
        qv, kv, vv = self.attn.qkv(nx, False, cs)
        qt, kt, vt = self.attn.qkv(ne, True)
        def per_frame(a, b):
            a = a.view(Bn, T_, S, *a.shape[2:])
            if b is None:
                return a.flatten(0, 1)
            b = b[:, None].expand(Bn, T_, *b.shape[1:])
            return torch.cat([a, b], 2).flatten(0, 1)
        nq = S if self.last else S + Lt
        o = mha(per_frame(qv, None if self.last else qt), per_frame(kv, kt), per_frame(vv, vt),
                (kv_len + S).repeat_interleave(T_)).view(Bn, T_, nq, D)
        av = self.attn.out(o[:, :, :S].reshape(Bn, N, D), False)
        bv, bt = self.branches(nx, ne, kv_len, cs, T_, S)
        x = x + m[:, 2] * (av + bv)
        x = x + m[:, 5] * self.ff(ln(x) * (1 + m[:, 4]) + m[:, 3])
        if self.last:
            return x, None
        at = self.attn.out(o[:, :, S:].mean(1), True)
        e = e + cm[:, 2] * (at + bt)
        ffc = self.ff_context if self.mm else self.ff
        e = e + cm[:, 5] * ffc(ln(e) * (1 + cm[:, 4]) + cm[:, 3])
        return x, e

    def branches(self, nx, ne, kv_len, cs, T_, S):
        """The temporal branch and the cross (or joint) branch: their summed
        video output and the joint branch's text output (0 without it)."""
        Bn, N, D = nx.shape
        at = 0
        # temporal: each spatial position across the frames
        q, k, v = self.attn_temp.qkv(nx, False, cs)
        tm = lambda a: a.view(Bn, T_, S, *a.shape[2:]).transpose(1, 2).flatten(0, 1)
        o = mha(tm(q), tm(k), tm(v)).view(Bn, S, T_, D).transpose(1, 2).reshape(Bn, N, D)
        av = self.attn_temp.out(o, False)
        if self.joint:
            # full 3D joint self-attention over all video and text tokens
            qv, kv, vv = self.attn_joint.qkv(nx, False, cs)
            qt, kt, vt = self.attn_joint.qkv(ne, True)
            o = mha(qv if self.last else torch.cat([qv, qt], 1), torch.cat([kv, kt], 1),
                    torch.cat([vv, vt], 1), kv_len + N)
            av = av + self.attn_joint.out(o[:, :N], False)
            if not self.last:
                at = self.attn_joint.out(o[:, N:], True)
        else:
            # full-sequence cross-attention: video queries, text keys
            q, _, _ = self.attn_cross.qkv(nx, False)
            _, k, v = self.attn_cross.qkv(ne, False)
            av = av + self.attn_cross.out(mha(q, k, v, kv_len), False)
        return av, at


class TextLayer(nn.Module):
    def __init__(self, d, h, r):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=EPS)
        self.attn = Attn(d, h, False, False)
        self.norm2 = nn.LayerNorm(d, eps=EPS)
        self.ff = FF(d, r)

    def forward(self, e, kv_len):
        q, k, v = self.attn.qkv(self.norm1(e), False)
        e = e + self.attn.out(mha(q, k, v, kv_len), False)
        return e + self.ff(self.norm2(e))


class TextEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.position_embedding = nn.Embedding(c["max_text_len"], d)
        self.layers = nn.ModuleList([TextLayer(d, c["num_heads"], c["mlp_ratio"])
                                     for _ in range(c["text_layers"])])
        self.norm_final = nn.LayerNorm(d, eps=EPS)

    def forward(self, tokens, kv_len):
        e = self.token_embedding(tokens) + self.position_embedding.weight[:tokens.shape[1]]
        for layer in self.layers:
            e = layer(e, kv_len)
        return self.norm_final(e)


class Embed2(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear_1, self.linear_2 = lin(i, o), lin(o, o)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class DiT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, p = c["hidden_size"], c["patch_size"]
        self.pos_embed = nn.Module()
        self.pos_embed.proj = nn.Conv3d(c["in_channels"], d, p, stride=p)
        if c.get("text_emb_dim", 0) > 0:
            self.context_embedder = lin(c["text_emb_dim"], d)
        else:
            self.text_encoder = TextEncoder(c)
        self.time_text_embed = nn.Module()
        self.time_text_embed.timestep_embedder = Embed2(c["freq_dim"], d)
        self.time_text_embed.text_embedder = Embed2(d, d)
        self.transformer_blocks = nn.ModuleList([Block(c, i == c["depth"] - 1)
                                                 for i in range(c["depth"])])
        self.norm_out = nn.Module()
        self.norm_out.linear = lin(d, 2 * d)
        self.proj_out = lin(d, c["in_channels"] * p[0] * p[1] * p[2])

    def forward(self, x, t, tokens, kv_len):
        c, (pt, ph, pw) = self.c, self.c["patch_size"]
        Bn, C, T_, H_, W_ = x.shape
        grid = (T_ // pt, H_ // ph, W_ // pw)
        tok = self.pos_embed.proj(x).flatten(2).transpose(1, 2)          # [B, N, D]
        if c.get("pos_embed_type", "none") == "sincos":
            h = c["num_heads"]
            tok = tok + sincos_table(*grid, [h * d for d in c["rope_dims"]], c["rope_theta"])
        if hasattr(self, "context_embedder"):
            e = self.context_embedder(tokens)      # tokens holds text_emb [B, L, E]
        else:
            e = self.text_encoder(tokens, kv_len)
        m = (torch.arange(e.shape[1])[None, :] < kv_len[:, None]).float()
        pooled = (e * m[..., None]).sum(1) / kv_len.clamp(min=1)[:, None].float()
        half = c["freq_dim"] // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = (t * 1000.0)[:, None] * freqs[None]
        temb = torch.cat([torch.cos(a), torch.sin(a)], -1)
        cond = self.time_text_embed.timestep_embedder(temb) + self.time_text_embed.text_embedder(pooled)
        sc = F.silu(cond)
        scf = None
        if c.get("frame_cond"):
            scf = F.silu(cond[:, None] + frame_features(grid[0], cond.shape[1])[None])
        cs = rope_table(*grid, c["rope_dims"], c["rope_theta"])
        for blk in self.transformer_blocks:
            tok, e = blk(tok, e, sc, kv_len, grid, cs, scf)
        so = self.norm_out.linear(sc)[:, None] if scf is None else \
            per_token(self.norm_out.linear(scf), grid[1] * grid[2])
        scale, shift = so.chunk(2, -1)
        y = self.proj_out(ln(tok) * (1 + scale) + shift)
        # unpatchify: features (c, dt, dh, dw) of token (t, r, col)
        y = y.view(Bn, *grid, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return y.reshape(Bn, C, T_, H_, W_)


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


def batch(g, vocab, emb_dim=0):
    x0 = torch.randn(B, 4, T, H, W, generator=g)
    eps = torch.randn(B, 4, T, H, W, generator=g)
    t = torch.rand(B, generator=g)
    kv_len = torch.randint(1, LT + 1, (B,), generator=g)
    kv_len[0] = LT                                      # one full caption
    tokens = torch.randint(0, vocab, (B, LT), generator=g)
    tokens = torch.where(torch.arange(LT)[None] < kv_len[:, None], tokens, torch.zeros_like(tokens))
    if emb_dim:
        tokens = torch.randn(B, LT, emb_dim, generator=g)    # text_emb in place of tokens
    return x0, eps, t, tokens, kv_len


def flow_loss(model, x0, eps, t, tokens, kv_len):
    tt = t.view(-1, 1, 1, 1, 1)
    xt = (1 - tt) * x0 + tt * eps
    target = eps - x0
    pred = model(xt, t, tokens, kv_len)
    return F.mse_loss(pred, target), xt, pred, target


def batch_tensors(prefix, x0, eps, t, tokens, kv_len):
    name = "text_emb" if tokens.dim() == 3 else "tokens"
    return [(prefix + "x0", x0), (prefix + "eps", eps), (prefix + "t", t),
            (prefix + name, tokens.float()), (prefix + "text_len", kv_len.float())]


def run(name, extra, seed):
    cfg = dict(BASE, **extra)
    torch.manual_seed(seed)
    model = DiT(cfg)
    with torch.no_grad():   # every parameter random, so every gradient matters
        for pn, p in model.named_parameters():
            if pn.endswith("norm_q.weight") or "norm_k" in pn or "norm_added" in pn or \
               ("norm" in pn and pn.endswith(".weight") and "linear" not in pn):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() >= 2:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    meta = {"format": "pt", "config": json.dumps(cfg, separators=(",", ":"))}
    sd = [(n, p.detach().clone()) for n, p in model.named_parameters()]
    write_st(os.path.join(OUT, name + ".weights.safetensors"), sd, meta)

    g = torch.Generator().manual_seed(seed + 1)
    x0, eps, t, tokens, kv_len = batch(g, cfg["vocab_size"], cfg.get("text_emb_dim", 0))
    loss, xt, pred, target = flow_loss(model, x0, eps, t, tokens, kv_len)
    loss.backward()
    tensors = batch_tensors("", x0, eps, t, tokens, kv_len)
    tensors += [("x_t", xt), ("pred", pred), ("target", target), ("loss", loss.reshape(1))]
    tensors += [("grad." + n, p.grad) for n, p in model.named_parameters()]
    write_st(os.path.join(OUT, name + ".pass.safetensors"), tensors, {"variant": name})

    # ten AdamW steps: weight decay on matrices (ndim >= 2) only
    model.zero_grad(set_to_none=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    steps, losses = [], []
    for k in range(10):
        bt = batch(g, cfg["vocab_size"], cfg.get("text_emb_dim", 0))
        loss = flow_loss(model, *bt)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        steps += batch_tensors("step%d." % k, *bt)
    steps.append(("loss", torch.tensor(losses)))
    write_st(os.path.join(OUT, name + ".steps.safetensors"), steps,
             {"lr": "0.001", "beta1": "0.9", "beta2": "0.999", "eps": "1e-08",
              "weight_decay": "0.01"})
    print("golden-dit: %s: %d parameters, loss %.6f" %
          (name, sum(p.numel() for p in model.parameters()), losses[0]))


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, extra) in enumerate(VARIANTS.items()):
        run(name, extra, 20261207 + 10 * i)


if __name__ == "__main__":
    main()
