#!/usr/bin/env python3
"""Reference outputs for Seer's detection and segmentation models.

Subcommands (each runs in its own venv, see scripts/make-detection-models.sh):

  yolo    (.venv-detect + apt package `darknet`): runs Debian's darknet (libdarknet.so
          via ctypes, the same calls as `darknet detect`, plus the CLI itself as a
          cross-check) on real photos; checks models/yolov3-tiny/yolov3-tiny.onnx against
          darknet's raw head outputs and, through an independent numpy letterbox +
          decode + NMS, against darknet's detections; writes runtime reference tensors.
  text    (.venv-ocr): RapidOCR's own text detection on page.png, plus onnxruntime
          reference tensors of models/text/ for a small fixed input.
  person  (.venv-selfie): MediaPipe's own graph (the TFLite model with its custom op)
          vs models/person/selfie.onnx; onnxruntime reference tensors; a mask
          reference for astronaut.png from an independent numpy pre/post-processing.

Outputs go to Tests/Fixtures/reference/{yolov3-tiny,text,person}/.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models" / "convert"))
MEDIA = Path(os.environ.get("SEER_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
if not MEDIA.exists():
    MEDIA = Path("/work/shared/media")
FIXTURES = ROOT / "Tests" / "Fixtures"
REFERENCE = FIXTURES / "reference"


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


def save_npy(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array))
    print(f"wrote {path.relative_to(ROOT)} {array.dtype} {list(array.shape)}")
    return path.name


def rounded(values, digits: int = 4) -> list:
    return [round(float(v), digits) for v in values]


# ---------------------------------------------------------------------------------------
# YOLOv3-tiny
# ---------------------------------------------------------------------------------------

DARKNET_LIB = "/usr/lib/darknet/libdarknet.so"
DARKNET_IMAGES = Path("/usr/share/darknet/data")
YOLO_THRESH = 0.3          # asked for; `darknet detect -thresh 0.3`
YOLO_HIER = 0.5            # darknet detect's hier_thresh (only used by region layers)
YOLO_NMS = 0.45            # darknet test_detector's nms, applied with do_nms_sort
YOLO_ANCHORS = [(10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319)]
YOLO_HEADS = [("yolo_stride32", [3, 4, 5]), ("yolo_stride16", [0, 1, 2])]
YOLO_IMAGES = {  # fixture name -> source path
    "dog.jpg": MEDIA / "dog.jpg",
    "person.jpg": MEDIA / "person.jpg",
    "kite.jpg": MEDIA / "kite.jpg",
    "detect_horses.jpg": FIXTURES / "media" / "detect_horses.jpg",
    "detect_giraffe.jpg": FIXTURES / "media" / "detect_giraffe.jpg",
}


def copy_detect_media() -> None:
    for name in ("horses.jpg", "giraffe.jpg"):
        target = FIXTURES / "media" / f"detect_{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DARKNET_IMAGES / name, target)


class Darknet:
    """The calls of darknet's own python example / `darknet detect`, through ctypes."""

    def __init__(self, cfg: Path, weights: Path, names: list[str]):
        from ctypes import (CDLL, POINTER, RTLD_GLOBAL, Structure, c_char_p, c_float, c_int,
                            c_void_p)

        class IMAGE(Structure):
            _fields_ = [("w", c_int), ("h", c_int), ("c", c_int), ("data", POINTER(c_float))]

        class BOX(Structure):
            _fields_ = [("x", c_float), ("y", c_float), ("w", c_float), ("h", c_float)]

        class DETECTION(Structure):
            _fields_ = [("bbox", BOX), ("classes", c_int), ("prob", POINTER(c_float)),
                        ("mask", POINTER(c_float)), ("objectness", c_float), ("sort_class", c_int)]

        self.c_int = c_int
        lib = CDLL(DARKNET_LIB, RTLD_GLOBAL)
        lib.load_network.argtypes = [c_char_p, c_char_p, c_int]
        lib.load_network.restype = c_void_p
        lib.load_image_color.argtypes = [c_char_p, c_int, c_int]
        lib.load_image_color.restype = IMAGE
        lib.letterbox_image.argtypes = [IMAGE, c_int, c_int]
        lib.letterbox_image.restype = IMAGE
        lib.free_image.argtypes = [IMAGE]
        lib.network_predict.argtypes = [c_void_p, POINTER(c_float)]
        lib.network_predict.restype = POINTER(c_float)
        lib.network_predict_image.argtypes = [c_void_p, IMAGE]
        lib.network_predict_image.restype = POINTER(c_float)
        lib.get_network_boxes.argtypes = [c_void_p, c_int, c_int, c_float, c_float,
                                          POINTER(c_int), c_int, POINTER(c_int)]
        lib.get_network_boxes.restype = POINTER(DETECTION)
        lib.do_nms_sort.argtypes = [POINTER(DETECTION), c_int, c_int, c_float]
        lib.free_detections.argtypes = [POINTER(DETECTION), c_int]
        self.lib = lib
        self.names = names
        self.net = lib.load_network(str(cfg).encode(), str(weights).encode(), 0)
        # The same cfg cut after the first [yolo] section: its output is layer 16's.
        cfg_text = cfg.read_text()
        cut = cfg_text.index("[route]")
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
            handle.write(cfg_text[:cut])
            truncated = handle.name
        self.net13 = lib.load_network(truncated.encode(), str(weights).encode(), 0)
        os.unlink(truncated)

    def load(self, path: Path):
        return self.lib.load_image_color(str(path).encode(), 0, 0)

    @staticmethod
    def to_array(image) -> np.ndarray:
        return np.ctypeslib.as_array(image.data, shape=(image.c, image.h, image.w)).copy()

    def letterbox(self, image) -> np.ndarray:
        boxed = self.lib.letterbox_image(image, 416, 416)
        array = self.to_array(boxed)
        self.lib.free_image(boxed)
        return array

    def yolo_outputs(self, chw: np.ndarray) -> dict[str, np.ndarray]:
        """darknet's [yolo] layer outputs (logistic applied in place to x, y, obj, classes)."""
        from ctypes import POINTER, c_float
        data = np.ascontiguousarray(chw, dtype=np.float32)
        pointer = data.ctypes.data_as(POINTER(c_float))
        out16 = np.ctypeslib.as_array(self.lib.network_predict(self.net, pointer),
                                      shape=(255, 26, 26)).copy()
        out13 = np.ctypeslib.as_array(self.lib.network_predict(self.net13, pointer),
                                      shape=(255, 13, 13)).copy()
        return {"yolo_stride32": out13, "yolo_stride16": out16}

    def detect(self, image, thresh: float, hier: float, nms: float) -> list[dict]:
        """test_detector: network_predict_image (letterboxes), get_network_boxes(relative=1),
        do_nms_sort; every class whose probability passes is reported."""
        self.lib.network_predict_image(self.net, image)
        count = self.c_int(0)
        from ctypes import byref
        dets = self.lib.get_network_boxes(self.net, image.w, image.h, thresh, hier, None, 1,
                                          byref(count))
        self.lib.do_nms_sort(dets, count.value, len(self.names), nms)
        found = []
        for j in range(count.value):
            det = dets[j]
            for k in range(len(self.names)):
                probability = det.prob[k]
                if probability > 0:
                    b = det.bbox
                    corners = [(b.x - b.w / 2) * image.w, (b.y - b.h / 2) * image.h,
                               (b.x + b.w / 2) * image.w, (b.y + b.h / 2) * image.h]
                    # draw_detections: int() then clamp to [0, size - 1]
                    drawn = [min(max(int(v), 0), (image.w if i % 2 == 0 else image.h) - 1)
                             for i, v in enumerate(corners)]
                    found.append({"label": self.names[k], "class_id": k,
                                  "confidence": round(float(probability), 6),
                                  "objectness": round(float(det.objectness), 6),
                                  "box": rounded(corners, 3), "box_drawn": drawn})
        self.lib.free_detections(dets, count.value)
        found.sort(key=lambda d: (-d["confidence"], d["class_id"]))
        return found


