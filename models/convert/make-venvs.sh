#!/bin/sh
# Creates the two Python environments the face/age conversion and reference scripts use,
# at the repository root: .venv-convert (Debian python + Debian torch) and .venv-age.
# Needs: apt-get install python3-venv python3-torch python3-torchvision python3-pil python3-requests
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
debian_python=${DEBIAN_PYTHON:-/usr/bin/python3}
age_python=${AGE_PYTHON:-python3}

if [ ! -x .venv-convert/bin/python ]; then
    "$debian_python" -m venv --system-site-packages .venv-convert
fi
.venv-convert/bin/python -c "import torch, torchvision, PIL, numpy" || {
    echo "Debian's torch/torchvision/PIL/numpy are not visible; apt-get install python3-torch python3-torchvision python3-pil" >&2
    exit 1
}
.venv-convert/bin/pip install --quiet -r models/convert/requirements-convert.txt
.venv-convert/bin/pip install --quiet --no-deps facenet-pytorch==2.6.0

if [ ! -x .venv-age/bin/python ]; then
    "$age_python" -m venv .venv-age
fi
.venv-age/bin/pip install --quiet -r models/convert/requirements-age.txt
echo "ready: .venv-convert ($(.venv-convert/bin/python -c 'import torch; print("torch", torch.__version__)')), .venv-age"
