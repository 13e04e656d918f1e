"""examples/quickstart.ipynb runs top to bottom (with small sizes) and shows what it promises.

The notebook is executed with nbclient in a kernel of this interpreter (``sys.executable``: a
kernel spec written for the test, so that no other ``python3`` kernel installed on the machine
is used), in a temporary folder, with its sizes set small through the environment variables its
first code cell reads. Any error in a cell fails the test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
PROXIES = ["epsilon", "synflow", "snip", "naswot", "meco"]
KERNEL = "nas-quickstart-test"

#: the notebook's sizes for the test: a few architectures, few resamples, a tiny search
SMALL = {
    "NAS_NOTEBOOK_SAMPLE": "6",
    "NAS_NOTEBOOK_BOOTSTRAP": "50",
    "NAS_NOTEBOOK_BUDGET": "10",
    "NAS_NOTEBOOK_ROUNDS": "1",
    "NAS_NOTEBOOK_POOL": "10",
}


def kernel_manager(kernel_dir: Path) -> KernelManager:
    """A kernel manager whose only kernel runs ``sys.executable -m ipykernel_launcher``."""
    spec_dir = kernel_dir / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nas test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def tagged(notebook: Any, tag: str) -> Any:
    """The one cell that carries ``tag``."""
    cells = [cell for cell in notebook.cells if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def text_of(cell: Any) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(str(output.data.get("text/plain", "")))
            parts.append(str(output.data.get("text/html", "")))
    return "\n".join(parts)


def images_of(cell: Any) -> list[str]:
    return [
        output.data["image/png"]
        for output in cell.outputs
        if output.output_type in ("execute_result", "display_data") and "image/png" in output.data
    ]


def test_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)
    work = tmp_path / "work"
    monkeypatch.setenv("NAS_NOTEBOOK_DIR", str(work))
    monkeypatch.setenv("NAS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread in the kernel, as in the other tests
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    manager = kernel_manager(tmp_path / "kernels")
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=600,  # per cell
        startup_timeout=120,
        resources={"metadata": {"path": str(run_dir)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails

    assert manager.kernel_spec is not None and manager.kernel_spec.argv[0] == sys.executable
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    assert not [output for cell in code for output in cell.outputs if output.output_type == "error"]

    # 1. nas.score: a row per architecture with the three proxies and the trained accuracy
    score = text_of(tagged(notebook, "score"))
    for column in ("epsilon", "synflow", "params", "test_acc"):
        assert column in score
    # 2. nas.compare: the table has the five proxies (and the baselines); the bars are drawn
    table = text_of(tagged(notebook, "comparison-table"))
    for proxy in [*PROXIES, "params", "flops"]:
        assert proxy in table, f"{proxy} missing from the comparison table"
    assert "common_spearman" in table
    assert images_of(tagged(notebook, "comparison-plot")), "comparison.plot('bars') showed no image"
    # 3. nas.search: both strategies in the summary, a plot; the runs went into the work folder
    summary = text_of(tagged(notebook, "search-summary"))
    assert "evolution + warm-up" in summary and "evolution" in summary
    assert images_of(tagged(notebook, "search-plot")), "result.plot() showed no image"
    assert (work / "runs" / "quickstart" / "runs.jsonl").is_file()
    assert (work / "cache").is_dir()
    # 4. nas.score_model: scores and an unchanged model
    model = text_of(tagged(notebook, "score-model"))
    assert "model unchanged: True" in model
    for proxy in ("synflow", "snip", "params"):
        assert proxy in model
    # nothing was written in the kernel's working directory
    assert not any(run_dir.iterdir())
