"""facenet-pytorch 2.6.0's MTCNN detect_face, restated with numpy + onnxruntime (no torch).

A readable specification of the faces pipeline for models/mtcnn (what Seer's Swift
pipeline must do), checked against facenet-pytorch's own output:

    .venv-age/bin/python models/convert/mtcnn_pipeline.py

runs it on every image of Tests/Fixtures/reference/mtcnn/faces.json and compares
face count, box IoU and landmark error with the reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, area_resize, load_rgb  # noqa: E402

LANDMARKS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str) -> np.ndarray:
    """Greedy NMS, highest score first; drops boxes whose overlap with a kept box is
    > threshold. "union" is torchvision's IoU with areas (x2 - x1) * (y2 - y1);
    "min" is facenet-pytorch's nms_numpy: +1 pixel sizes, overlap = inter / min(area)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    plus = 1.0 if method == "min" else 0.0
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + plus) * (y2 - y1 + plus)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """rerec: a square of side max(w, h) (w = x2 - x1) on the same centre."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """bbreg: offsets scaled by w = x2 - x1 + 1, h = y2 - y1 + 1 (R-Net and O-Net)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += offsets[:, 0] * w
    out[:, 1] += offsets[:, 1] * h
    out[:, 2] += offsets[:, 2] * w
    out[:, 3] += offsets[:, 3] * h
    return out


def normalise(pixels: np.ndarray) -> np.ndarray:
    """N x H x W x 3 float -> N x 3 x H x W float32 (x - 127.5) * 0.0078125."""
    values = (np.asarray(pixels, dtype=np.float32) - np.float32(127.5)) * np.float32(0.0078125)
    return np.ascontiguousarray(values.transpose(0, 3, 1, 2))


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """pad + crop + area resize: integer box = trunc (toward zero) of x1, y1, x2, y2;
    x1, y1 clamped to >= 1 and x2, y2 to <= width, height; the crop is rows y1 - 1 ..< y2
    and columns x1 - 1 ..< x2 (facenet-pytorch's 1-based convention)."""
    height, width = image.shape[:2]
    out = []
    for box in np.trunc(boxes[:, :4]).astype(np.int64):
        x1, y1 = max(box[0], 1), max(box[1], 1)
        x2, y2 = min(box[2], width), min(box[3], height)
        out.append(area_resize(image[y1 - 1:y2, x1 - 1:x2], size, size))
    return normalise(np.stack(out))


class MTCNN:
    def __init__(self, folder: Path = REPO_ROOT / "models" / "mtcnn"):
        import onnxruntime as ort

        self.manifest = json.loads((folder / "manifest.json").read_text())
        self.nets = {role: ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])
                     for role, name in self.manifest["graphs"].items()}

    def run(self, role: str, batch: np.ndarray) -> dict[str, np.ndarray]:
        session = self.nets[role]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, {"input": batch})))

    def pyramid(self, height: int, width: int) -> list[float]:
        pre = self.manifest["preprocessing"]
        m = 12.0 / pre["min_face_size"]
        min_side = min(height, width) * m
        scales, scale = [], m
        while min_side >= 12:
            scales.append(scale)
            scale *= pre["factor"]
            min_side *= pre["factor"]
        return scales

    def detect(self, image: np.ndarray) -> list[dict]:
        thresholds = self.manifest["thresholds"]
        height, width = image.shape[:2]
        pixels = image.astype(np.float64)

        # Stage 1: P-Net on every pyramid level; cells with p >= threshold (>=, not >).
        candidates = []
        for scale in self.pyramid(height, width):
            level_h, level_w = int(height * scale + 1), int(width * scale + 1)
            out = self.run("pnet", normalise(area_resize(pixels, level_h, level_w)[None]))
            prob, reg = out["probability"][0, 1], out["regression"][0]
            ys, xs = np.nonzero(prob >= thresholds["pnet"])  # row-major order
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            q1 = np.floor((2 * cells + 1) / np.float32(scale))
            q2 = np.floor((2 * cells + 12) / np.float32(scale))
            boxes = np.concatenate([q1, q2, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1)
            candidates.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5, "union")])
        boxes = np.concatenate(candidates) if candidates else np.zeros((0, 9), np.float32)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7, "union")]
        # P-Net offsets are scaled by w = x2 - x1 (no +1), then squared.
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = np.stack([boxes[:, 0] + boxes[:, 5] * w, boxes[:, 1] + boxes[:, 6] * h,
                          boxes[:, 2] + boxes[:, 7] * w, boxes[:, 3] + boxes[:, 8] * h, boxes[:, 4]], axis=1)
        boxes = square(boxes)
        if len(boxes) == 0:
            return []

        # Stage 2: R-Net on 24x24 crops; keep p > threshold (strict), NMS, regress, square.
        out = self.run("rnet", crops(pixels, boxes, 24))
        score = out["probability"][:, 1]
        keep = score > thresholds["rnet"]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], axis=1)
        offsets = out["regression"][keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, "union")
        boxes = square(regress(boxes[pick], offsets[pick]))
        if len(boxes) == 0:
            return []

        # Stage 3: O-Net on 48x48 crops; landmarks are placed in the (unregressed) crop box,
        # then the box is regressed and NMS "min" 0.7 runs.
        out = self.run("onet", crops(pixels, boxes, 48))
        score = out["probability"][:, 1]
        keep = score > thresholds["onet"]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], axis=1)
        marks = out["landmarks"][keep]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        points = np.stack([w[:, None] * marks[:, :5] + boxes[:, :1] - 1,
                           h[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
        boxes = regress(boxes, out["regression"][keep])
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, "min")
        boxes, points = boxes[pick], points[pick]
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
        return [{"box": boxes[i, :4].tolist(), "probability": float(boxes[i, 4]),
                 "landmarks": {k: points[i, j].tolist() for j, k in enumerate(LANDMARKS)}} for i in order]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main() -> None:
    reference = json.loads((REPO_ROOT / "Tests/Fixtures/reference/mtcnn/faces.json").read_text())
    detector = MTCNN()
    failures = 0
    for entry in reference["images"]:
        found = detector.detect(load_rgb((REPO_ROOT / entry["image"]).resolve()))
        expected = entry["faces"]
        worst_iou, worst_mark, worst_p = 1.0, 0.0, 0.0
        ok = len(found) == len(expected)
        for f, e in zip(found, expected):
            worst_iou = min(worst_iou, iou(f["box"], e["box"]))
            width = e["box"][2] - e["box"][0]
            for key in LANDMARKS:
                worst_mark = max(worst_mark, float(np.hypot(*(np.subtract(f["landmarks"][key], e["landmarks"][key])))) / width)
            worst_p = max(worst_p, abs(f["probability"] - e["probability"]))
        ok = ok and worst_iou >= 0.95 and worst_mark <= 0.02
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {entry['image']}: {len(found)}/{len(expected)} faces, min IoU {worst_iou:.5f}, "
              f"max landmark error {worst_mark * 100:.4f}% of box width, max |dp| {worst_p:.2e}")
    if failures:
        raise SystemExit(f"{failures} images differ from facenet-pytorch")


if __name__ == "__main__":
    main()