def darknet_cli(cfg: Path, weights: Path, image: Path, thresh: float) -> list[str] | None:
    """`darknet detect ... -thresh T`: its printed 'label: NN%' lines. The program waits for a
    key in an (offscreen) window after printing, so it is stopped by a timeout."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as work:
        try:
            result = subprocess.run(
                ["timeout", "20", "stdbuf", "-o0", "darknet", "detect", str(cfg), str(weights),
                 str(image), "-thresh", str(thresh)],
                cwd=work, env=env, capture_output=True, text=True)
        except FileNotFoundError:
            return None
    return [line for line in result.stdout.splitlines() if re.fullmatch(r"[a-z ]+: \d+%", line)]


def darknet_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """darknet's resize_image (CHW float): separable bilinear, corner-aligned sampling
    x_src = x * (src_w - 1) / (dst_w - 1), the last column/row copied from the source."""
    channels, src_h, src_w = image.shape
    w_scale = np.float32(src_w - 1) / np.float32(width - 1)
    h_scale = np.float32(src_h - 1) / np.float32(height - 1)
    sx = np.arange(width, dtype=np.float32) * w_scale
    ix = sx.astype(np.int64)
    dx = sx - ix
    part = (1 - dx) * image[:, :, ix] + dx * image[:, :, np.minimum(ix + 1, src_w - 1)]
    part[:, :, width - 1] = image[:, :, src_w - 1]
    sy = np.arange(height, dtype=np.float32) * h_scale
    iy = sy.astype(np.int64)
    dy = (sy - iy)[:, None]
    lower = dy * part[:, np.minimum(iy + 1, src_h - 1), :]
    lower[:, height - 1, :] = 0
    return ((1 - dy) * part[:, iy, :] + lower).astype(np.float32)


def letterbox_geometry(src_w: int, src_h: int, size: int = 416) -> tuple[int, int, int, int]:
    """(new_w, new_h, x0, y0) as darknet's letterbox_image computes them (integer maths)."""
    if size / src_w < size / src_h:
        new_w, new_h = size, (src_h * size) // src_w
    else:
        new_w, new_h = (src_w * size) // src_h, size
    return new_w, new_h, (size - new_w) // 2, (size - new_h) // 2


