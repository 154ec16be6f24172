"""Convert facenet-pytorch 2.6.0's MTCNN P-Net, R-Net and O-Net to ONNX.

Run in .venv-convert (models/convert/make-venvs.sh):
    .venv-convert/bin/python models/convert/mtcnn.py

Writes models/mtcnn/{pnet,rnet,onet}.onnx and models/mtcnn/manifest.json, then checks
each graph in onnxruntime against the PyTorch modules on the real network inputs that
facenet-pytorch's own MTCNN.detect() produces on the shared photos (pyramid levels for
P-Net, 24x24 and 48x48 crops for R-Net and O-Net) and prints the largest differences.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO_ROOT, SHARED_MEDIA, graph_ops, load_rgb, package_file, require_sha256,
    require_version, write_json,
)

PACKAGE = "facenet-pytorch"
VERSION = "2.6.0"
SOURCE_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
OPSET = 13
OUT_DIR = REPO_ROOT / "models" / "mtcnn"
CHECK_IMAGES = ["grace_hopper.jpg", "astronaut.png", "person.jpg", "coffee.png"]


def export_modules():
    import torch
    from torch import nn
    from facenet_pytorch import ONet, PNet, RNet

    class PNetExport(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            regression, probability = self.net(x)
            return regression, probability

    class DenseNetExport(nn.Module):
        """R-Net / O-Net with view(N, -1) written as flatten(1) so the graph holds a
        single Flatten instead of a Shape/Gather/Concat/Reshape chain; same numbers."""

        def __init__(self, net, stages):
            super().__init__()
            self.net = net
            self.stages = stages

        def forward(self, x):
            net = self.net
            for name in self.stages:
                x = getattr(net, name)(x)
            x = x.permute(0, 3, 2, 1).contiguous()
            x = torch.flatten(x, 1)
            if isinstance(net, RNet):
                x = net.prelu4(net.dense4(x))
                return net.dense5_2(x), net.softmax5_1(net.dense5_1(x))
            x = net.prelu5(net.dense5(x))
            return net.dense6_2(x), net.dense6_3(x), net.softmax6_1(net.dense6_1(x))

    nets = {}
    for role, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
        net = cls(pretrained=False)
        weights = package_file(PACKAGE, f"facenet_pytorch/data/{role}.pt")
        net.load_state_dict(torch.load(str(weights)))
        net.eval()
        nets[role] = net
    wrappers = {
        "pnet": PNetExport(nets["pnet"]),
        "rnet": DenseNetExport(nets["rnet"], ["conv1", "prelu1", "pool1", "conv2", "prelu2",
                                              "pool2", "conv3", "prelu3"]),
        "onet": DenseNetExport(nets["onet"], ["conv1", "prelu1", "pool1", "conv2", "prelu2",
                                              "pool2", "conv3", "prelu3", "pool3", "conv4",
                                              "prelu4"]),
    }
    return nets, wrappers


GRAPH_IO = {
    "pnet": (["regression", "probability"], (1, 3, 120, 160)),
    "rnet": (["regression", "probability"], (2, 3, 24, 24)),
    "onet": (["regression", "landmarks", "probability"], (2, 3, 48, 48)),
}


def export(wrappers) -> dict[str, Path]:
    import torch

    paths = {}
    for role, module in wrappers.items():
        outputs, shape = GRAPH_IO[role]
        dynamic = {"input": {0: "N"}}
        if role == "pnet":
            dynamic = {"input": {0: "N", 2: "H", 3: "W"},
                       "regression": {0: "N", 2: "h", 3: "w"},
                       "probability": {0: "N", 2: "h", 3: "w"}}
        else:
            dynamic.update({name: {0: "N"} for name in outputs})
        path = OUT_DIR / f"{role}.onnx"
        torch.onnx.export(
            module, torch.zeros(shape), str(path), opset_version=OPSET,
            input_names=["input"], output_names=outputs, dynamic_axes=dynamic,
            do_constant_folding=True,
        )
        _strip_doc_strings(path)
        paths[role] = path
    return paths


def _strip_doc_strings(path: Path) -> None:
    """torch writes source-location doc strings into nodes; drop them so the file
    does not depend on where the script ran."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
    model.producer_name = "pytorch (models/convert/mtcnn.py)"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def captured_inputs(nets) -> dict[str, list[np.ndarray]]:
    """Run facenet-pytorch's MTCNN on real photos and record every tensor each net sees."""
    import torch
    from facenet_pytorch import MTCNN
    from PIL import Image

    seen: dict[str, list[np.ndarray]] = {"pnet": [], "rnet": [], "onet": []}
    mtcnn = MTCNN(device=torch.device("cpu"))
    for role in seen:
        getattr(mtcnn, role).register_forward_pre_hook(
            lambda _module, args, role=role: seen[role].append(args[0].detach().numpy().copy())
        )
    for name in CHECK_IMAGES:
        mtcnn.detect(Image.fromarray(load_rgb(SHARED_MEDIA / name)), landmarks=True)
    return seen


