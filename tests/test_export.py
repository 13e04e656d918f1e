"""``nas export``: the written TorchScript and ONNX files compute what the network computes,
in a fresh Python process that does not import this package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.cli import main
from nas.errors import NasError
from nas.export import export_model
from nas.spaces import create_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
NETWORK = {"channels": 8, "cells_per_stage": 1}

LOADER = r"""
import sys, numpy as np, torch, onnxruntime
folder, inputs = sys.argv[1], np.load(sys.argv[2])
script = torch.jit.load(folder + "/model.torchscript.pt")
with torch.no_grad():
    a = script(torch.from_numpy(inputs)).numpy()
b = onnxruntime.InferenceSession(folder + "/model.onnx").run(None, {"input": inputs})[0]
assert "nas" not in sys.modules, "the loader imported nas"
np.save(sys.argv[3], np.stack([a, b]))
"""


def test_exported_files_give_the_network_outputs_in_a_fresh_process(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    exported = export_model("nb201", ARCH, "cifar10", tmp_path / "model", network=NETWORK, seed=5)
    assert exported.weights == "initial" and set(exported.files) == {"state_dict", "torchscript", "onnx"}
    meta = json.loads((tmp_path / "model" / "export.json").read_text())
    assert meta["input_shape"] == [3, 32, 32] and meta["num_classes"] == 10 and meta["network"] == NETWORK
    # the original module, rebuilt from the state_dict as the README says
    space = create_space("nb201")
    model = space.build(space.parse(ARCH), space.dataset_spec("cifar10"), **NETWORK)
    model.load_state_dict(torch.load(tmp_path / "model" / "state_dict.pt"))
    model.eval()
    inputs = np.random.default_rng(0).standard_normal((5, 3, 32, 32)).astype(np.float32)  # another batch size than traced
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)).numpy()
    np.save(tmp_path / "inputs.npy", inputs)
    (tmp_path / "loader.py").write_text(LOADER)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "loader.py"), str(tmp_path / "model"), str(tmp_path / "inputs.npy"), str(tmp_path / "out.npy")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    torchscript, onnx = np.load(tmp_path / "out.npy")
    # TorchScript runs the same kernels; ONNX Runtime its own (float32 reassociation only)
    np.testing.assert_allclose(torchscript, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(onnx, expected, rtol=1e-4, atol=1e-5)
    assert "torch.jit.load" in (tmp_path / "model" / "README.md").read_text()


def test_bad_exports_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = create_space("nb201").build(create_space("nb201").parse(ARCH), create_space("nb201").dataset_spec("cifar10"))
    torch.save(other.state_dict(), tmp_path / "full.pt")
    with pytest.raises(NasError, match="do not fit this network"):
        export_model("nb201", ARCH, "cifar10", tmp_path / "a", weights=tmp_path / "full.pt", network=NETWORK)
    for argv, message in (
        (["export", "--run", str(tmp_path), "--out", str(tmp_path / "b")], "holds no search run"),
        (["export", "--out", str(tmp_path / "c")], "needs --arch"),
        (["export", "--arch", ARCH, "--network", "channels", "--out", str(tmp_path / "d")], "--network expects key=integer"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