def numpy_letterbox(image: np.ndarray, size: int = 416) -> np.ndarray:
    channels, src_h, src_w = image.shape
    new_w, new_h, x0, y0 = letterbox_geometry(src_w, src_h, size)
    boxed = np.full((channels, size, size), 0.5, dtype=np.float32)
    boxed[:, y0:y0 + new_h, x0:x0 + new_w] = darknet_resize(image, new_w, new_h)
    return boxed


def load_rgb_chw(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def activate_yolo(raw: np.ndarray) -> np.ndarray:
    """What darknet's [yolo] forward does to its input: logistic on x, y, obj and classes."""
    grid = raw.reshape(3, 85, *raw.shape[-2:]).copy()
    grid[:, 0:2] = sigmoid(grid[:, 0:2])
    grid[:, 4:] = sigmoid(grid[:, 4:])
    return grid.reshape(raw.shape)


def iou_cxcywh(a: np.ndarray, b: np.ndarray) -> float:
    left = max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    right = min(a[0] + a[2] / 2, b[0] + b[2] / 2)
    top = max(a[1] - a[3] / 2, b[1] - b[3] / 2)
    bottom = min(a[1] + a[3] / 2, b[1] + b[3] / 2)
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def numpy_yolo_detect(outputs: dict[str, np.ndarray], src_w: int, src_h: int, labels: list[str],
                      thresh: float, nms: float, size: int = 416) -> list[dict]:
    """Independent darknet-yolov3 decode + do_nms_sort semantics, in numpy."""
    new_w, new_h, _, _ = letterbox_geometry(src_w, src_h, size)
    boxes, scores, objectness = [], [], []
    for name, mask in YOLO_HEADS:
        raw = outputs[name][0].astype(np.float64)
        grid_h, grid_w = raw.shape[-2:]
        head = raw.reshape(3, 85, grid_h, grid_w)
        for a, anchor_index in enumerate(mask):
            anchor_w, anchor_h = YOLO_ANCHORS[anchor_index]
            obj = sigmoid(head[a, 4])
            for row, col in zip(*np.nonzero(obj > thresh)):
                x = (col + sigmoid(head[a, 0, row, col])) / grid_w
                y = (row + sigmoid(head[a, 1, row, col])) / grid_h
                w = np.exp(head[a, 2, row, col]) * anchor_w / size
                h = np.exp(head[a, 3, row, col]) * anchor_h / size
                # correct_yolo_boxes: undo the letterbox (darknet uses a float half offset)
                x = (x - (size - new_w) / 2.0 / size) / (new_w / size)
                y = (y - (size - new_h) / 2.0 / size) / (new_h / size)
                w *= size / new_w
                h *= size / new_h
                probabilities = obj[row, col] * sigmoid(head[a, 5:, row, col])
                boxes.append(np.array([x, y, w, h]))
                scores.append(np.where(probabilities > thresh, probabilities, 0.0))
                objectness.append(obj[row, col])
    scores = np.array(scores).reshape(len(boxes), len(labels))
    for k in range(len(labels)):
        order = sorted(range(len(boxes)), key=lambda i: -scores[i, k])
        for position, i in enumerate(order):
            if scores[i, k] == 0:
                continue
            for j in order[position + 1:]:
                if iou_cxcywh(boxes[i], boxes[j]) > nms:
                    scores[j, k] = 0
    found = []
    for i, box in enumerate(boxes):
        for k in np.nonzero(scores[i])[0]:
            x, y, w, h = box
            corners = [(x - w / 2) * src_w, (y - h / 2) * src_h,
                       (x + w / 2) * src_w, (y + h / 2) * src_h]
            found.append({"label": labels[k], "class_id": int(k),
                          "confidence": round(float(scores[i, k]), 6),
                          "objectness": round(float(objectness[i]), 6),
                          "box": rounded(corners, 3)})
    found.sort(key=lambda d: (-d["confidence"], d["class_id"]))
    return found


def match_detections(reference: list[dict], candidate: list[dict]) -> dict:
    """Pair detections by label and box; the largest confidence / box differences."""
    unmatched = list(candidate)
    worst_conf, worst_box = 0.0, 0.0
    for ref in reference:
        same = [c for c in unmatched if c["class_id"] == ref["class_id"]]
        if not same:
            return {"same": False, "reason": f"no {ref['label']} in candidate"}
        best = min(same, key=lambda c: np.abs(np.subtract(c["box"], ref["box"])).max())
        unmatched.remove(best)
        worst_conf = max(worst_conf, abs(best["confidence"] - ref["confidence"]))
        worst_box = max(worst_box, float(np.abs(np.subtract(best["box"], ref["box"])).max()))
    if unmatched:
        return {"same": False, "reason": f"extra {[c['label'] for c in unmatched]}"}
    return {"same": True, "max_confidence_diff": round(worst_conf, 7),
            "max_box_diff_px": round(worst_box, 4)}


def yolo_references() -> None:
    import onnxruntime as ort
    import yolov3_tiny
    from fetch_pinned import read_member, sha256_file

    out_dir = REFERENCE / "yolov3-tiny"
    model_path = ROOT / "models" / "yolov3-tiny" / "yolov3-tiny.onnx"
    copy_detect_media()
    labels = [l.strip() for l in read_member(yolov3_tiny.NAMES).decode().splitlines() if l.strip()]
    with tempfile.TemporaryDirectory() as work:
        cfg = Path(work) / "yolov3-tiny.cfg"
        weights = Path(work) / "yolov3-tiny.weights"
        cfg.write_bytes(read_member(yolov3_tiny.CFG))
        weights.write_bytes(read_member(yolov3_tiny.WEIGHTS))
        darknet = Darknet(cfg, weights, labels)
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])

        images = {}
        for name, path in YOLO_IMAGES.items():
            image = darknet.load(path)
            pixels = darknet.to_array(image)
            decoded = load_rgb_chw(path)
            boxed = darknet.letterbox(image)
            ours = numpy_letterbox(decoded)
            darknet_raw = darknet.yolo_outputs(boxed)
            onnx_on_darknet_input = dict(zip([o.name for o in session.get_outputs()],
                                             session.run(None, {"images": boxed[None]})))
            raw_diff = {k: float(np.abs(activate_yolo(onnx_on_darknet_input[k][0]) - darknet_raw[k]).max())
                        for k in darknet_raw}
            detections = darknet.detect(image, YOLO_THRESH, YOLO_HIER, YOLO_NMS)
            onnx_outputs = dict(zip([o.name for o in session.get_outputs()],
                                    session.run(None, {"images": ours[None]})))
            numpy_dets = numpy_yolo_detect(onnx_outputs, image.w, image.h, labels, YOLO_THRESH,
                                           YOLO_NMS)
            cli = darknet_cli(cfg, weights, path, YOLO_THRESH)
            cli_expected = sorted(f"{d['label']}: {d['confidence'] * 100:.0f}%" for d in detections)
            images[name] = {
                "source": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else
                              f"../shared/media/{path.name}"),
                "sha256": sha256_file(path),
                "width": image.w, "height": image.h,
                "detections": detections,
                "checks": {
                    "pil_decode_equals_darknet_decode_max_abs": float(np.abs(decoded - pixels).max()),
                    "numpy_letterbox_vs_darknet_letterbox_max_abs": float(np.abs(ours - boxed).max()),
                    "onnx_vs_darknet_yolo_layer_output_max_abs": raw_diff,
                    "onnx_numpy_pipeline_vs_darknet": match_detections(detections, numpy_dets),
                    "darknet_cli_lines": cli,
                    "darknet_cli_agrees": None if cli is None else sorted(cli) == cli_expected,
                },
            }
            darknet.lib.free_image(image)
            print(f"{name}: {[(d['label'], d['confidence']) for d in detections]}")
            print(f"   checks: {images[name]['checks']}")

    write_json(out_dir / "darknet-detections.json", {
        "description": "Detections of Debian's darknet (the original implementation) with the "
                       "same cfg + weights that models/yolov3-tiny/yolov3-tiny.onnx was made from.",
        "darknet": {
            "package": "darknet (Debian 12)",
            "version": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "darknet"],
                                      capture_output=True, text=True).stdout or None,
            "calls": "load_image_color, network_predict_image, get_network_boxes(thresh, hier, "
                     "map=NULL, relative=1), do_nms_sort(nms) - what `darknet detect cfg weights "
                     "image -thresh 0.3` does (its printed lines are recorded as a cross-check)",
            "thresh": YOLO_THRESH, "hier_thresh": YOLO_HIER, "nms": YOLO_NMS,
            "nms_kind": "do_nms_sort (per class, greedy, IoU > nms suppresses)",
            "letterbox": True,
            "letterbox_notes": "network_predict_image calls letterbox_image(im, 416, 416): verified "
                               "here, its output equals network_predict on letterbox_image's "
                               "output. Fill 0.5; darknet's corner-aligned bilinear resize.",
            "image_decoder": "OpenCV imread (this darknet is built with OpenCV); equal to "
                             "Pillow's decode for these files (see checks)",
        },
        "box_format": "box = [x_min, y_min, x_max, y_max] in pixels of the original image, "
                      "float, not clipped; box_drawn = darknet draw_detections' int, clipped "
                      "to [0, size-1]",
        "confidence": "objectness * class probability; objectness must also be > thresh",
        "images": images,
    })

    # Runtime reference tensors: dog.jpg letterboxed, quantised to uint8 (input = u8 / 255).
    boxed = numpy_letterbox(load_rgb_chw(YOLO_IMAGES["dog.jpg"]))
    quantised = np.clip(np.rint(boxed * 255.0), 0, 255).astype(np.uint8)[None]
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"images": quantised.astype(np.float32) / 255.0})
    out_names = [o.name for o in session.get_outputs()]
    spread = runtime_spread(model_path, {"images": quantised.astype(np.float32) / 255.0})
    write_json(out_dir / "runtime-reference.json", {
        "graph": "models/yolov3-tiny/yolov3-tiny.onnx",
        "graph_sha256": sha256_file(model_path),
        "inputs": {"images": save_npy(out_dir / "input-images-dog-letterbox.u8.npy", quantised)},
        "input_transform": {"images": "float32(u8) / 255"},
        "input_notes": "dog.jpg letterboxed to 416x416 as darknet does (fill 0.5), then rounded "
                       "to uint8 (so the grey fill is 128/255).",
        "outputs": {name: save_npy(out_dir / f"output-{name}.npy", value)
                    for name, value in zip(out_names, outputs)},
        "producer": "onnxruntime CPUExecutionProvider",
        "tolerance": {"atol": 2e-3, "rtol": 1e-3},
        "measured_spread": spread,
    })


