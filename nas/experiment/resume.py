"""The output directory of an experiment and what makes it resumable.

``experiment.json`` records the configuration and its identity (everything that must not
change between a run and its resumption); ``runs.jsonl`` gets one JSON line per finished run,
flushed and synced at once. Resuming reads the runs back, drops a last line cut short by a
kill, and refuses a directory that holds another configuration's results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from nas.errors import NasError
from nas.experiment.config import ExperimentConfig
from nas.experiment.results import Run


def _open_out_dir(out: Path, config: ExperimentConfig, resume: bool) -> dict[tuple[str, int], Run]:
    """Prepare ``out``; with ``resume``, the runs it already holds, by (label, round)."""
    header = out / "experiment.json"
    if out.exists() and not out.is_dir():
        raise NasError(f"output path {str(out)!r} is a file, not a directory")
    non_empty = out.is_dir() and any(out.iterdir())
    if non_empty and not resume:
        raise NasError(f"output directory {str(out)!r} is not empty: pass --resume to continue it, or another --out")
    if non_empty and not header.is_file():
        raise NasError(f"output directory {str(out)!r} holds no experiment to resume (no experiment.json)")
    done: dict[tuple[str, int], Run] = {}
    if non_empty:
        try:
            recorded = json.loads(header.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise NasError(f"cannot read {str(header)!r} to resume: {exc}") from None
        if recorded.get("identity") != config.identity():
            raise NasError(
                f"output directory {str(out)!r} holds results of a different experiment configuration; "
                "use another --out"
            )
        for run in _read_runs(out / "runs.jsonl"):
            done[(run.label, run.round)] = run
        return done
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot create output directory {str(out)!r}: {exc.strerror}") from None
    header.write_text(
        json.dumps({"config": config.to_dict(), "identity": config.identity()}, indent=2) + "\n", encoding="utf-8"
    )
    return done


def _read_runs(path: Path) -> Iterator[Run]:
    """The runs logged in ``path``; a last line cut short by a kill is ignored (and rewritten cleanly)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    good: list[str] = []
    for line in lines:
        try:
            run = Run.from_json(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            break
        good.append(line if line.endswith("\n") else line + "\n")
        yield run
    if len(good) != len(lines) or (lines and not lines[-1].endswith("\n")):
        path.write_text("".join(good), encoding="utf-8")
