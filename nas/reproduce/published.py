"""The epsilon paper's published values, typed in with the text they were read from.

The values live in ``epsilon_paper.json`` next to this module (package data). Each row holds
the paper's table number (``null`` where it is not known), an experiment id (``table1``,
``table5``, ``table6``, ...), what the row is (space, dataset, and the proxy, the weight pair
or the input it is about), its values per column, the row exactly as printed (``quote``) and
the source it was printed in. ``provenance`` in the file says where the values come from and
how far they were checked; read it before citing them.

Columns (:data:`COLUMNS`) are named as the fields of :class:`nas.metrics.ProxyMetrics`, plus
``scored`` (the number of architectures with a finite score). :func:`quoted_values` reads a
quote back into values, so a test can check every typed value against its quote.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from nas.errors import NasError

#: the data file, in this package
DATA_FILE = "epsilon_paper.json"
#: the metric columns a published row may have, in the order reports show them
COLUMNS: tuple[str, ...] = (
    "scored",
    "spearman",
    "kendall",
    "top10_spearman",
    "top10_kendall",
    "top10_in_top10",
    "top64_in_top5",
)
#: the fields of a row that say which proxy, weight pair or input it is about
_KEY_FIELDS: tuple[str, ...] = ("proxy", "weights", "input", "initialisation", "embedding")


@dataclass(frozen=True)
class Source:
    """Where a published table was printed: a file (and cell) at a commit of a repository."""

    repository: str
    commit: str
    path: str
    cell: int
    #: the columns of the printed table, left to right (``label`` is the row's name)
    header: tuple[str, ...]
    #: the printed header line
    header_text: str
    #: the experimental setting the printed table comes from
    setting: str
    #: the heading the source prints the table under
    heading: str
    #: how many architectures the printed table was computed on (``None`` where the source does not say)
    architectures: int | None = None

    @property
    def url(self) -> str:
        """A link to the file at its commit."""
        return f"https://{self.repository}/blob/{self.commit}/{self.path}"


@dataclass(frozen=True)
class PublishedRow:
    """One row of a published table: its values per column, and the printed line they were read from."""

    #: the paper's table number, or ``None`` where it is not known
    table: str | None
    #: the experiment it belongs to, e.g. ``"table1"``
    experiment: str
    space: str
    dataset: str
    #: the row's name as printed (``"synflow"``, ``"[1e-07, 1]"``)
    label: str
    #: ``proxy``, ``weights``, ``input``, ... : what the row is about
    fields: Mapping[str, Any]
    values: Mapping[str, float]
    quote: str
    source: Source

    @property
    def key(self) -> str:
        """The row's key within its experiment: the proxy name, the weights as ``"w1:w2"``, or the input."""
        for name in _KEY_FIELDS:
            if name in self.fields:
                value = self.fields[name]
                return weights_key(value) if name == "weights" else str(value)
        return self.label


@dataclass(frozen=True)
class PublishedValues:
    """Every published row of the data file, with the file's provenance and column descriptions."""

    rows: tuple[PublishedRow, ...]
    provenance: str
    columns: Mapping[str, str]
    paper: Mapping[str, str] = field(default_factory=dict)

    def experiment(self, name: str) -> list[PublishedRow]:
        """The rows of one experiment, in the file's order."""
        return [row for row in self.rows if row.experiment == name]

    def find(self, experiment: str, key: str, dataset: str | None = None) -> PublishedRow | None:
        """The row of ``experiment`` whose :attr:`~PublishedRow.key` is ``key`` (and dataset, when given), if any."""
        for row in self.rows:
            if row.experiment == experiment and row.key == key and (dataset is None or row.dataset == dataset):
                return row
        return None


def weights_key(weights: Any) -> str:
    """A weight pair as ``"w1:w2"`` in ``%g`` form (``[1e-07, 1.0]`` -> ``"1e-07:1"``)."""
    w1, w2 = (float(w) for w in weights)
    return f"{w1:g}:{w2:g}"


def quoted_values(row: PublishedRow) -> dict[str, float]:
    """The numbers of ``row.quote`` read by its source's header: what the typed values must equal."""
    cells = [cell.strip() for cell in row.quote.strip().strip("|").split("|")]
    header = row.source.header
    if len(cells) != len(header):
        raise NasError(f"quote of {row.experiment} row {row.label!r} has {len(cells)} cells, its header {len(header)}")
    return {column: float(cell) for column, cell in zip(header, cells) if column != "label"}


@lru_cache(maxsize=1)
def load_published() -> PublishedValues:
    """The published values of the data file (read once)."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    raw = json.loads(text)
    sources = {
        name: Source(
            repository=entry["repository"],
            commit=entry["commit"],
            path=entry["path"],
            cell=int(entry["cell"]),
            header=tuple(entry["header"]),
            header_text=entry["header_text"],
            setting=entry["setting"],
            heading=entry["heading"],
            architectures=entry["architectures"],
        )
        for name, entry in raw["sources"].items()
    }
    rows = []
    for entry in raw["rows"]:
        values = {column: float(value) for column, value in entry["values"].items()}
        unknown = sorted(set(values) - set(COLUMNS))
        if unknown:
            raise NasError(f"{DATA_FILE}: unknown column {unknown[0]!r} in {entry['experiment']} row {entry['label']!r}")
        if not all(math.isfinite(value) for value in values.values()):
            raise NasError(f"{DATA_FILE}: a value of {entry['experiment']} row {entry['label']!r} is not finite")
        fields = {name: entry[name] for name in _KEY_FIELDS if name in entry}
        rows.append(
            PublishedRow(
                table=entry["table"],
                experiment=entry["experiment"],
                space=entry["space"],
                dataset=entry["dataset"],
                label=entry["label"],
                fields=fields,
                values=values,
                quote=entry["quote"],
                source=sources[entry["source"]],
            )
        )
    return PublishedValues(tuple(rows), raw["provenance"], dict(raw["columns"]), dict(raw["paper"]))
