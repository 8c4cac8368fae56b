#!/usr/bin/env python3
"""Golden tensors for the operators added with the backend table
(tests/golden/backend/): clamp and the channel split, written in the form of
tests/golden-ops.py (whose helpers this script loads) and read by
tests/unit/test_backend.c. Run by `make golden` (scripts/golden.sh)."""
import importlib.util, os
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("golden_ops", os.path.join(HERE, "golden-ops.py"))
ops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ops)
ops.OUT = os.path.join(HERE, "golden", "backend")


def main():
    os.makedirs(ops.OUT, exist_ok=True)
    # clamp to the VAE's log-variance range, with values just inside and
    # just outside both bounds; none exactly on a bound, where PyTorch
    # changed its subgradient in 2.15 (1 before, 0 since; ops.h says which
    # one avkit keeps and tests/unit/test_backend.c checks it)
    x = ops.rn(3, 40, seed=80, scale=25.0)
    x[0, 0], x[0, 1], x[1, 2], x[2, 3] = -29.75, 19.75, -30.25, 20.25
    ops.case("clamp", lambda v: torch.clamp(v, -30.0, 20.0), [("x", x)], lo=-30, hi=20)
    # torch.split of [B, Ca + Cb, S] into [B, Ca, S] and [B, Cb, S]; "out"
    # holds the two parts one after the other (flattened)
    def split(v):
        a, b = torch.split(v, [2, 4], dim=1)
        return torch.cat([a.reshape(-1), b.reshape(-1)])
    ops.case("split", split, [("x", ops.rn(2, 6, 5, seed=81))], B=2, Ca=2, Cb=4, S=5)


if __name__ == "__main__":
    main()
