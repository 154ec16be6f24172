#!/usr/bin/env python3
"""Text-region segmentation model (DBNet, PP-OCRv4 det) for Seer's `text` model.

Source: rapidocr-onnxruntime==1.4.4 (PyPI wheel) ships ch_PP-OCRv4_det_infer.onnx, already
ONNX (opset 12, exported by paddle2onnx). No conversion is needed: this script copies it
unchanged (sha256-checked), verifies it with onnx.checker and onnxruntime, and writes the
manifest. Pre/post-processing values are taken from the wheel's own config.yaml (Det
section) and ch_ppocr_det/utils.py (DetPreProcess, DBPostProcess), both cited below.

Usage (from the repo root, in the venv of models/convert/requirements-detect.txt):
  python models/convert/dbnet.py [--out models/text]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_pinned import PinnedArtifact, PinnedFile, read_member, sha256_file  # noqa: E402

RAPIDOCR = PinnedArtifact(
    package="rapidocr-onnxruntime", version="1.4.4",
    filename="rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")
DET_MODEL = PinnedFile(RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                       "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9")
CONFIG = PinnedFile(RAPIDOCR, "rapidocr_onnxruntime/config.yaml",
                    "bf94a1da4cba828e67b1d61e27cee14d9e7da27c9f272e04048a17e41ae97332")

# rapidocr_onnxruntime/config.yaml, section Det (checked against the file in main()).
DET_CONFIG = {"limit_side_len": 736, "limit_type": "min", "mean": [0.5, 0.5, 0.5],
              "std": [0.5, 0.5, 0.5], "thresh": 0.3, "box_thresh": 0.5,
              "max_candidates": 1000, "unclip_ratio": 1.6, "use_dilation": True,
              "score_mode": "fast"}


def check_config(text: str) -> None:
    """The Det values above must be the ones in the pinned config.yaml (a tiny parser:
    the file is flat `key: value` lines under section headers)."""
    section, found = None, {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = line.rstrip(":").strip()
            continue
        if section == "Det" and ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            found[key] = value
    for key, expected in DET_CONFIG.items():
        actual = found.get(key)
        if actual is None:
            raise ValueError(f"config.yaml Det has no {key}")
        if isinstance(expected, list):
            parsed = [float(v) for v in actual.strip("[] ").split(",")]
        elif isinstance(expected, bool):
            parsed = actual.lower() == "true"
        elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
            parsed = type(expected)(actual)
        else:
            parsed = actual
        if parsed != expected:
            raise ValueError(f"config.yaml Det {key} = {actual}, expected {expected}")


def manifest(model: onnx.ModelProto) -> dict:
    c = DET_CONFIG
    return {
        "name": "text",
        "version": 1,
        "task": "segmentation",
        "default": False,
        "description": "Text-region segmentation: DBNet from PaddleOCR PP-OCRv4 (det, "
                       "multilingual/Chinese+English), as shipped by RapidOCR. Outputs a text "
                       "probability map; regions are polygons from the binarised map.",
        "graphs": {"main": "ch_PP-OCRv4_det_infer.onnx"},
        "inputs": {"main": {"name": model.graph.input[0].name, "layout": "NCHW",
                            "shape": [-1, 3, -1, -1], "color": "BGR"}},
        "preprocessing": {
            "resize": "stretch",
            "size_rule": {
                "limit_side_len": c["limit_side_len"], "limit_type": c["limit_type"],
                "multiple": 32,
                "rule": "ratio = limit_side_len / min(h, w) if min(h, w) < limit_side_len "
                        "else 1 (limit_type 'min'); new_h = round(int(h * ratio) / 32) * 32, "
                        "new_w = round(int(w * ratio) / 32) * 32 (Python round: half to "
                        "even); cv2.resize INTER_LINEAR (half-pixel bilinear) to new_w x new_h",
                "source": "rapidocr_onnxruntime/ch_ppocr_det/utils.py DetPreProcess.resize; "
                          "config.yaml Det.limit_side_len/limit_type"},
            "scale": 1.0 / 255.0, "mean": c["mean"], "std": c["std"],
            "notes": "value = (pixel / 255 - 0.5) / 0.5 per BGR channel; grey images are "
                     "expanded to 3 equal channels. RapidOCR's full pipeline first caps the "
                     "longest side at 2000 and lifts the shortest to 30 (Global.max_side_len / "
                     "min_side_len) and pads very flat images (height <= 30 or w/h > 8) "
                     "top and bottom with black before detection."},
        "outputs": {"main": [{"name": model.graph.output[0].name, "shape": [-1, 1, -1, -1],
                              "meaning": "probability that the pixel is text (sigmoid inside "
                                         "the graph), same H x W as the input"}]},
        "labels": ["text"],
        "thresholds": {"binarize": c["thresh"], "box": c["box_thresh"], "mask": c["thresh"]},
        "postprocessing": {
            "decoder": "db",
            "binarize_threshold": c["thresh"],
            "box_threshold": c["box_thresh"],
            "unclip_ratio": c["unclip_ratio"],
            "max_candidates": c["max_candidates"],
            "min_size": 3,
            "dilation": "2x2 ones kernel" if c["use_dilation"] else None,
            "score_mode": c["score_mode"],
            "steps": "bitmap = prob > binarize_threshold, dilated 2x2; contours (cv2.findContours "
                     "RETR_LIST, CHAIN_APPROX_SIMPLE), at most max_candidates; per contour the "
                     "min-area rectangle, skipped if its short side < min_size; score = mean "
                     "probability inside that rectangle (fast mode), skipped if < box_threshold; "
                     "unclip: offset the rectangle outward by area * unclip_ratio / perimeter "
                     "(pyclipper, round joins), take its min-area rectangle again, skipped if "
                     "its short side < min_size + 2; scale to the original image, round, clip; "
                     "points ordered clockwise from top-left; boxes narrower or lower than 4 px "
                     "dropped",
            "source": "rapidocr_onnxruntime/config.yaml (Det: thresh, box_thresh, max_candidates, "
                      "unclip_ratio, use_dilation, score_mode) and ch_ppocr_det/utils.py "
                      "(DBPostProcess.min_size = 3) and text_detect.py (filter_tag_det_res)"},
        "source": [DET_MODEL.source_entry(), CONFIG.source_entry()],
        "license": "Apache-2.0 (PaddleOCR models; RapidOCR)",
        "conversion": "models/convert/dbnet.py",
        "conversion_notes": f"Copied unchanged: ONNX opset "
                            f"{[o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')][0]}, "
                            f"IR {model.ir_version}, exported by paddle2onnx.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/text"))
    args = parser.parse_args()

    check_config(read_member(CONFIG).decode("utf-8"))
    data = read_member(DET_MODEL)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)

    import onnxruntime as ort
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    probe = np.zeros((1, 3, 64, 96), dtype=np.float32)
    (output,) = session.run(None, {model.graph.input[0].name: probe})
    if output.shape != (1, 1, 64, 96):
        raise ValueError(f"unexpected output shape {output.shape}")

    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "ch_PP-OCRv4_det_infer.onnx"
    target.write_bytes(data)
    (args.out / "manifest.json").write_text(json.dumps(manifest(model), indent=2) + "\n")
    ops = Counter(n.op_type for n in model.graph.node)
    print(f"wrote {target} sha256 {sha256_file(target)}")
    print(f"  opsets {[(o.domain or 'ai.onnx', o.version) for o in model.opset_import]}")
    print(f"  ops {sorted(ops.items())}")


if __name__ == "__main__":
    main()
