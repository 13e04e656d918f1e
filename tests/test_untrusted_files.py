"""Reading a crafted file never runs its code: each malicious pickle is refused with one line and exit 2.

Every file below holds an object whose ``__reduce__`` asks the unpickler to call ``os.system``
to create a marker file. Plain :mod:`pickle` (what the official APIs use) would run it while
loading; the project must refuse the file before anything runs. The commands are the real CLI,
run as subprocesses.
"""

from __future__ import annotations

import bz2
import csv
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas import safe_pickle
from nas.data import load_cifar10
from nas.errors import NasError

ARCH = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


class Payload:
    """Unpickling this creates ``marker`` (through ``os.system``): the code a crafted file would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _nas(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nas", *argv], capture_output=True, text=True, timeout=300)


def _refused(result: subprocess.CompletedProcess[str], marker: Path, *fragments: str) -> None:
    assert not marker.exists(), "the crafted file's code ran"
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "MARKER-code-ran"
    # the payload works: plain pickle runs it (so a test passing means the project refused it)
    pickle.loads(pickle.dumps(Payload(path)))
    assert path.exists()
    path.unlink()
    return path


@pytest.fixture(scope="module")
def archs(data_dir: Path) -> list[str]:
    with open(data_dir / "nb201" / "nats_tss_test_acc_200ep.csv", newline="") as handle:
        return [row["ArchitectureString"] for row in csv.DictReader(handle)]


def test_nb201_pth_made_by_torch_save(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "NAS-Bench-201-crafted.pth"
    torch.save({"meta_archs": Payload(marker), "arch2infos": {}, "evaluated_indexes": []}, path)
    result = _nas("import-table", "--from", "nb201-pth", str(path), "--out", str(tmp_path / "out"))
    _refused(result, marker, str(path), "refusing")


def test_raw_pickle_renamed_pth(tmp_path: Path, marker: Path) -> None:
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"raw-{protocol}.pth"
        path.write_bytes(pickle.dumps({"meta_archs": Payload(marker)}, protocol=protocol))
        result = _nas("import-table", "--from", "nb201-pth", str(path), "--out", str(tmp_path / "out"))
        _refused(result, marker, str(path))


def test_nats_single_pbz2_file(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps({"meta_archs": Payload(marker), "arch2infos": {}, "evaluated_indexes": []})))
    result = _nas("import-table", "--from", "nats-tss", str(path), "--out", str(tmp_path / "out"))
    _refused(result, marker, str(path), "posix.system" if os.name == "posix" else "system")


def test_nats_archive_directory_meta_file(tmp_path: Path, marker: Path) -> None:
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    (folder / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"meta_archs": Payload(marker)})))
    result = _nas("import-table", "--from", "nats-tss", str(folder), "--out", str(tmp_path / "out"))
    _refused(result, marker, "meta.pickle.pbz2")


def test_nats_archive_directory_architecture_file(tmp_path: Path, marker: Path, archs: list[str]) -> None:
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    (folder / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"meta_archs": archs})))
    (folder / "000007.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"200": Payload(marker)})))
    result = _nas("import-table", "--from", "nats-tss", str(folder), "--out", str(tmp_path / "out"))
    _refused(result, marker, "000007.pickle.pbz2")


def test_data_directory_with_a_crafted_cifar_batch(tmp_path: Path, marker: Path) -> None:
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    with open(folder / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Payload(marker), b"labels": [1]}, handle, protocol=2)  # the CIFAR files' protocol
    result = _nas("score", "--space", "nb201", "--proxy", "params", "--arch", ARCH, "--data-dir", str(tmp_path / "data"))
    _refused(result, marker, "data_batch_1", "refusing")


# -- the restricted unpickler itself ----------------------------------------------------------


@pytest.mark.parametrize(
    "module, name",
    [
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("__builtin__", "exec"),
        ("os", "system"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
        ("numpy.lib.npyio", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("torch", "load"),
        ("copyreg", "_reconstructor"),
    ],
)
def test_other_globals_are_refused(tmp_path: Path, module: str, name: str) -> None:
    path = tmp_path / "crafted"
    # GLOBAL module name, then an empty tuple and REDUCE: a call of module.name()
    path.write_bytes(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R.")
    with pytest.raises(NasError, match=f"refusing to load .*{path.name}.*{name}") as info:
        safe_pickle.load(path)
    assert "\n" not in str(info.value)


def test_codecs_encode_only_for_text() -> None:
    # protocol-2 pickles spell bytes as _codecs.encode(text, "latin1"); other codecs are refused
    latin1 = pickle.dumps(b"\x00\xff", protocol=2)
    assert b"_codecs" in latin1 and safe_pickle.load(io.BytesIO(latin1)) == b"\x00\xff"
    other = latin1.replace(b"latin1", b"base64")  # same length: a valid pickle asking for another codec
    with pytest.raises(NasError, match="cannot read|refus"):
        safe_pickle.load(io.BytesIO(other))


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x02}q\x00(X\x01", os.urandom(256)])
def test_corrupt_pickles_are_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(NasError, match="data_batch_1") as info:
        safe_pickle.load(path, what="data file")
    assert "\n" not in str(info.value)


def test_plain_data_of_every_protocol_loads() -> None:
    value = {
        "array": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "float": np.float64(0.5),
        "int": np.int64(-3),
        "dtype": np.dtype("float32"),
        "set": {1, 2},
        "frozen": frozenset({3}),
        "bytes": b"\x00\x01",
        "complex": 1 + 2j,
        "nested": [None, True, 1.5, "text", (1, 2)],
    }
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        loaded = safe_pickle.load(io.BytesIO(pickle.dumps(value, protocol=protocol)))
        assert loaded.keys() == value.keys()
        assert np.array_equal(loaded["array"], value["array"]) and loaded["array"].dtype == np.uint8
        assert {k: v for k, v in loaded.items() if k != "array"} == {k: v for k, v in value.items() if k != "array"}


def test_the_real_cifar_files_still_load(data_dir: Path, tmp_path: Path) -> None:
    folder = data_dir / "cifar-10-batches-py"
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        assert isinstance(safe_pickle.load(folder / name, encoding="bytes"), dict)
    for name in ("train", "test", "meta"):
        assert isinstance(safe_pickle.load(data_dir / "cifar-100-python" / name, encoding="bytes"), dict)
    with open(folder / "test_batch", "rb") as handle:
        plain = pickle.load(handle, encoding="bytes")
    safe = safe_pickle.load(folder / "test_batch", encoding="bytes")
    assert safe[b"labels"] == plain[b"labels"] and np.array_equal(safe[b"data"], plain[b"data"])
    images, labels = load_cifar10(data_dir, "train")
    assert len(images) == len(labels) > 5000
    # files written by NumPy 1 name numpy.core instead of numpy._core: accepted too
    old = (folder / "test_batch").read_bytes().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n" in old
    assert np.array_equal(safe_pickle.load(io.BytesIO(old), encoding="bytes")[b"data"], plain[b"data"])
