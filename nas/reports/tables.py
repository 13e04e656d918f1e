"""Writing DataFrames as the tables of reports and of ``nas score``: CSV, JSON or Parquet."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from nas.errors import NasError

#: formats a table can be written in
TABLE_FORMATS = ("csv", "json", "parquet")


def write_frame(frame: pd.DataFrame, path: Path | TextIO, table_format: str) -> Path | TextIO:
    """Write ``frame`` (with a named index as the first column) to ``path`` as csv, json (records) or parquet.

    ``path`` may be an open text stream for csv and json. NaN is written as ``nan`` in CSV and
    ``null`` in JSON; missing text (``None``) as an empty CSV field. Parquet needs the optional
    package ``pyarrow``; without it, one :class:`NasError`.
    """
    if table_format not in TABLE_FORMATS:
        raise NasError(f"unknown table format {table_format!r}; known: {', '.join(TABLE_FORMATS)}")
    table = frame.reset_index() if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex) else frame
    if table_format == "csv":
        text = [c for c in table.columns if pd.api.types.is_string_dtype(table[c]) or table[c].dtype == object]
        table = table.assign(**{c: table[c].fillna("") for c in text})
        table.to_csv(path, index=False, na_rep="nan", lineterminator="\n")
    elif table_format == "json":  # Python's json: every float round-trips exactly (pandas' keeps 10 digits)
        records = [{k: _json_value(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
        text = json.dumps(records, indent=1, allow_nan=False) + "\n"
        if isinstance(path, (str, Path)):
            Path(path).write_text(text, encoding="utf-8")
        else:
            path.write(text)
    elif table_format == "parquet":
        if not isinstance(path, (str, Path)):
            raise NasError("the parquet format is binary: name an output file")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise NasError("the parquet format needs the package pyarrow (pip install pyarrow)") from None
        table.to_parquet(path, index=False)
    return path


def _json_value(value: object) -> object:
    """A JSON-safe value: NaN and missing values as None, NumPy scalars as Python numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    return value


