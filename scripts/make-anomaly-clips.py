#!/usr/bin/env python3
"""Builds the labelled anomaly test clips in Tests/Fixtures/video/ from real footage.

Footage: vtest.avi (Debian opencv-doc: 768x576, 795 frames, 10 fps, a fixed camera over
pedestrians) and still photos from the shared media folder. Every clip is vtest footage,
downscaled to 160x120 at 10 fps, with events spliced over chosen intervals:

  tamper   the camera is blacked out or covered (black / dim frames, or a heavy defocus blur)
  fast     a burst of fast motion: footage played 6-8x faster for two seconds
  foreign  foreign frames: photos of other scenes replace the camera's picture

The event times (seconds from the clip's start) go to clips.json. Footage ranges are kept
apart: the baseline's normal stretches and the MIL training clips come from vtest 0-30 s,
the held-out test clips from vtest 30-79.5 s (fast bursts in test clips replay 30-46 s footage).

Also writes the bad inputs the decoder tests use that cannot be made by cutting or
overwriting bytes of a clip in the test itself: an MP4 cut before its index, a 2-hour clip
of tiny bitrate, an audio-only file, an AVI header claiming 100000x100000.

Usage: scripts/make-anomaly-clips.py [--media /work/shared/media] [--out Tests/Fixtures/video]
Needs the ffmpeg CLI (Debian: apt-get install ffmpeg).
"""
import argparse
import json
import os
import struct
import subprocess
import sys

WIDTH, HEIGHT, FPS = 160, 120, 10
NORMALISE = f"scale={WIDTH}:{HEIGHT},setsar=1,fps={FPS},format=yuv420p"


def video(start, duration, speed=1.0, blur=False):
    """A stretch of vtest footage from `start` (s), lasting `duration` s in the clip."""
    return {"kind": "video", "start": start, "duration": duration, "speed": speed, "blur": blur}


def color(hex_color, duration):
    return {"kind": "color", "color": hex_color, "duration": duration}


def images(names, duration):
    """Still photos shown one after another, sharing `duration` s."""
    return {"kind": "images", "names": names, "duration": duration}


def piece_inputs(piece, media):
    if piece["kind"] == "video":
        length = piece["duration"] * piece["speed"]
        return [["-ss", f"{piece['start']}", "-t", f"{length}", "-i", os.path.join(media, "vtest.avi")]]
    if piece["kind"] == "color":
        return [["-f", "lavfi", "-i", f"color=c={piece['color']}:s={WIDTH}x{HEIGHT}:r={FPS}:d={piece['duration']}"]]
    each = piece["duration"] / len(piece["names"])
    return [["-loop", "1", "-framerate", f"{FPS}", "-t", f"{each}", "-i", os.path.join(media, name)] for name in piece["names"]]


def piece_filters(piece, first_input):
    """Filter chains turning the piece's inputs into normalised streams; returns (chains, labels)."""
    chains, labels = [], []
    if piece["kind"] == "video":
        speed = piece["speed"]
        blur = ",boxblur=12:4" if piece["blur"] else ""
        chains.append(f"[{first_input}:v]setpts=(PTS-STARTPTS)/{speed},{NORMALISE}{blur},"
                      f"trim=duration={piece['duration']}[p{first_input}]")
        labels.append(f"[p{first_input}]")
    elif piece["kind"] == "color":
        chains.append(f"[{first_input}:v]{NORMALISE}[p{first_input}]")
        labels.append(f"[p{first_input}]")
    else:
        for offset in range(len(piece["names"])):
            index = first_input + offset
            chains.append(f"[{index}:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
                          f"crop={WIDTH}:{HEIGHT},{NORMALISE}[p{index}]")
            labels.append(f"[p{index}]")
    return chains, labels


