"""Finding the raw files and reading them into typed, validated tables.

Every check names the file, the column or line, and the fix (see :mod:`.errors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from recbole_dcr.converters.errors import ConversionError, fail
from recbole_dcr.converters.spec import MISSING_TOKEN

READ_CHUNK_ROWS = 1_000_000  # bounds the parser's working memory
_OTHER_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "space"}


# --------------------------------------------------------------------------
# Locating raw files
# --------------------------------------------------------------------------


def require_dir(raw: Path) -> Path:
    if not raw.exists():
        raise fail(raw, "raw data folder does not exist", "pass the folder you extracted the download into as --raw")
    if not raw.is_dir():
        raise fail(raw, "--raw must be a folder, not a file", "pass the folder that contains the raw files")
    return raw


def locate(raw: Path, candidates: Sequence[str], what: str, required: bool = True) -> Path | None:
    """Return the first existing ``raw/candidate``; several layouts are accepted
    because people extract archives with and without their top folder."""
    for relative in candidates:
        path = raw / relative
        if path.is_file():
            return path
    if not required:
        return None
    listed = " or ".join(repr(c) for c in candidates)
    raise fail(raw, f"missing required file {listed} ({what})", f"point --raw at the folder that contains {candidates[0]!r}")


def locate_glob(raw: Path, patterns: Sequence[str]) -> list[Path]:
    """All files matching the first pattern that matches anything, sorted by name."""
    for pattern in patterns:
        found = sorted(p for p in raw.glob(pattern) if p.is_file())
        if found:
            return found
    return []


# --------------------------------------------------------------------------
# What a table looks like
# --------------------------------------------------------------------------


@dataclass
class TableSpec:
    """How to read and validate one raw table.

    ``columns`` lists every column in file order for a header-less file, or the
    columns we need for a file with a header. Only the columns named in one of
    the role lists are loaded.
    """

    path: Path
    columns: Sequence[str]
    header: bool
    sep: str
    ids: Sequence[str] = ()  # integer ids; must be present
    labels: Sequence[str] = ()  # must be 0 or 1
    amounts: Sequence[str] = ()  # numbers >= 0; must be present (e.g. play time)
    durations: Sequence[str] = ()  # numbers >= 0; empty means missing
    texts: Sequence[str] = ()  # kept as strings, empty -> NaN
    fix: str = "re-extract the original file from the official download"

    @property
    def numeric(self) -> list[str]:
        return [*self.ids, *self.labels, *self.amounts, *self.durations]

    @property
    def wanted(self) -> list[str]:
        return [*self.numeric, *self.texts]

    @property
    def sep_name(self) -> str:
        return _OTHER_DELIMITERS.get(self.sep, repr(self.sep))


def _first_line(path: Path) -> str:
    with open(path, "rb") as handle:
        raw = handle.readline()
    return raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")


def _guess_delimiter(line: str, expected: Sequence[str] | int, sep: str) -> str | None:
    """Name a delimiter under which ``line`` would have the expected shape."""
    for delimiter, name in _OTHER_DELIMITERS.items():
        if delimiter == sep:
            continue
        parts = [p.strip() for p in line.split(delimiter)]
        if isinstance(expected, int):
            if len(parts) == expected:
                return name
        elif set(expected) <= set(parts):
            return name
    return None


def _wrong_delimiter(spec: TableSpec, where: str, other: str) -> ConversionError:
    return fail(spec.path, f"{where} looks {other}-separated but this file must be {spec.sep_name}-separated",
                f"save the file {spec.sep_name}-separated, as in the official download")


def _column_names(spec: TableSpec) -> tuple[list[str], int]:
    """Check the first line and return (names for every field, lines to skip)."""
    first = _first_line(spec.path)
    if spec.header:
        return _header_names(spec, first), 1
    fields = first.split(spec.sep)
    if len(fields) != len(spec.columns):
        other = _guess_delimiter(first, len(spec.columns), spec.sep)
        if other:
            raise _wrong_delimiter(spec, "line 1", other)
        raise fail(spec.path, f"line 1 has {len(fields)} {spec.sep_name}-separated fields, expected {len(spec.columns)} "
                              f"({', '.join(spec.columns)})", spec.fix)
    return list(spec.columns), 0


def _header_names(spec: TableSpec, first: str) -> list[str]:
    found = [c.strip() for c in first.split(spec.sep)]
    missing = [c for c in spec.wanted if c not in found]
    if missing:
        other = _guess_delimiter(first, spec.wanted, spec.sep)
        if other:
            raise _wrong_delimiter(spec, "the header", other)
        raise fail(spec.path, f"missing column {missing[0]!r} (header has: {', '.join(found)})",
                   f"use the original file, whose header has the columns {', '.join(spec.wanted)}")
    if len(set(found)) != len(found):
        duplicated = sorted({c for c in found if found.count(c) > 1})
        raise fail(spec.path, f"column {duplicated[0]!r} appears twice in the header", "keep one column per name")
    return found


# --------------------------------------------------------------------------
# Validating the values
# --------------------------------------------------------------------------


def _line_number(index_label: int, skipped: int) -> int:
    # Blank lines are kept as rows (skip_blank_lines=False), so the row label
    # maps one-to-one onto the physical line.
    return int(index_label) + skipped + 1


def _first_bad(chunk: pd.DataFrame, mask: pd.Series | np.ndarray) -> tuple[int, object] | None:
    positions = np.flatnonzero(np.asarray(mask))
    if positions.size == 0:
        return None
    return positions[0], chunk.index[positions[0]]


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return repr(text) if isinstance(value, str) else text


@dataclass
class _Chunk:
    """One chunk of a table being validated; :meth:`reject` reports its first bad line."""

    spec: TableSpec
    rows: pd.DataFrame
    skipped: int

    def reject(self, mask, column: str, problem: str, fix: str) -> None:
        bad = _first_bad(self.rows, mask)
        if bad is None:
            return
        position, label = bad
        value = self.rows[column].iloc[position] if column in self.rows else None
        shown = "" if value is None or (isinstance(value, float) and math.isnan(value)) else f" ({_show(value)})"
        raise fail(self.spec.path, f"column {column!r} {problem}{shown} at line {_line_number(label, self.skipped)}", fix)

    def ids(self, column: str) -> np.ndarray:
        values = self.rows[column]
        self.reject(values.isna(), column, "is empty", f"every row needs a {column}; {self.spec.fix}")
        integral = values.to_numpy() == np.floor(values.to_numpy())
        self.reject(~integral, column, "is not an integer id", f"ids must be whole numbers; {self.spec.fix}")
        return values.to_numpy().astype(np.int64)

    def labels(self, column: str) -> np.ndarray:
        values = self.rows[column]
        self.reject(values.isna(), column, "is empty", f"labels must be 0 or 1; {self.spec.fix}")
        self.reject(~values.isin((0.0, 1.0)), column, "is outside {0, 1}", f"labels must be 0 or 1; {self.spec.fix}")
        return values.to_numpy().astype(np.int8)

    def amounts(self, column: str) -> np.ndarray:
        values = self.rows[column]
        self.reject(values.isna(), column, "is empty", f"every row needs a {column}; {self.spec.fix}")
        self.reject(values < 0, column, "is negative", f"{column} must be >= 0; {self.spec.fix}")
        return values.to_numpy()

    def durations(self, column: str) -> np.ndarray:
        values = self.rows[column]
        self.reject(values < 0, column, "is a negative duration",
                    f"durations must be >= 0 (leave the field empty or 0 when unknown); {self.spec.fix}")
        return values.to_numpy()

    def texts(self, column: str) -> np.ndarray:
        return self.rows[column].to_numpy()


def _validate_chunk(spec: TableSpec, chunk: pd.DataFrame, skipped: int) -> pd.DataFrame:
    blank = chunk.isna().all(axis=1).to_numpy()
    # A line whose loaded fields are all empty (in practice a blank line, e.g.
    # at the end of a hand-edited file) carries no sample; skip it quietly.
    if blank.any():
        chunk = chunk[~blank]
    checked = _Chunk(spec, chunk, skipped)
    out = {}
    # Role by role, in this order, so the first problem reported is always the same one.
    for role in ("ids", "labels", "amounts", "durations", "texts"):
        for column in getattr(spec, role):
            out[column] = getattr(checked, role)(column)
    return pd.DataFrame(out, index=chunk.index)


def _diagnose_non_numeric(spec: TableSpec, names: list[str], skipped: int, error: Exception) -> ConversionError:
    """The fast parser only says "could not convert"; re-read as text to find
    the exact line and column. Runs only on the failure path."""
    reader = pd.read_csv(spec.path, sep=spec.sep, header=None, names=names, usecols=spec.numeric, skiprows=skipped,
                         dtype=str, index_col=False, skip_blank_lines=False, keep_default_na=False, na_values=[""],
                         chunksize=READ_CHUNK_ROWS, engine="c", encoding="utf-8-sig", encoding_errors="replace")
    for chunk in reader:
        for column in spec.numeric:
            text = chunk[column]
            parsed = pd.to_numeric(text, errors="coerce")
            bad = _first_bad(chunk, text.notna() & parsed.isna())
            if bad is not None:
                position, label = bad
                return fail(spec.path, f"column {column!r} has a non-numeric value {text.iloc[position]!r} "
                                       f"at line {_line_number(label, skipped)}",
                            f"{column} must be a number; check the delimiter and {spec.fix}")
    return fail(spec.path, f"could not parse the numeric columns ({error})", spec.fix)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def _check_file(spec: TableSpec) -> int:
    """The file's size, after checking that it exists and is not empty."""
    path = spec.path
    if not path.is_file():
        raise fail(path, "file not found", "download and extract the raw data set, then point --raw at it")
    size = path.stat().st_size
    if size == 0:
        raise fail(path, "the file is empty", f"{spec.fix} (the download or extraction was probably interrupted)")
    return size


