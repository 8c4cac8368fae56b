#!/usr/bin/env python3
"""Does conditioning that varies per frame let the DiT follow the caption's
direction of motion? An experiment in PyTorch, not part of avkit.

    frame-cond.py base|frame STEPS LATENTS [LOG_EVERY [SEED]]

Trains the PyTorch twin of the C DiT (tests/golden-dit.py) with
examples/dit-demo.json on LATENTS as av-train does (batch 8, AdamW lr
5e-4, weight decay 0.01 on matrices, logit-normal timesteps with shift 3,
caption dropout 0.1, adaLN-zero start), then prints how far the color,
shape, direction and background of the caption move the prediction of x0
from one noise at t = 0.95 (as examples/caption-probe.py; 8 pairs).

"base" is the model as it is. "frame" adds the fixed sinusoidal features
of the frame index to the conditioning vector before the SiLU of every
adaLN modulation of the video tokens (the text tokens keep the plain one),
so that shift, scale and gate differ per frame and depend on the caption
and the frame together. Run in the README's "The longer recipe".
"""
import importlib.util, json, math, os, re, sys, time
import numpy as np, torch, torch.nn.functional as F
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
from avt_read import read_avt
spec = importlib.util.spec_from_file_location("g", os.path.join(HERE, "..", "..", "tests", "golden-dit.py"))
g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
SEED = int(sys.argv[5]) if len(sys.argv) > 5 else 1
torch.set_num_threads(1); torch.manual_seed(SEED)
variant, steps, lat = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = json.load(open(os.path.join(HERE, "..", "..", "examples", "dit-demo.json"))); cfg.setdefault("freq_dim", 256)
cfg.setdefault("rope_dims", [8, 12, 12]); cfg.setdefault("rope_theta", 10000.0); cfg.setdefault("variant", "single")
PF = variant == "frame"

def frame_feats(T_, d):
    half = d // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = torch.arange(T_, dtype=torch.float32)[:, None] * f[None]
    return torch.cat([torch.cos(a), torch.sin(a)], -1)          # [T, d]

def block_forward(self, x, e, sc, kv_len, grid, cs, scf=None):
    Bn, N, D = x.shape
    T_, S = grid[0], grid[1] * grid[2]
    if scf is None:
        m = self.norm1.linear(sc).view(Bn, 6, 1, D); cm = m
    else:
        mf = self.norm1.linear(scf).view(Bn, T_, 6, D)             # per frame
        m = mf[:, :, :, None, :].expand(Bn, T_, 6, S, D).permute(0, 2, 1, 3, 4).reshape(Bn, 6, N, D)
        cm = self.norm1.linear(sc).view(Bn, 6, 1, D)
    nx = g.ln(x) * (1 + m[:, 1]) + m[:, 0]
    ne = g.ln(e) * (1 + cm[:, 1]) + cm[:, 0]
    Lt = e.shape[1]
    qv, kv, vv = self.attn.qkv(nx, False, cs)
    qt, kt, vt = self.attn.qkv(ne, True)
    def per_frame(a, b):
        a = a.view(Bn, T_, S, *a.shape[2:])
        if b is None: return a.flatten(0, 1)
        b = b[:, None].expand(Bn, T_, *b.shape[1:])
        return torch.cat([a, b], 2).flatten(0, 1)
    nq = S if self.last else S + Lt
    o = g.mha(per_frame(qv, None if self.last else qt), per_frame(kv, kt), per_frame(vv, vt),
              (kv_len + S).repeat_interleave(T_)).view(Bn, T_, nq, D)
    av = self.attn.out(o[:, :, :S].reshape(Bn, N, D), False)
    bv, bt = self.branches(nx, ne, kv_len, cs, T_, S)
    x = x + m[:, 2] * (av + bv)
    x = x + m[:, 5] * self.ff(g.ln(x) * (1 + m[:, 4]) + m[:, 3])
    if self.last: return x, None
    at = self.attn.out(o[:, :, S:].mean(1), True)
    e = e + cm[:, 2] * (at + bt)
    e = e + cm[:, 5] * self.ff(g.ln(e) * (1 + cm[:, 4]) + cm[:, 3])
    return x, e

