"""Helpers shared by the model conversion and reference scripts.

Only the standard library and numpy are imported at module level, so every
environment (.venv-convert, .venv-age) can use it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"
FIXTURE_MEDIA = REPO_ROOT / "Tests" / "Fixtures" / "media"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_sha256(path: Path, expected: str) -> str:
    observed = sha256_of(path)
    if observed != expected:
        raise SystemExit(f"{path}: sha256 {observed} differs from the pinned {expected}")
    return observed


def require_version(distribution: str, expected: str) -> None:
    found = importlib.metadata.version(distribution)
    if found != expected:
        raise SystemExit(
            f"{distribution} {found} is installed, this script is pinned to {expected}; "
            "run models/convert/make-venvs.sh"
        )


def package_file(distribution: str, relative: str) -> Path:
    """Path of a file shipped inside an installed distribution."""
    for entry in importlib.metadata.files(distribution) or []:
        if str(entry) == relative:
            return Path(entry.locate())
    raise SystemExit(f"{distribution} does not ship {relative}")


def graph_ops(path: Path) -> dict:
    """Operator types (sorted, with counts) and opset of an ONNX file."""
    import onnx

    model = onnx.load(str(path))
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    return {
        "ops": dict(sorted(counts.items())),
        "opset": opsets,
        "ir_version": model.ir_version,
        "inputs": [_value_info(v) for v in model.graph.input],
        "outputs": [_value_info(v) for v in model.graph.output],
    }


def _value_info(value) -> dict:
    dims = []
    for dim in value.type.tensor_type.shape.dim:
        dims.append(dim.dim_param if dim.dim_param else dim.dim_value)
    return {"name": value.name, "shape": dims}


def write_json(path: Path, payload, compact_lists: bool = True) -> None:
    """JSON with 2-space indent; innermost numeric lists stay on one line."""
    text = json.dumps(payload, indent=2)
    if compact_lists:
        text = _compact_numeric_lists(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def _compact_numeric_lists(text: str) -> str:
    import re

    pattern = re.compile(r"\[\s*((?:-?[0-9.eE+-]+|null|true|false|\"[^\"\n]*\")(?:,\s*(?:-?[0-9.eE+-]+|null|true|false|\"[^\"\n]*\"))*)\s*\]")
    return pattern.sub(lambda m: "[" + ", ".join(p.strip() for p in m.group(1).split(",")) + "]", text)


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image to H x W x 3 uint8 RGB with PIL, as Seer's decoders must."""
    from PIL import Image

    with Image.open(path) as image:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def rgb_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area (adaptive average pool) resize of an H x W x C float array.

    Same cell boundaries as torch.nn.functional.interpolate(mode="area"), which is
    adaptive_avg_pool2d: output cell i covers rows floor(i*H/h) ..< ceil((i+1)*H/h).
    """
    source = np.asarray(image, dtype=np.float64)
    rows = _pool_matrix(source.shape[0], height)
    cols = _pool_matrix(source.shape[1], width)
    pooled_rows = np.tensordot(rows, source, axes=(1, 0))  # target_h x W x C
    return np.einsum("iwc,jw->ijc", pooled_rows, cols, optimize=True)


def _pool_matrix(source: int, target: int) -> np.ndarray:
    matrix = np.zeros((target, source))
    for i in range(target):
        start = (i * source) // target
        end = -((-(i + 1) * source) // target)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection)
    mapping source points to target points (Umeyama). Returns a 2x3 matrix A with
    target ~= A[:, :2] @ source + A[:, 2]."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / (src_c ** 2).sum(axis=1).mean()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def warp_bilinear(image: np.ndarray, chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """Sample a size x size uint8 chip: chip pixel (x, y) (integer coordinates = pixel
    centres) reads the image at chip_to_image @ (x, y, 1) with bilinear interpolation.
    As in dlib's interpolate_bilinear, a sample whose 2x2 neighbourhood is not fully
    inside the image is 0, and values are truncated to uint8 (not rounded)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = chip_to_image[0, 0] * xs + chip_to_image[0, 1] * ys + chip_to_image[0, 2]
    py = chip_to_image[1, 0] * xs + chip_to_image[1, 1] * ys + chip_to_image[1, 2]
    left, top = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    height, width = image.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 <= width - 1) & (top + 1 <= height - 1)
    left_c, top_c = np.clip(left, 0, width - 2), np.clip(top, 0, height - 2)
    fx, fy = (px - left)[..., None], (py - top)[..., None]
    src = np.asarray(image, dtype=np.float64)
    value = ((1 - fy) * ((1 - fx) * src[top_c, left_c] + fx * src[top_c, left_c + 1])
             + fy * ((1 - fx) * src[top_c + 1, left_c] + fx * src[top_c + 1, left_c + 1]))
    chip = np.floor(value).clip(0, 255).astype(np.uint8)
    chip[~inside] = 0
    return chip


def halve_box(image: np.ndarray) -> np.ndarray:
    """2x2 mean (float, no rounding) over floor(H/2) x floor(W/2); an odd last row or
    column is dropped. Level pixel (i, j) sits at (2i + 0.5, 2j + 0.5) of the input."""
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    a = np.asarray(image, dtype=np.float64)[:height, :width]
    return (a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2]) / 4.0


def align_face(image: np.ndarray, landmarks, template, size: int, prefilter: str = "box_pyramid") -> np.ndarray:
    """An aligned size x size uint8 RGB face chip.

    template: 5 x 2 chip pixel coordinates for this chip size; landmarks: 5 x 2 image
    points. chip_to_image = least-squares similarity template -> landmarks. With
    prefilter "box_pyramid", while the map's scale (image pixels per chip pixel) is > 2
    the image is halved with halve_box and the map rewritten for that level
    (A /= 2, b = (b - 0.5) / 2), then bilinear sampling (warp_bilinear) as with "none".
    The pyramid stands in for dlib's own pyramid in extract_image_chip: without it,
    faces larger than ~2x the chip alias and the age net's answer moves by years."""
    chip_to_image = similarity_transform(template, landmarks)
    level = np.asarray(image)
    if prefilter == "box_pyramid":
        scale = float(np.sqrt(abs(np.linalg.det(chip_to_image[:, :2]))))
        while scale > 2.0 and min(level.shape[:2]) >= 4:
            level = halve_box(level)
            chip_to_image = np.concatenate([chip_to_image[:, :2] / 2.0, (chip_to_image[:, 2:] - 0.5) / 2.0], axis=1)
            scale /= 2.0
    elif prefilter != "none":
        raise ValueError(f"unknown prefilter {prefilter!r}")
    return warp_bilinear(level, chip_to_image, size)