def runtime_spread(model_path: Path, feeds: dict) -> dict:
    """Max abs difference between onnxruntime with all graph optimisations and with none:
    a measure of how much float32 summation order moves the outputs."""
    import onnxruntime as ort
    runs = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        runs.append(session.run(None, feeds))
    return {"optimised_vs_unoptimised_max_abs": max(float(np.abs(a - b).max())
                                                    for a, b in zip(*runs))}


# ---------------------------------------------------------------------------------------
# Text regions (DBNet, PP-OCRv4 det) - RapidOCR as the reference
# ---------------------------------------------------------------------------------------

def text_references() -> None:
    import cv2
    import onnxruntime as ort
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime import RapidOCR
    import dbnet
    from fetch_pinned import sha256_file

    out_dir = REFERENCE / "text"
    model_path = ROOT / "models" / "text" / "ch_PP-OCRv4_det_infer.onnx"
    installed = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    for path in (model_path, installed):
        if sha256_file(path) != dbnet.DET_MODEL.sha256:
            raise ValueError(f"{path} is not the pinned det model")
    page = MEDIA / "page.png"
    engine = RapidOCR()
    image = engine.load_img(str(page))                  # BGR, grey expanded to 3 channels
    height, width = image.shape[:2]

    detector = engine.text_det
    preprocess = detector.get_preprocess(max(height, width))
    tensor = preprocess(image)
    probability = detector.infer(tensor)[0]
    boxes, scores = detector.postprocess_op(probability, (height, width))
    regions = []
    for box, score in zip(boxes, scores):
        box = detector.order_points_clockwise(box)
        box = detector.clip_det_res(box, height, width)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        regions.append({"confidence": round(float(score), 6),
                        "polygon": [[int(x), int(y)] for x, y in box]})
    official, _ = detector(image)
    same = len(official) == len(regions) and all(
        np.array_equal(np.asarray(o, dtype=np.int64), np.asarray(r["polygon"])) for o, r in zip(official, regions))
    if not same:
        raise AssertionError("re-running TextDetector step by step did not give its own boxes")
    full, _ = engine(str(page))
    write_json(out_dir / "rapidocr-page.json", {
        "description": "RapidOCR's own text detection (TextDetector: DetPreProcess, onnxruntime, "
                       "DBPostProcess, filter_tag_det_res) on page.png, with the box scores that "
                       "DBPostProcess computes.",
        "image": {"source": "../shared/media/page.png", "sha256": sha256_file(page),
                  "width": width, "height": height},
        "rapidocr": {"package": "rapidocr-onnxruntime", "version": "1.4.4",
                     "config": dbnet.DET_CONFIG},
        "network_input_shape": list(tensor.shape),
        "probability_fraction_above_binarize": round(float((probability > 0.3).mean()), 6),
        "polygon_format": "4 points [x, y] in pixels of the original image, clockwise from "
                          "top-left, integers (RapidOCR rounds and clips them)",
        "regions": regions,
        "regions_order": "DBPostProcess order (cv2.findContours order)",
        "full_pipeline": [{"polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in box],
                           "text": text, "recognition_score": round(float(score), 4)}
                          for box, text, score in (full or [])],
        "full_pipeline_notes": "RapidOCR() end to end (det + cls + rec) for orientation: "
                               "boxes sorted top-to-bottom, only those whose text passed "
                               "text_score 0.5.",
    })
    print(f"page.png: {len(regions)} regions, input {list(tensor.shape)}")

    # Runtime reference tensors: page.png as BGR, cv2.resize (INTER_LINEAR) to 320 x 160.
    small = cv2.resize(image, (320, 160))
    quantised = small.transpose(2, 0, 1)[None].astype(np.uint8)
    feeds = {"x": (quantised.astype(np.float32) / 255.0 - 0.5) / 0.5}
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    write_json(out_dir / "runtime-reference.json", {
        "graph": "models/text/ch_PP-OCRv4_det_infer.onnx",
        "graph_sha256": sha256_file(model_path),
        "inputs": {"x": save_npy(out_dir / "input-x-page-bgr-160x320.u8.npy", quantised)},
        "input_transform": {"x": "(float32(u8) / 255 - 0.5) / 0.5"},
        "input_notes": "page.png (grey) as 3-channel BGR, cv2.resize INTER_LINEAR to 320x160.",
        "outputs": {o.name: save_npy(out_dir / "output-probability-160x320.npy", v)
                    for o, v in zip(session.get_outputs(), outputs)},
        "producer": "onnxruntime CPUExecutionProvider",
        "tolerance": {"atol": 1e-3, "rtol": 1e-3},
        "measured_spread": runtime_spread(model_path, feeds),
    })


