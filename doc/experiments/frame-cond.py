#!/usr/bin/env python3
"""Does conditioning that varies per frame let the DiT follow the caption's
direction of motion? An experiment in PyTorch, not part of avkit.

    frame-cond.py base|frame STEPS LATENTS [LOG_EVERY [SEED]]

Trains the PyTorch twin of the C DiT (tests/golden-dit.py) with
examples/dit-demo.json on LATENTS as av-train does (batch 8, AdamW lr
5e-4, weight decay 0.01 on matrices, logit-normal timesteps with shift 3,
caption dropout 0.1, adaLN-zero start), then prints how far the color,
shape, direction, motion and background of the caption move the
prediction of x0 from one noise at t = 0.95 (examples/caption-probe.py's
probe, 8 pairs).

"base" is the model as it is. "frame" sets "frame_cond" (now a key of
the C model too, avkit-dit(5)): the fixed sinusoidal features of the frame index are
added to the conditioning vector before the SiLU of every adaLN
modulation of the video tokens (the text tokens keep the plain one), so
that shift, scale and gate differ per frame and depend on the caption
and the frame together. Run in the README's "The longer recipe".
"""
import importlib.util, json, os, sys, time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
spec = importlib.util.spec_from_file_location("caption_probe",
                                              os.path.join(EXAMPLES, "caption-probe.py"))
cp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cp)

variant, steps, lat = sys.argv[1], int(sys.argv[2]), sys.argv[3]
every = int(sys.argv[4]) if len(sys.argv) > 4 else 100
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
torch.set_num_threads(1)
torch.manual_seed(seed)
cfg = json.load(open(os.path.join(EXAMPLES, "dit-demo.json")))
cfg.update(freq_dim=256, rope_dims=[8, 12, 12], rope_theta=10000.0, variant="single",
           frame_cond=variant == "frame")
model = cp.load_twin().DiT(cfg)
with torch.no_grad():   # adaLN-zero, as av-train starts
    for lin in [b.norm1.linear for b in model.transformer_blocks] + \
               [model.norm_out.linear, model.proj_out]:
        lin.weight.zero_()
        lin.bias.zero_()

recs = cp.read_stream(lat)
X = np.stack([x for _, x, _ in recs]).astype(np.float32)
TOK = np.stack([t["tokens"] for _, _, t in recs]).astype(np.int64)
LEN = np.array([int(t["mask"].sum()) for _, _, t in recs])
decay = [p for p in model.parameters() if p.dim() >= 2]
other = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                         {"params": other, "weight_decay": 0.0}], lr=5e-4)
rng = np.random.default_rng(seed)
t0 = time.time()
for s in range(steps):
    idx = rng.integers(0, len(X), 8)
    x0 = torch.from_numpy(X[idx])
    tok, kv_len = torch.from_numpy(TOK[idx].copy()), torch.from_numpy(LEN[idx].copy())
    for i in np.nonzero(rng.random(8) < 0.1)[0]:   # caption dropout: <bos> <eos>
        tok[i] = 0
        tok[i, 0], tok[i, 1], kv_len[i] = 1, 2, 2
    u = torch.sigmoid(torch.randn(8))
    t = (3 * u / (1 + 2 * u)).view(-1, 1, 1, 1, 1)      # timestep shift 3
    eps = torch.randn_like(x0)
    xt = (1 - t) * x0 + t * eps
    loss = ((model(xt, t.flatten(), tok, kv_len) - (eps - x0)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if (s + 1) % every == 0:
        print("%s step %d loss %.4f %.0fs" % (variant, s + 1, loss.item(), time.time() - t0),
              flush=True)
model.eval()
for name, n, m, d in cp.probe(model, recs, 0.95, 8):
    print("%s %d steps: %s model_rms %.4f data_rms %.4f" % (variant, steps, name, m, d), flush=True)
