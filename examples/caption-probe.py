#!/usr/bin/env python3
"""How much does a trained DiT listen to each part of the caption?

    caption-probe.py [-t T] [-n PAIRS] CHECKPOINT LATENTS

For each attribute of the demo's captions (color, shape, direction of
motion, moving or standing still, background), pairs of training captions that differ in that attribute
only are taken from LATENTS (the stream the DiT trained on). From the
same noise x_t at time T (the noisy end, where the caption decides what
the video becomes) the model predicts x0 = x_t - T v once with each
caption of a pair; the root mean square of the difference is how much
the attribute moves the prediction. Beside it, the same measure on the
data: the root mean square difference between the mean latents (in the
model's scaled space) of the two values, over the whole stream. A model
that follows an attribute moves its prediction about as much as the data
moves; one that ignores it, by nearly nothing.

The model runs through the PyTorch twin of the C DiT that writes the
golden tensors (tests/golden-dit.py), so this needs torch and numpy; the
stream is read with avt_read.py. Prints one line an attribute.
"""
import argparse, importlib.util, json, os, re, signal, struct, sys
from collections import defaultdict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from avt_read import read_avt  # noqa: E402

CAPTION = re.compile(r"^an? (\w+) (\w+) (moving .+|standing still) on a (.+) background$")
ATTRS = ("color", "shape", "direction", "background")


def load_twin():
    """tests/golden-dit.py as a module: the PyTorch twin of the C DiT."""
    spec = importlib.util.spec_from_file_location(
        "golden_dit", os.path.join(HERE, "..", "tests", "golden-dit.py"))
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    return twin


def load_model(path):
    """The checkpoint's weights in the PyTorch twin, its config from the metadata."""
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        sys.exit("caption-probe.py: %s: %s" % (path, e.strerror))
    try:
        n, = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
    except (struct.error, ValueError):
        sys.exit("caption-probe.py: %s: not a safetensors file" % path)
    meta = header.pop("__metadata__", {})
    if "config" not in meta:
        sys.exit("caption-probe.py: %s: no DiT config in the metadata" % path)
    model = load_twin().DiT(json.loads(meta["config"]))
    state = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            sys.exit("caption-probe.py: %s: tensor %s is %s, not F32" % (path, name, h["dtype"]))
        a, b = h["data_offsets"]
        state[name] = torch.from_numpy(
            np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(h["shape"]).copy())
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_stream(path):
    """The records whose caption has the demo's form, in stream order:
    (attributes, latent in the model's scaled space, the record's tensors)."""
    try:
        records = read_avt(path)
    except OSError as e:
        sys.exit("caption-probe.py: %s: %s" % (path, e.strerror))
    except ValueError as e:
        sys.exit("caption-probe.py: %s" % e)
    out = []
    for key, meta, t in records:
        m = CAPTION.match(meta.get("caption", ""))
        if m:
            x = (t["latent"] - float(meta.get("latent_shift_factor", 0))) * \
                float(meta.get("latent_scaling_factor", 1))
            out.append((m.groups(), x, t))
    if not out:
        sys.exit("caption-probe.py: %s: no record has a caption of the demo's form" % path)
    return out


def probe(model, recs, t=0.95, pairs=4):
    """One row an attribute: (name, pairs taken, model rms, data rms)."""
    items, groups = {}, {k: defaultdict(list) for k in ATTRS}
    for attrs, x, tensors in recs:
        for k, v in zip(ATTRS, attrs):
            groups[k][v].append(x)
        items.setdefault(attrs, tensors)
    rng = np.random.default_rng(1)
    noise = torch.from_numpy(rng.standard_normal((1,) + recs[0][1].shape).astype(np.float32))

    def predict(attrs):
        tk = items[attrs]
        with torch.no_grad():
            v = model(noise, torch.tensor([t]), torch.from_numpy(tk["tokens"].astype(np.int64))[None],
                      torch.tensor([int(tk["mask"].sum())]))
        return (noise - t * v)[0].numpy()

    # (row name, attribute index, which pairs of its values count)
    still = "standing still"
    rows = [("color", 0, lambda u, v: True), ("shape", 1, lambda u, v: True),
            ("direction", 2, lambda u, v: still not in (u, v)),
            ("moving/still", 2, lambda u, v: (u == still) != (v == still)),
            ("background", 3, lambda u, v: True)]
    out = []
    for name, i, counts in rows:
        diffs = []
        for base in sorted(items):
            if len(diffs) >= pairs:
                break
            for other in sorted(items):
                if other[i] != base[i] and counts(base[i], other[i]) and \
                   all(other[j] == base[j] for j in range(4) if j != i):
                    diffs.append(np.sqrt(((predict(base) - predict(other)) ** 2).mean()))
                    break
        values = sorted(groups[ATTRS[i]])
        means = {v: np.mean(groups[ATTRS[i]][v], 0) for v in values}
        data = [np.sqrt(((means[u] - means[v]) ** 2).mean())
                for u in values for v in values if u < v and counts(u, v)]
        out.append((name, len(diffs), np.mean(diffs) if diffs else float("nan"),
                    np.mean(data) if data else float("nan")))
    return out


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet under head
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-t", type=float, default=0.95, help="noise level (default 0.95)")
    ap.add_argument("-n", type=int, default=4, help="caption pairs an attribute (default 4)")
    ap.add_argument("checkpoint")
    ap.add_argument("latents")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.checkpoint)
    print("attribute\tpairs\tmodel_rms\tdata_rms")
    for row in probe(model, read_stream(a.latents), a.t, a.n):
        print("%s\t%d\t%.4f\t%.4f" % row)


if __name__ == "__main__":
    main()
