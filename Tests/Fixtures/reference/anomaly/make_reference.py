#!/usr/bin/env python3
"""Reference values for the anomaly tests, from scikit-learn and onnxruntime.

1. Ledoit-Wolf: a 40 x 12 matrix x[i][j] = sin(0.37 i + 1.3 j) + 0.25 cos(0.11 i j) + 0.05 j,
   standardised per column (StandardScaler), then sklearn.covariance.LedoitWolf: the
   shrinkage and the Mahalanobis distances of four probe rows
   probe[k][j] = x[5 k][j] + 0.3 sin(k + j) (probes in raw units).
2. The YOLO backbone (models/yolo-backbone) in onnxruntime on a pattern input
   value[n][c][h][w] = 15 ((7 c + 3 h + w + 5 n) mod 17) / 255 (whole bytes / 255) of shape 2 x 3 x 192 x 256:
   all 2 x 512 features.

Run: python3 -m venv /tmp/ref && /tmp/ref/bin/pip install scikit-learn numpy onnxruntime
     /tmp/ref/bin/python Tests/Fixtures/reference/anomaly/make_reference.py
"""
import json
from pathlib import Path

import numpy as np
import onnxruntime
import sklearn
from sklearn.covariance import LedoitWolf
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[4]

rows, cols = 40, 12
i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
x = np.sin(0.37 * i + 1.3 * j) + 0.25 * np.cos(0.11 * i * j) + 0.05 * j
x = x.astype(np.float32).astype(np.float64)
k, jj = np.meshgrid(np.arange(4), np.arange(cols), indexing="ij")
probes = (x[5 * np.arange(4)] + 0.3 * np.sin(k + jj)).astype(np.float32).astype(np.float64)
scaler = StandardScaler().fit(x)
lw = LedoitWolf().fit(scaler.transform(x))
distances = np.sqrt(lw.mahalanobis(scaler.transform(probes)))

n, c, h, w = np.meshgrid(np.arange(2), np.arange(3), np.arange(192), np.arange(256), indexing="ij")
pattern = (((7 * c + 3 * h + w + 5 * n) % 17) * 15 / 255).astype(np.float32)
session = onnxruntime.InferenceSession(str(ROOT / "models/yolo-backbone/yolo-backbone.onnx"))
features = session.run(None, {"images": pattern})[0]

out = {
    "scikit_learn": sklearn.__version__,
    "onnxruntime": onnxruntime.__version__,
    "ledoit_wolf": {"shrinkage": float(lw.shrinkage_), "probe_distances": distances.tolist()},
    "backbone_pattern": {"shape": list(features.shape), "features": features.round(6).tolist()},
}
(Path(__file__).parent / "reference.json").write_text(json.dumps(out) + "\n")
print("shrinkage", lw.shrinkage_, "distances", distances, "features", features.shape, features[0, :4])
