#!/usr/bin/env python3
"""onnxruntime reference outputs for Seer's runtime tests, one fixed real input per case.

    .venv-age/bin/python scripts/make-runtime-references.py [MODEL ...]

(any Python with numpy, Pillow and onnxruntime==1.23.2 will do; .venv-convert and
.venv-age of models/convert/make-venvs.sh both qualify). With no MODEL it rebuilds every
model in CASES. For each model it writes, under Tests/Fixtures/reference/<model>/runtime/,
the inputs and outputs as .npy (float32, C order) and
Tests/Fixtures/reference/<model>/runtime.json:

    {"onnxruntime": "1.23.2", "cases": [
        {"name": ..., "graph": "pnet", "model_file": "models/mtcnn/pnet.onnx",
         "inputs": {"input": "runtime/pnet_input.npy"},
         "outputs": {"regression": "runtime/pnet_regression.npy", ...},
         "tolerance": {"atol": 1e-4, "rtol": 1e-3}, "about": "..."}]}

Paths inside a case are relative to the JSON's folder, except model_file (repository
root). To add a model: write a function returning a list of Case and register it in
CASES under the model's folder name in models/.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "models" / "convert"))
from common import SHARED_MEDIA, align_face, area_resize, load_rgb, write_json  # noqa: E402

ONNXRUNTIME_VERSION = "1.23.2"
REFERENCE = REPO / "Tests" / "Fixtures" / "reference"
DEFAULT_TOLERANCE = {"atol": 1e-4, "rtol": 1e-3}
LANDMARKS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]


@dataclass
class Case:
    name: str
    graph: str
    inputs: dict[str, np.ndarray]
    about: str
    tolerance: dict = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))


def model_manifest(model: str) -> dict:
    return json.loads((REPO / "models" / model / "manifest.json").read_text())


# ----------------------------------------------------------------------------- mtcnn

# Square boxes (x1, y1, x2, y2) on real photos: faces, parts of faces and background.
MTCNN_CROPS = [
    ("grace_hopper.jpg", (174, 130, 356, 312)),
    ("grace_hopper.jpg", (150, 100, 390, 340)),
    ("astronaut.png", (178, 70, 270, 162)),
    ("astronaut.png", (200, 40, 300, 140)),
    ("coffee.png", (200, 100, 400, 300)),
    ("rocket.jpg", (280, 150, 360, 230)),
    ("person.jpg", (180, 60, 260, 140)),
    ("chelsea.png", (120, 40, 280, 200)),
]


def mtcnn_normalise(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 (or N x H x W x 3) RGB values -> NCHW float32 (x - 127.5) * 0.0078125."""
    values = np.asarray(pixels, dtype=np.float32)
    if values.ndim == 3:
        values = values[None]
    return np.ascontiguousarray(((values - np.float32(127.5)) * np.float32(0.0078125)).transpose(0, 3, 1, 2))


def mtcnn_crops(size: int) -> np.ndarray:
    crops = []
    for name, (x1, y1, x2, y2) in MTCNN_CROPS:
        rgb = load_rgb(SHARED_MEDIA / name)
        crops.append(area_resize(rgb[y1:y2, x1:x2], size, size))
    return mtcnn_normalise(np.stack(crops))


def mtcnn_cases() -> list[Case]:
    grace = load_rgb(SHARED_MEDIA / "grace_hopper.jpg")
    # 149 x 127: odd sizes so both MaxPool ceil_mode roundings are exercised.
    pnet_input = mtcnn_normalise(area_resize(grace, 149, 127))
    return [
        Case("pnet_grace_hopper_149x127", "pnet", {"input": pnet_input},
             "grace_hopper.jpg area-resized to 149x127 (a pyramid level), (x - 127.5) * 0.0078125"),
        Case("rnet_crops_24", "rnet", {"input": mtcnn_crops(24)},
             f"{len(MTCNN_CROPS)} square crops of real photos (faces and background) area-resized to 24x24"),
        Case("onet_crops_48", "onet", {"input": mtcnn_crops(48)},
             f"the same {len(MTCNN_CROPS)} crops area-resized to 48x48"),
    ]


