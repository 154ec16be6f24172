#!/usr/bin/env python3
"""Remakes the Media test fixtures and reference.json (see README.md).

Run from this folder:  python3 tools/make_fixtures.py [SHARED_MEDIA_DIR]
Needs Pillow and numpy (pip install pillow numpy) and a C compiler with libjpeg-dev
(for the YCCK fixture). Reference values come from Pillow's decoder.
"""
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(OUT, "..", "..", "..", "..", "shared", "media")
SHARED = os.path.abspath(SHARED)
rng = np.random.default_rng(20261126)


def path(name):
    return os.path.join(OUT, name)


def save_bytes(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- source photos
def upright_photo(width, height):
    """A landscape crop of grace_hopper.jpg, resized."""
    im = Image.open(os.path.join(SHARED, "grace_hopper.jpg")).convert("RGB")
    w, h = im.size
    crop_h = int(w * height / width)
    top = (h - crop_h) // 3
    return im.crop((0, top, w, top + crop_h)).resize((width, height), Image.LANCZOS)


def chelsea(width, height):
    return Image.open(os.path.join(SHARED, "chelsea.png")).convert("RGB").resize((width, height), Image.LANCZOS)


# ---------------------------------------------------------------- EXIF orientation JPEGs
def tiff_with_orientation(orientation, big_endian):
    """A TIFF block: IFD0 with Make (ASCII, out of line), Orientation (SHORT), Software (inline)."""
    e = ">" if big_endian else "<"
    entries = 3
    ifd_offset = 8
    data_offset = ifd_offset + 2 + entries * 12 + 4
    make = b"Seer\x00"
    out = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, ifd_offset)
    out += struct.pack(e + "H", entries)
    out += struct.pack(e + "HHII", 0x010F, 2, len(make), data_offset)
    out += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    out += struct.pack(e + "HHI", 0x0131, 2, 4) + b"PIL\x00"
    out += struct.pack(e + "I", 0)
    return out + make


# What exif_transpose applies for each orientation, and its inverse (to make the stored pixels).
INVERSE = {
    1: None,
    2: Image.FLIP_LEFT_RIGHT,
    3: Image.ROTATE_180,
    4: Image.FLIP_TOP_BOTTOM,
    5: Image.TRANSPOSE,
    6: Image.ROTATE_90,
    7: Image.TRANSVERSE,
    8: Image.ROTATE_270,
}


def make_orientation_jpegs():
    upright = upright_photo(96, 64)
    for orientation, inverse in INVERSE.items():
        stored = upright if inverse is None else upright.transpose(inverse)
        exif = b"Exif\x00\x00" + tiff_with_orientation(orientation, big_endian=orientation % 2 == 0)
        stored.save(path(f"orientation_{orientation}.jpg"), quality=95, exif=exif)


# ---------------------------------------------------------------- other JPEGs
def cmyk_array(rgb):
    """RGB -> CMYK with a real K channel (PIL's own conversion always has K = 0)."""
    x = np.asarray(rgb, dtype=np.float64) / 255.0
    k = 1.0 - x.max(axis=2)
    denominator = np.where(k < 1.0, 1.0 - k, 1.0)
    cmy = (1.0 - x - k[..., None]) / denominator[..., None]
    cmyk = np.concatenate([cmy, k[..., None]], axis=2)
    return np.clip(np.rint(cmyk * 255.0), 0, 255).astype(np.uint8)


def make_jpegs():
    photo = upright_photo(80, 56)
    photo.convert("L").save(path("gray.jpg"), quality=92)
    photo.save(path("progressive.jpg"), quality=90, progressive=True)
    cmyk = cmyk_array(photo)
    # Pillow writes CMYK JPEGs with an Adobe marker and inverted samples.
    Image.fromarray(cmyk, "CMYK").save(path("cmyk.jpg"), quality=95)
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, "make_ycck")
        raw = os.path.join(tmp, "in.cmyk")
        cmyk.tofile(raw)
        subprocess.run(["cc", "-O2", "-o", tool, os.path.join(HERE, "make_ycck.c"), "-ljpeg"], check=True)
        subprocess.run([tool, str(photo.width), str(photo.height), raw, path("ycck.jpg")], check=True)

    # A real photo, cut after 60% of its bytes.
    buffer = io.BytesIO()
    Image.open(os.path.join(SHARED, "dog.jpg")).convert("RGB").resize((160, 120), Image.LANCZOS).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    save_bytes("truncated.jpg", data[: int(len(data) * 0.6)])

    # The header of a small baseline JPEG patched to claim 30000 x 30000.
    data = bytearray(open(path("orientation_1.jpg"), "rb").read())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    save_bytes("huge_header.jpg", bytes(data))


# ---------------------------------------------------------------- PNGs
def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_file(width, height, bit_depth, color_type, idat, interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(idat, 9)) + chunk(b"IEND", b"")