def compare(nets, paths, inputs) -> dict[str, dict]:
    import onnxruntime as ort
    import torch

    report = {}
    for role, path in paths.items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        worst = {name: 0.0 for name in names}
        tensors = 0
        for batch in inputs[role]:
            with torch.no_grad():
                expected = [t.numpy() for t in nets[role](torch.from_numpy(batch))]
            got = session.run(None, {"input": batch})
            for name, e, g in zip(names, expected, got):
                if e.shape != g.shape:
                    raise SystemExit(f"{role}.{name}: shape {g.shape} != torch {e.shape}")
                worst[name] = max(worst[name], float(np.abs(e - g).max()))
            tensors += 1
        report[role] = {"batches": tensors,
                        "shapes": sorted({tuple(b.shape) for b in inputs[role]})[:3],
                        "max_abs_diff": worst}
    return report


def manifest(paths, sources) -> dict:
    return {
        "name": "mtcnn",
        "version": 1,
        "task": "faces",
        "default": True,
        "description": ("MTCNN face detector (Zhang et al. 2016), weights of facenet-pytorch 2.6.0 "
                        "converted to ONNX: P-Net proposes boxes on an image pyramid, R-Net refines "
                        "24x24 crops, O-Net refines 48x48 crops and gives 5 landmarks."),
        "graphs": {role: path.name for role, path in paths.items()},
        "inputs": {
            "pnet": {"name": "input", "layout": "NCHW", "shape": [-1, 3, -1, -1], "color": "RGB"},
            "rnet": {"name": "input", "layout": "NCHW", "shape": [-1, 3, 24, 24], "color": "RGB"},
            "onet": {"name": "input", "layout": "NCHW", "shape": [-1, 3, 48, 48], "color": "RGB"},
        },
        "preprocessing": {
            "resize": "pyramid",
            "interpolation": "area",
            "scale": 1.0,
            "mean": [127.5, 127.5, 127.5],
            "std": [128.0, 128.0, 128.0],
            "formula": "(pixel - 127.5) * 0.0078125 on RGB bytes",
            "min_face_size": 20,
            "factor": 0.709,
            "pnet_cell_size": 12,
            "pnet_stride": 2,
            "rnet_size": [24, 24],
            "onet_size": [48, 48],
        },
        "outputs": {
            "pnet": [
                {"name": "regression", "shape": [-1, 4, -1, -1],
                 "meaning": "box offsets dx1, dy1, dx2, dy2 per cell, in units of the 12-pixel cell"},
                {"name": "probability", "shape": [-1, 2, -1, -1],
                 "meaning": "softmax over [not face, face] per cell (stride 2, cell 12 at the pyramid level)"},
            ],
            "rnet": [
                {"name": "regression", "shape": [-1, 4], "meaning": "box offsets dx1, dy1, dx2, dy2 relative to crop width/height"},
                {"name": "probability", "shape": [-1, 2], "meaning": "softmax over [not face, face]"},
            ],
            "onet": [
                {"name": "regression", "shape": [-1, 4], "meaning": "box offsets dx1, dy1, dx2, dy2 relative to crop width/height"},
                {"name": "landmarks", "shape": [-1, 10],
                 "meaning": "x of left_eye, right_eye, nose, mouth_left, mouth_right, then their y; fractions of the crop size"},
                {"name": "probability", "shape": [-1, 2], "meaning": "softmax over [not face, face]"},
            ],
        },
        "labels": ["face"],
        "thresholds": {"pnet": 0.6, "rnet": 0.7, "onet": 0.7},
        "postprocessing": {
            "decoder": "mtcnn-facenet-pytorch",
            "nms": {
                "pnet_per_scale": {"iou": 0.5, "method": "union"},
                "pnet_all_scales": {"iou": 0.7, "method": "union"},
                "rnet": {"iou": 0.7, "method": "union"},
                "onet": {"iou": 0.7, "method": "min"},
            },
            "square_boxes": "rerec before R-Net and O-Net crops",
            "landmark_order": ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"],
            "result_order": "largest box area first (facenet-pytorch select_largest=True)",
            "reference_implementation": ("models/convert/mtcnn_pipeline.py (numpy + onnxruntime restatement of "
                                         "facenet-pytorch 2.6.0 detect_face: pyramid sizes, cell->box, +1 "
                                         "conventions, crops, NMS variants)"),
        },
        "source": sources,
        "license": "MIT",
        "conversion": "models/convert/mtcnn.py",
    }


def main() -> None:
    require_version(PACKAGE, VERSION)
    import torch

    print(f"torch {torch.__version__}")
    sources = []
    for role in ("pnet", "rnet", "onet"):
        relative = f"facenet_pytorch/data/{role}.pt"
        digest = require_sha256(package_file(PACKAGE, relative), SOURCE_SHA256[role])
        sources.append({"package": PACKAGE, "version": VERSION, "registry": "pypi",
                        "file": relative, "sha256": digest})
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    nets, wrappers = export_modules()
    paths = export(wrappers)
    for role, path in paths.items():
        info = graph_ops(path)
        print(f"{role}: opset {info['opset']} ops {info['ops']}")
        print(f"    inputs {info['inputs']} outputs {info['outputs']}")
    report = compare(nets, paths, captured_inputs(nets))
    for role, entry in report.items():
        print(f"{role}: {entry['batches']} real input tensors, max |onnxruntime - torch| {entry['max_abs_diff']}")
        if max(entry["max_abs_diff"].values()) > 1e-4:
            raise SystemExit(f"{role}: onnxruntime differs from torch by more than 1e-4")
    write_json(OUT_DIR / "manifest.json", manifest(paths, sources))
    print(f"wrote {OUT_DIR}/manifest.json")


if __name__ == "__main__":
    main()