# ---------------------------------------------------------------------------------------
# Person (MediaPipe selfie segmentation) - MediaPipe's own graph as the reference
# ---------------------------------------------------------------------------------------

PERSON_SIZE = 256
PERSON_THRESHOLD = 0.5


def bilinear_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel bilinear resize of an H x W (x C) float array, edges clamped, no
    antialiasing (what cv2.resize INTER_LINEAR and ONNX Resize half_pixel compute)."""
    in_h, in_w = image.shape[:2]

    def axis(out_size: int, in_size: int):
        source = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
        source = np.clip(source, 0, in_size - 1)
        low = np.floor(source).astype(np.int64)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, source - low

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    data = image.astype(np.float64)
    if data.ndim == 2:
        data = data[:, :, None]
    fx = fx[None, :, None]
    top = data[y0][:, x0] * (1 - fx) + data[y0][:, x1] * fx
    bottom = data[y1][:, x0] * (1 - fx) + data[y1][:, x1] * fx
    out = top * (1 - fy[:, None, None]) + bottom * fy[:, None, None]
    return out.reshape(out_h, out_w, *image.shape[2:]).astype(np.float32)


def person_pipeline(session, rgb_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent numpy pre/post-processing around the ONNX model: (probability at the
    original size, mask uint8 0/255)."""
    height, width = rgb_u8.shape[:2]
    tensor = bilinear_resize(rgb_u8.astype(np.float32) / 255.0, PERSON_SIZE, PERSON_SIZE)
    (output,) = session.run(None, {"input_1": tensor[None]})
    probability = bilinear_resize(output[0, :, :, 0], height, width)
    return probability, np.where(probability > PERSON_THRESHOLD, 255, 0).astype(np.uint8)