ENCODINGS = {
    "mp4": ["-c:v", "libx264", "-preset", "slow", "-crf", "33", "-g", "20", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-map_metadata", "-1", "-fflags", "+bitexact"],
    "avi": ["-c:v", "mpeg4", "-q:v", "13", "-g", "20", "-map_metadata", "-1", "-fflags", "+bitexact"],
    "mjpeg.avi": ["-c:v", "mjpeg", "-q:v", "20", "-pix_fmt", "yuvj420p", "-map_metadata", "-1", "-fflags", "+bitexact"],
    "webm": ["-c:v", "libvpx", "-b:v", "80k", "-g", "20", "-map_metadata", "-1", "-fflags", "+bitexact"],
}


def build(pieces, path, encoding, media):
    arguments, chains, labels = [], [], []
    for piece in pieces:
        inputs = piece_inputs(piece, media)
        piece_chains, piece_labels = piece_filters(piece, len(arguments))
        arguments.extend(inputs)
        chains.extend(piece_chains)
        labels.extend(piece_labels)
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0[out]"
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"]
    for group in arguments:
        command.extend(group)
    command += ["-filter_complex", graph, "-map", "[out]", "-an"] + ENCODINGS[encoding] + [path]
    subprocess.run(command, check=True)


def events_of(pieces):
    """Event intervals (clip seconds) of the non-normal pieces."""
    events, time = [], 0.0
    for piece in pieces:
        end = time + piece["duration"]
        kind = None
        if piece["kind"] == "color" or piece.get("blur"):
            kind = "tamper"
        elif piece["kind"] == "images":
            kind = "foreign"
        elif piece["speed"] != 1:
            kind = "fast"
        if kind:
            detail = {"video": lambda p: f"vtest {p['start']}-{p['start'] + p['duration'] * p['speed']} s at {p['speed']}x"
                               + (", box-blurred" if p.get("blur") else ""),
                      "color": lambda p: f"solid {p['color']}",
                      "images": lambda p: "photos " + ", ".join(p["names"])}[piece["kind"]](piece)
            events.append({"kind": kind, "start_s": round(time, 3), "end_s": round(end, 3), "detail": detail})
        time = end
    return events, time


def source_of(pieces):
    return [f"vtest {p['start']}-{round(p['start'] + p['duration'] * p['speed'], 3)} s" + (f" at {p['speed']}x" if p["speed"] != 1 else "")
            for p in pieces if p["kind"] == "video"]


# Clip plans: name -> (split, pieces, encodings)
CLIPS = {
    # Normal stretches for baselines and the MIL normal bags (vtest 0-30 s).
    "normal_a": ("normal", [video(0, 15)], ["mp4", "avi"]),
    "normal_b": ("normal", [video(15, 15)], ["mp4", "avi"]),
    # MIL training clips with events (footage from vtest 0-30 s).
    "train_tamper_1": ("train", [video(0, 3), color("0x000000", 2), video(5, 3)], ["mp4"]),
    "train_tamper_2": ("train", [video(10, 5), video(15, 2, blur=True), video(17, 1)], ["mp4"]),
    "train_fast_1": ("train", [video(20, 2), video(0, 2, speed=6), video(22, 4)], ["mp4"]),
    "train_fast_2": ("train", [video(8, 5), video(12, 2, speed=6), video(13, 1)], ["mp4"]),
    "train_foreign_1": ("train", [video(22, 4), images(["kite.jpg", "rocket.jpg"], 2), video(26, 2)], ["mp4"]),
    "train_foreign_2": ("train", [video(2, 1), images(["chelsea.png", "coffee.png"], 2), video(5, 5)], ["mp4"]),
    "train_tamper_3": ("train", [video(24, 5), color("0x181818", 2), video(26, 1)], ["mp4"]),
    # Held-out test clips (vtest 30-79.5 s).
    "test_tamper": ("test", [video(30, 9), color("0x000000", 2), video(41, 5)], ["mp4", "avi"]),
    "test_foreign": ("test", [video(46, 4), images(["dog.jpg", "person.jpg"], 2), video(52, 10)], ["mp4", "avi"]),
    "test_fast": ("test", [video(62, 11), video(30, 2, speed=8), video(73, 3)], ["mp4", "avi"]),
    # Other containers and codecs for the decoder tests.
    "normal_c": ("normal", [video(50, 2)], ["mjpeg.avi", "webm"]),
}


def patch_avi_size(data, width, height):
    """Rewrites an AVI's declared frame size (avih and the video strf BITMAPINFOHEADER)."""
    data = bytearray(data)
    avih = data.find(b"avih")
    struct.pack_into("<II", data, avih + 8 + 32, width, height)
    strf = data.find(b"strf")
    struct.pack_into("<ii", data, strf + 8 + 4, width, height)
    return bytes(data)


def make_bad_inputs(out, media):
    made = {}
    # A copy with the index at the end, then cut: nothing can be read.
    tail = os.path.join(out, "tmp_tail.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", os.path.join(out, "test_tamper.mp4"),
                    "-c", "copy", "-fflags", "+bitexact", tail], check=True)
    data = open(tail, "rb").read()
    os.remove(tail)
    with open(os.path.join(out, "bad_truncated_index.mp4"), "wb") as f:
        f.write(data[: len(data) // 2])
    made["bad_truncated_index.mp4"] = "first half of test_tamper.mp4 remuxed with its index (moov) at the end: no index, unreadable"
    avi = open(os.path.join(out, "test_tamper.avi"), "rb").read()
    with open(os.path.join(out, "bad_huge_header.avi"), "wb") as f:
        f.write(patch_avi_size(avi[:20000], 100000, 100000))
    made["bad_huge_header.avi"] = "first 20000 bytes of test_tamper.avi with avih and strf patched to 100000x100000"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=gray:s=64x48:r=0.1",
                    "-t", "7200", "-c:v", "libx264", "-preset", "veryslow", "-crf", "51", "-x264-params", "keyint=720",
                    "-map_metadata", "-1", "-fflags", "+bitexact", os.path.join(out, "bad_two_hours.mp4")], check=True)
    made["bad_two_hours.mp4"] = "a real 2-hour H.264 clip: 64x48 gray, one frame every 10 s (tiny bitrate)"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "aac", "-b:a", "32k", "-map_metadata", "-1", "-fflags", "+bitexact",
                    os.path.join(out, "bad_audio_only.m4a")], check=True)
    made["bad_audio_only.m4a"] = "1 s of a 440 Hz sine, AAC in MP4: no video stream"
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--media", default="/work/shared/media")
    parser.add_argument("--out", default=os.path.join(root, "Tests", "Fixtures", "video"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    clips = {}
    for name, (split, pieces, encodings) in CLIPS.items():
        events, duration = events_of(pieces)
        files = []
        for encoding in encodings:
            file = f"{name}.{encoding}"
            build(pieces, os.path.join(args.out, file), encoding, args.media)
            files.append(file)
        clips[name] = {"split": split, "files": files, "duration_s": duration, "width": WIDTH, "height": HEIGHT,
                       "fps": FPS, "source": source_of(pieces), "events": events}
        print(f"{name}: {duration} s, events {events}", file=sys.stderr)
    bad = make_bad_inputs(args.out, args.media)
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    with open(os.path.join(args.out, "clips.json"), "w") as f:
        json.dump({"made_by": "scripts/make-anomaly-clips.py", "ffmpeg": version, "clips": clips, "bad_inputs": bad},
                  f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