# ----------------------------------------------------------------------------- age

def age_cases() -> list[Case]:
    """Chips aligned from the MTCNN reference landmarks with the manifest's template."""
    manifest = model_manifest("age")
    preprocessing = manifest["preprocessing"]
    points = preprocessing["alignment_template"]["points"]
    template64 = np.array([points[key] for key in LANDMARKS])
    mean = np.asarray(preprocessing["mean"], dtype=np.float32)
    faces = json.loads((REFERENCE / "mtcnn" / "faces.json").read_text())
    chosen = []
    for entry in faces["images"]:
        if entry["faces"] and Path(entry["image"]).name in ("grace_hopper.jpg", "astronaut.png"):
            chosen.append((entry["image"], entry["faces"][0]))
    cases = []
    for role in ("age", "gender"):
        size = manifest["inputs"][role]["shape"][2]
        chips = []
        for image, face in chosen:
            rgb = load_rgb((REPO / image).resolve())
            landmarks = np.array([face["landmarks"][key] for key in LANDMARKS])
            chips.append(align_face(rgb, landmarks, template64 * (size - 1) / 63.0, size))
        values = np.stack(chips).astype(np.float32)
        values -= mean
        values /= np.float32(256.0)
        tensor = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
        cases.append(Case(f"{role}_aligned_faces", role, {manifest["inputs"][role]["name"]: tensor},
                          f"{size}x{size} chips of " + ", ".join(Path(i).name for i, _ in chosen)
                          + " aligned from MTCNN landmarks with the manifest template (box pyramid), "
                          "(byte - mean) / 256"))
    return cases


CASES = {"mtcnn": mtcnn_cases, "age": age_cases}


# ----------------------------------------------------------------------------- driver

def run_model(model: str) -> None:
    import onnxruntime as ort

    manifest = model_manifest(model)
    folder = REFERENCE / model
    out_dir = folder / "runtime"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    entries = []
    for case in CASES[model]():
        model_file = REPO / "models" / model / manifest["graphs"][case.graph]
        session = ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, case.inputs)
        files = {"inputs": {}, "outputs": {}}
        for kind, tensors in (("inputs", case.inputs), ("outputs", dict(zip(names, results)))):
            for name, tensor in tensors.items():
                relative = f"runtime/{case.name}_{name}.npy"
                np.save(folder / relative, np.ascontiguousarray(tensor, dtype=np.float32))
                files[kind][name] = relative
        entries.append({"name": case.name, "graph": case.graph,
                        "model_file": str(model_file.relative_to(REPO)),
                        "inputs": files["inputs"], "outputs": files["outputs"],
                        "shapes": {name: list(t.shape) for name, t in {**case.inputs, **dict(zip(names, results))}.items()},
                        "tolerance": case.tolerance, "about": case.about})
        print(f"{model}/{case.graph} {case.name}: " + ", ".join(
            f"{n} {list(t.shape)}" for n, t in {**case.inputs, **dict(zip(names, results))}.items()))
    write_json(folder / "runtime.json", {
        "generator": "scripts/make-runtime-references.py",
        "onnxruntime": ort.__version__,
        "tolerance_meaning": "|seer - onnxruntime| <= atol + rtol * |onnxruntime| elementwise",
        "cases": entries,
    })
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"{model}: {len(entries)} cases, {total / 1024:.0f} KiB of .npy")


def main() -> None:
    import onnxruntime

    if onnxruntime.__version__ != ONNXRUNTIME_VERSION:
        raise SystemExit(f"onnxruntime {onnxruntime.__version__} found, pinned {ONNXRUNTIME_VERSION}")
    models = sys.argv[1:] or list(CASES)
    for model in models:
        if model not in CASES:
            raise SystemExit(f"no runtime cases for {model!r}; known: {', '.join(CASES)}")
        run_model(model)


if __name__ == "__main__":
    main()
