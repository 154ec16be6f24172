#!/usr/bin/env bash
# Rebuild Seer's detection/segmentation models and their reference fixtures from the
# pinned packages:
#   models/yolov3-tiny, models/text, models/person              (converters in models/convert)
#   Tests/Fixtures/reference/{yolov3-tiny,text,person}          (scripts/make-detection-references.py)
#   Tests/Fixtures/models/{yolov5,yolov8}-random + references   (scripts/make-yolo-export-models.py)
#
# Needs: python3 (3.11) with venv + pip reaching PyPI, and Debian's `darknet` package for
# the yolov3-tiny reference (installed here with apt-get when missing and running as root).
# Venvs are made in the repo root as .venv-detect, .venv-selfie, .venv-ocr (git-ignored).
# Downloads are cached in $SEER_MODEL_CACHE (default /tmp/seer-model-cache).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

make_venv() {  # name
    local venv=".venv-$1" requirements="models/convert/requirements-$1.txt"
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
}

if ! command -v darknet >/dev/null 2>&1 || [ ! -e /usr/lib/darknet/libdarknet.so ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q && apt-get install -y -q darknet
    else
        echo "Debian package darknet is needed for the yolov3-tiny reference (apt-get install darknet)" >&2
        exit 1
    fi
fi

make_venv detect
make_venv selfie
make_venv ocr

.venv-detect/bin/python models/convert/yolov3_tiny.py
.venv-detect/bin/python models/convert/dbnet.py
.venv-selfie/bin/python models/convert/selfie.py

.venv-detect/bin/python scripts/make-detection-references.py yolo
.venv-ocr/bin/python scripts/make-detection-references.py text
.venv-selfie/bin/python scripts/make-detection-references.py person
.venv-detect/bin/python scripts/make-yolo-export-models.py

sha256sum models/yolov3-tiny/*.onnx models/text/*.onnx models/person/*.onnx \
    Tests/Fixtures/models/*/*.onnx