def _read_chunks(spec: TableSpec, names: list[str], skipped: int, size: int, quiet: bool) -> list[pd.DataFrame]:
    # Every numeric column is parsed as float64 so that an empty field becomes
    # NaN (and is reported with its line) instead of aborting the parse.
    dtype = {c: np.float64 for c in spec.numeric}
    dtype.update({c: str for c in spec.texts})
    path = spec.path
    chunks = []
    with open(path, "rb") as handle, tqdm(total=size, unit="B", unit_scale=True, desc=f"read {path.name}",
                                          disable=True if quiet else None, leave=False) as bar:
        reader = pd.read_csv(handle, sep=spec.sep, header=None, names=names, usecols=spec.wanted,
                             skiprows=skipped, dtype=dtype, index_col=False, skip_blank_lines=False,
                             keep_default_na=False, na_values=[""], chunksize=READ_CHUNK_ROWS, engine="c",
                             encoding="utf-8-sig", encoding_errors="replace")
        try:
            for chunk in reader:
                chunks.append(_validate_chunk(spec, chunk, skipped))
                bar.update(handle.tell() - bar.n)
        except pd.errors.ParserError as error:
            raise fail(path, f"malformed line ({str(error).strip()})",
                       f"every line must have the same {spec.sep_name}-separated fields; {spec.fix}") from None
        except ValueError as error:
            raise _diagnose_non_numeric(spec, names, skipped, error) from None
        except UnicodeDecodeError as error:  # pragma: no cover - encoding_errors="replace" avoids it
            raise fail(path, f"not UTF-8 text ({error})", spec.fix) from None
    return chunks


