"""Where do GPU and CPU scores differ? Eigenvalues, projections and evidences compared."""

import sys

import numpy as np
import torch

lm = sys.modules["hfselect_core.logme"]

rng = np.random.default_rng(0)
n, d, k = 10000, 768, 6
x = rng.standard_normal((n, d)).astype(np.float32)
y = rng.integers(0, 5, n)
w = np.eye(d, dtype=np.float32) + 0.05 * rng.standard_normal((k, d, d)).astype(np.float32)
b = 0.01 * rng.standard_normal((k, d)).astype(np.float32)
out = {}
for dev in ("cpu", "cuda"):
    s = lm.AffineLogME(x, y, device=dev)
    w1 = torch.cat(
        [
            torch.as_tensor(w, dtype=torch.float64, device=dev),
            torch.as_tensor(b, dtype=torch.float64, device=dev)[:, :, None],
        ],
        2,
    )
    kk = w1 @ s._factor
    gram = kk @ kk.transpose(1, 2)
    ev_batched = torch.linalg.eigvalsh(gram).cpu().numpy()
    ev_single = np.stack([torch.linalg.eigvalsh(g).cpu().numpy() for g in gram])
    out[dev] = (s.score(w, b), ev_batched, ev_single, gram.cpu().numpy())
    print(dev, out[dev][0])
print("gram rel diff", np.abs(out["cpu"][3] - out["cuda"][3]).max() / np.abs(out["cpu"][3]).max())
print("eig batched cpu vs cuda", np.abs(out["cpu"][1] - out["cuda"][1]).max() / out["cpu"][1].max())
print("eig single cpu vs cuda", np.abs(out["cpu"][2] - out["cuda"][2]).max() / out["cpu"][2].max())
print("eig cuda batched vs single", np.abs(out["cuda"][1] - out["cuda"][2]).max() / out["cpu"][2].max())
print("score rel diff", np.abs(out["cpu"][0] - out["cuda"][0]) / np.abs(out["cpu"][0]))