def person_references() -> None:
    import mediapipe as mp
    import onnxruntime as ort
    from PIL import Image
    import selfie
    from fetch_pinned import sha256_file

    out_dir = REFERENCE / "person"
    model_path = ROOT / "models" / "person" / "selfie.onnx"
    installed = Path(mp.__file__).parent / "modules" / "selfie_segmentation" / "selfie_segmentation.tflite"
    if sha256_file(installed) != selfie.SELFIE.sha256:
        raise ValueError(f"{installed} is not the pinned selfie model")
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def load(name: str) -> np.ndarray:
        with Image.open(MEDIA / name) as image:
            return np.asarray(image.convert("RGB"))

    # 1. Raw model: MediaPipe's graph (TFLite + its custom op resolver, XNNPACK) fed a
    #    256x256 image is the model output itself (identity ImageToTensor and mask resize).
    raw_checks = {}
    for name in ("astronaut.png", "person.jpg", "grace_hopper.jpg", "coffee.png"):
        small = np.asarray(Image.fromarray(load(name)).resize((PERSON_SIZE, PERSON_SIZE),
                                                                Image.BILINEAR))
        reference = segmenter.process(small).segmentation_mask
        (ours,) = session.run(None, {"input_1": (small.astype(np.float32) / 255.0)[None]})
        ours = ours[0, :, :, 0]
        raw_checks[name] = {
            "max_abs_diff": float(np.abs(reference - ours).max()),
            "mean_abs_diff": float(np.abs(reference - ours).mean()),
            "mask_pixels_differing_at_0.5": int(((reference > 0.5) != (ours > 0.5)).sum()),
            "onnx_fraction_above_0.5": round(float((ours > 0.5).mean()), 6),
        }
        print(f"{name}: raw model vs MediaPipe {raw_checks[name]}")

    # 2. End to end on astronaut.png: our numpy pipeline vs MediaPipe's own (its resize
    #    differs in detail, so this is a closeness check, not an equality).
    astronaut = load("astronaut.png")
    probability, mask = person_pipeline(session, astronaut)
    mediapipe_probability = segmenter.process(astronaut).segmentation_mask
    mediapipe_mask = mediapipe_probability > PERSON_THRESHOLD
    ours_mask = mask > 0
    iou = float((ours_mask & mediapipe_mask).sum() / max(1, (ours_mask | mediapipe_mask).sum()))
    near = int((np.abs(probability - PERSON_THRESHOLD) < 1e-3).sum())
    mask_path = out_dir / "astronaut-mask.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, mode="L").save(mask_path, optimize=True)
    print(f"wrote {mask_path.relative_to(ROOT)}")
    fraction = float(ours_mask.mean())
    write_json(out_dir / "astronaut-mask.json", {
        "description": "Person mask for astronaut.png from models/person/selfie.onnx "
                       "(onnxruntime) with an independent numpy pre/post-processing.",
        "image": {"source": "../shared/media/astronaut.png",
                  "sha256": sha256_file(MEDIA / "astronaut.png"),
                  "width": int(astronaut.shape[1]), "height": int(astronaut.shape[0])},
        "pipeline": "RGB u8 / 255 -> half-pixel bilinear resize (no antialias, edges clamped) "
                    "to 256x256 -> model -> probability map half-pixel bilinear resized to the "
                    "original size -> 255 where probability > 0.5 else 0",
        "mask": mask_path.name,
        "label": "person",
        "pixel_fraction": round(fraction, 6),
        "pixels_within_1e-3_of_threshold": near,
        "mediapipe_end_to_end": {
            "pixel_fraction": round(float(mediapipe_mask.mean()), 6),
            "iou_with_this_mask": round(iou, 6),
            "mean_abs_probability_diff": round(float(np.abs(mediapipe_probability - probability).mean()), 6),
            "notes": "mediapipe.solutions.selfie_segmentation (model_selection=0) on the full "
                     "image; its ImageToTensorCalculator and mask resize differ in detail from "
                     "the pipeline above.",
        },
        "raw_model_vs_mediapipe": raw_checks,
        "raw_model_vs_mediapipe_notes": "256x256 inputs (Pillow bilinear resize, u8), MediaPipe "
                                        "graph (TFLite interpreter with MediaPipe's custom op "
                                        "resolver, XNNPACK) vs onnxruntime on the ONNX model.",
    })
    print(f"astronaut.png: pixel_fraction {fraction:.4f}, IoU with MediaPipe {iou:.4f}")

    # 3. Runtime reference tensors: astronaut.png at 256x256 (numpy bilinear, rounded to u8).
    small = np.clip(np.rint(bilinear_resize(astronaut.astype(np.float32), PERSON_SIZE, PERSON_SIZE)),
                    0, 255).astype(np.uint8)[None]
    feeds = {"input_1": small.astype(np.float32) / 255.0}
    outputs = session.run(None, feeds)
    write_json(out_dir / "runtime-reference.json", {
        "graph": "models/person/selfie.onnx",
        "graph_sha256": sha256_file(model_path),
        "inputs": {"input_1": save_npy(out_dir / "input-input_1-astronaut-256.u8.npy", small)},
        "input_transform": {"input_1": "float32(u8) / 255"},
        "input_notes": "astronaut.png RGB, half-pixel bilinear resized to 256x256 and rounded "
                       "to uint8, NHWC.",
        "outputs": {o.name: save_npy(out_dir / f"output-{o.name}.npy", v)
                    for o, v in zip(session.get_outputs(), outputs)},
        "producer": "onnxruntime CPUExecutionProvider",
        "tolerance": {"atol": 5e-4, "rtol": 1e-3},
        "measured_spread": runtime_spread(model_path, feeds),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["yolo", "text", "person"])
    args = parser.parse_args()
    {"yolo": yolo_references, "text": text_references,
     "person": person_references}[args.what]()


if __name__ == "__main__":
    main()