def read_table(spec: TableSpec, quiet: bool = False) -> pd.DataFrame:
    """Read, validate and type one raw table with pandas' C parser in chunks.

    Ids come back as int64, labels as int8, amounts and durations as float64
    (durations may be NaN), texts as objects (NaN when empty).
    """
    size = _check_file(spec)
    names, skipped = _column_names(spec)
    chunks = _read_chunks(spec, names, skipped, size, quiet)
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    if frame.empty:
        raise fail(spec.path, "the file has no data rows",
                   f"{spec.fix} (the download or extraction was probably interrupted)")
    return frame


# --------------------------------------------------------------------------
# Normalizing text columns
# --------------------------------------------------------------------------


def numeric_token(values: pd.Series) -> pd.Series:
    """Normalize categorical ids read as text: "123.0" (written by tools that
    stored the ids as floats) becomes "123"; empty becomes MISSING_TOKEN."""
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text.fillna(MISSING_TOKEN).replace("", MISSING_TOKEN).astype(object)


def token_sequence(values: pd.Series, separator: str, keep_first_word: bool = True) -> pd.Series:
    """Turn ``a;b;c`` lists into RecBole's space-separated token_seq. With
    ``keep_first_word`` an entry such as ``"12 0.93"`` (id and score) keeps its id."""
    def convert(entry: object) -> str:
        if not isinstance(entry, str):
            return ""
        tokens = []
        for part in entry.split(separator):
            part = part.strip()
            if not part:
                continue
            tokens.append(part.split()[0] if keep_first_word else part.replace(" ", "_"))
        return " ".join(tokens)

    return values.map(convert).astype(object)


def token_features(ids: pd.Series, columns: dict[str, pd.Series]) -> tuple[pd.DataFrame, dict[str, str]]:
    """An item table ``item_id`` + categorical ``columns`` (normalised with :func:`numeric_token`), with their types."""
    features = pd.DataFrame({"item_id": ids.to_numpy()})
    for column, values in columns.items():
        features[column] = numeric_token(values).to_numpy()
    return features, {column: "token" for column in columns}