class Model(g.DiT):
    def forward(self, x, t, tokens, kv_len):
        c, (pt, ph, pw) = self.c, self.c["patch_size"]
        Bn, C, T_, H_, W_ = x.shape
        grid = (T_ // pt, H_ // ph, W_ // pw)
        tok = self.pos_embed.proj(x).flatten(2).transpose(1, 2)
        e = self.text_encoder(tokens, kv_len)
        mk = (torch.arange(e.shape[1])[None, :] < kv_len[:, None]).float()
        pooled = (e * mk[..., None]).sum(1) / kv_len.clamp(min=1)[:, None].float()
        half = c["freq_dim"] // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = (t * 1000.0)[:, None] * freqs[None]
        temb = torch.cat([torch.cos(a), torch.sin(a)], -1)
        cond = self.time_text_embed.timestep_embedder(temb) + self.time_text_embed.text_embedder(pooled)
        sc = F.silu(cond)
        scf = F.silu(cond[:, None] + frame_feats(grid[0], cond.shape[1])[None]) if PF else None
        cs = g.rope_table(*grid, c["rope_dims"], c["rope_theta"])
        for blk in self.transformer_blocks:
            tok, e = block_forward(blk, tok, e, sc, kv_len, grid, cs, scf)
        if PF:
            so = self.norm_out.linear(scf)                        # [B, T, 2D]
            S = grid[1] * grid[2]
            so = so[:, :, None].expand(Bn, grid[0], S, so.shape[-1]).reshape(Bn, -1, so.shape[-1])
            scale, shift = so.chunk(2, -1)
            y = self.proj_out(g.ln(tok) * (1 + scale) + shift)
        else:
            scale, shift = self.norm_out.linear(sc).chunk(2, -1)
            y = self.proj_out(g.ln(tok) * (1 + scale[:, None]) + shift[:, None])
        y = y.view(Bn, *grid, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return y.reshape(Bn, C, T_, H_, W_)

model = Model(cfg)
with torch.no_grad():   # adaLN-zero
    for blk in model.transformer_blocks: blk.norm1.linear.weight.zero_(); blk.norm1.linear.bias.zero_()
    model.norm_out.linear.weight.zero_(); model.norm_out.linear.bias.zero_()
    model.proj_out.weight.zero_(); model.proj_out.bias.zero_()
R = read_avt(lat)
X = np.stack([(t["latent"] - float(m.get("latent_shift_factor", 0))) * float(m["latent_scaling_factor"]) for k, m, t in R]).astype(np.float32)
TOK = np.stack([t["tokens"] for k, m, t in R]).astype(np.int64); LEN = np.array([int(t["mask"].sum()) for k, m, t in R])
CAP = [m["caption"] for k, m, t in R]
decay = [p for p in model.parameters() if p.dim() >= 2]; other = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}], lr=5e-4)
rng = np.random.default_rng(SEED); t0 = time.time()
for s in range(steps):
    idx = rng.integers(0, len(X), 8)
    x0 = torch.from_numpy(X[idx]); tok = torch.from_numpy(TOK[idx].copy()); ln_ = torch.from_numpy(LEN[idx].copy())
    drop = rng.random(8) < 0.1
    for i in np.nonzero(drop)[0]: tok[i] = 0; tok[i, 0] = 1; tok[i, 1] = 2; ln_[i] = 2
    u = torch.sigmoid(torch.randn(8)); t = 3 * u / (1 + 2 * u)
    eps = torch.randn_like(x0); xt = (1 - t.view(-1, 1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1, 1) * eps
    loss = ((model(xt, t, tok, ln_) - (eps - x0)) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    if (s + 1) % int(sys.argv[4] if len(sys.argv) > 4 else 100) == 0: print("%s step %d loss %.4f %.0fs" % (variant, s + 1, loss.item(), time.time() - t0), flush=True)
# probe: direction sensitivity at t=0.95 vs data
C_RE = re.compile(r"^an? (\w+) (\w+) (moving .+|standing still) on a (.+) background$")
at = {}
for i, c in enumerate(CAP):
    m = C_RE.match(c)
    if m: at.setdefault(m.groups(), i)
noise = torch.from_numpy(np.random.default_rng(1).standard_normal((1,) + X.shape[1:]).astype(np.float32))
def pred(i):
    with torch.no_grad():
        v = model(noise, torch.tensor([0.95]), torch.from_numpy(TOK[i:i + 1]), torch.from_numpy(LEN[i:i + 1]))
    return (noise - 0.95 * v)[0].numpy()
for name, k in (("color", 0), ("shape", 1), ("direction", 2), ("background", 3)):
    d = []
    for a_ in sorted(at):
        if len(d) >= 8: break
        for b_ in sorted(at):
            if b_[k] != a_[k] and all(b_[j] == a_[j] for j in range(4) if j != k) and \
               (k != 2 or "standing still" not in (a_[2], b_[2])):
                d.append(np.sqrt(((pred(at[a_]) - pred(at[b_])) ** 2).mean())); break
    print("%s %d steps: %s model_rms %.4f" % (variant, steps, name, np.mean(d)), flush=True)