def scanlines(array):
    """Filter type 0 rows of a (h, w, c) big-endian sample array."""
    return b"".join(b"\x00" + row.tobytes() for row in array)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_pngs():
    photo = chelsea(64, 43)
    photo.quantize(colors=32).save(path("palette.png"))
    palette = photo.quantize(colors=16)
    palette.save(path("palette_trns.png"), transparency=0)
    photo.convert("L").save(path("gray.png"))
    photo.convert("L").convert("1").save(path("gray1.png"))

    rgb = np.asarray(photo)
    alpha = np.tile(np.linspace(0, 255, photo.width).astype(np.uint8), (photo.height, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path("rgba.png"))
    gray = np.asarray(photo.convert("L"))
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(path("gray_alpha.png"))

    # 16-bit samples: the high byte is the photo, the low byte noise (decoders keep the high byte).
    high = rgb.astype(np.uint16)
    rgb16 = (high << 8) | rng.integers(0, 256, size=high.shape, dtype=np.uint16)
    save_bytes("rgb16.png", png_file(photo.width, photo.height, 16, 2, scanlines(rgb16.astype(">u2"))))
    gray16 = (gray.astype(np.uint16) << 8) | rng.integers(0, 256, size=gray.shape, dtype=np.uint16)
    save_bytes("gray16.png", png_file(photo.width, photo.height, 16, 0, scanlines(gray16[..., None].astype(">u2"))))

    # Adam7 interlaced RGB.
    passes = b""
    for x0, y0, dx, dy in ADAM7:
        sub = rgb[y0::dy, x0::dx]
        if sub.size:
            passes += scanlines(sub)
    save_bytes("interlaced.png", png_file(photo.width, photo.height, 8, 2, passes, interlace=1))

    # A header claiming 30000 x 30000 RGB, followed by a few bytes of image data.
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1000), 9)
    save_bytes("huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))

    # A real PNG cut inside its image data, and one with a broken IHDR checksum.
    buffer = io.BytesIO()
    chelsea(96, 64).save(buffer, format="PNG")
    data = buffer.getvalue()
    save_bytes("truncated.png", data[: int(len(data) * 0.6)])
    broken = bytearray(data)
    broken[29] ^= 0xFF  # last byte of IHDR's CRC
    save_bytes("bad_crc.png", bytes(broken))


# ---------------------------------------------------------------- unsupported and not images
def make_others():
    photo = chelsea(32, 24)
    photo.save(path("sample.gif"))
    photo.save(path("sample.webp"), quality=80)
    save_bytes("random.bin", random.Random(1234).randbytes(1024))


# ---------------------------------------------------------------- reference values
def fnv1a64(data):
    """FNV-1a 64-bit hash of the interleaved RGB bytes, as 16 hex digits (whole-image equality check)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def describe(im, extra=None):
    array = np.asarray(im, dtype=np.uint8)
    h, w = array.shape[:2]
    samples = []
    for j in range(8):
        for i in range(8):
            x = int((i + 0.5) * w / 8)
            y = int((j + 0.5) * h / 8)
            samples.append([x, y] + [int(v) for v in array[y, x, :3]])
    entry = {"width": w, "height": h, "mean": [round(float(array[..., c].mean()), 4) for c in range(3)],
             "samples": samples, "fnv1a64": fnv1a64(np.ascontiguousarray(array[..., :3]).tobytes())}
    entry.update(extra or {})
    return entry


def pil_reference(file, source):
    im = Image.open(file)
    orientation = im.getexif().get(0x0112, 1)
    im = ImageOps.exif_transpose(im).convert("RGB")
    return describe(im, {"source": source, "orientation": orientation})


def make_reference():
    files = {}
    for name in sorted(os.listdir(SHARED)):
        if name.endswith((".jpg", ".png")):
            files[name] = pil_reference(os.path.join(SHARED, name), "shared")
    decodable = [f"orientation_{k}.jpg" for k in range(1, 9)] + [
        "gray.jpg", "progressive.jpg", "cmyk.jpg", "ycck.jpg",
        "palette.png", "palette_trns.png", "gray.png", "gray1.png", "rgba.png", "gray_alpha.png", "rgb16.png",
        "interlaced.png"]
    for name in decodable:
        files[name] = pil_reference(path(name), "fixture")
    # Pillow opens 16-bit gray as "I;16" and clips on conversion: the reference is the high byte.
    gray16 = np.asarray(Image.open(path("gray16.png"))).astype(np.uint16) >> 8
    files["gray16.png"] = describe(np.repeat(gray16.astype(np.uint8)[..., None], 3, axis=2),
                                   {"source": "fixture", "orientation": 1})
    # rgba.png composited over white: (c * a + 255 * (255 - a) + 127) // 255.
    rgba = np.asarray(Image.open(path("rgba.png"))).astype(np.uint32)
    over_white = (rgba[..., :3] * rgba[..., 3:] + 255 * (255 - rgba[..., 3:]) + 127) // 255
    files["rgba.png#over-white"] = describe(over_white.astype(np.uint8), {"source": "fixture", "orientation": 1})
    with open(path("reference.json"), "w") as f:
        f.write('{"decoder": %s,\n "files": {\n' % json.dumps(f"Pillow {Image.__version__}"))
        f.write(",\n".join(f"  {json.dumps(name)}: {json.dumps(files[name], sort_keys=True)}" for name in sorted(files)))
        f.write("\n }\n}\n")


if __name__ == "__main__":
    make_orientation_jpegs()
    make_jpegs()
    make_pngs()
    make_others()
    make_reference()
