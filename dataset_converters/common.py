"""Shared machinery of the dataset converters.

A dataset script (``kwai.py``, ``wechat.py``, ``kuairand.py``) declares a
:class:`DatasetSpec` and a ``load`` function that reads its raw files with
:func:`read_table` and returns one row per logged sample (:class:`LoadedData`).
:func:`convert` (behind :func:`main`, the command line) then

1. drops rows whose duration is missing (and counts them),
2. merges repeated (user, item) rows (or keeps them together, ``--duplicates keep``),
3. splits the (user, item) pairs at random with a seed, so that every pair
   lands in exactly one of train / valid / test (the paper's leakage rule),
4. discretizes the duration into K equal-frequency bins whose edges are fitted
   on the items of the training split only,
5. computes the statistics of the paper's Table 1, and
6. writes the RecBole atomic files, the dataset config, the statistics and the
   bin edges into a temporary folder that is renamed into place only when
   everything succeeded, so a failed run never leaves half a dataset behind.

Problems with the user's input raise :class:`ConversionError`, whose message
names the file, the column or line, and the fix; the command line prints it
without a traceback and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

DEFAULT_BINS = 6  # the paper discretizes video length into 6 values
DEFAULT_SEED = 0
DEFAULT_SPLIT = (0.6, 0.2, 0.2)  # the paper's 6:2:2
SPLIT_NAMES = ("train", "valid", "test")
TRAIN_LABEL = "finish"
CONFOUNDER_FIELD = "duration_level"
# Token written for an empty categorical value. RecBole would turn an empty
# token into its padding id, so an explicit token keeps "no value" a category.
MISSING_TOKEN = "empty"
UNASSIGNED = -1  # split code of rows the converter still has to assign
TEST = 2

READ_CHUNK_ROWS = 1_000_000  # bounds the parser's working memory
WRITE_CHUNK_ROWS = 1_000_000
_OTHER_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "space"}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")


class ConversionError(Exception):
    """A problem with the raw input, explained in one line: where, what, and the fix."""


def fail(where: object, problem: str, fix: str) -> ConversionError:
    """Build the uniform ``"<where>: <problem>; fix: <fix>"`` error."""
    return ConversionError(f"{where}: {problem}; fix: {fix}")


# --------------------------------------------------------------------------
# Dataset description
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset script declares about itself."""

    name: str  # default dataset name: output folder and file prefix
    title: str  # one line for --help
    eval_label: str  # evaluation label used by the paper (or our default)
    eval_label_choices: tuple[str, ...]
    topk: tuple[int, ...]  # the paper's top-K for this dataset
    duration_column: str  # raw column the confounder is derived from
    duration_unit: str

    @property
    def valid_metric(self) -> str:
        return f"ndcg@{self.topk[0]}"


@dataclass
class LoadedData:
    """Everything a dataset script extracts from its raw files.

    ``interactions`` has one row per logged sample with the columns
    ``user_id``, ``item_id`` (int64), ``finish`` and the evaluation label
    (0/1 int8), and ``duration`` (float64, NaN or 0 when missing). An optional
    ``split`` column pins rows to the test split (code 2); rows marked
    ``UNASSIGNED`` are split at random.
    """

    interactions: pd.DataFrame
    eval_label: str
    item_features: pd.DataFrame | None = None  # item_id + string columns
    item_feature_types: dict[str, str] = field(default_factory=dict)  # column -> token | token_seq
    # Value for items absent from the feature table (default: MISSING_TOKEN / empty sequence).
    item_feature_fill: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # dataset-specific row counts
    options: dict[str, object] = field(default_factory=dict)  # dataset-specific options used
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# Locating and reading raw files
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


def _column_names(spec: TableSpec) -> tuple[list[str], int]:
    """Check the first line and return (names for every field, lines to skip)."""
    path = spec.path
    first = _first_line(path)
    if spec.header:
        found = [c.strip() for c in first.split(spec.sep)]
        missing = [c for c in spec.wanted if c not in found]
        if missing:
            other = _guess_delimiter(first, spec.wanted, spec.sep)
            if other:
                raise fail(path, f"the header looks {other}-separated but this file must be {spec.sep_name}-separated",
                           f"save the file {spec.sep_name}-separated, as in the official download")
            raise fail(path, f"missing column {missing[0]!r} (header has: {', '.join(found)})",
                       f"use the original file, whose header has the columns {', '.join(spec.wanted)}")
        if len(set(found)) != len(found):
            duplicated = sorted({c for c in found if found.count(c) > 1})
            raise fail(path, f"column {duplicated[0]!r} appears twice in the header", "keep one column per name")
        return found, 1
    fields = first.split(spec.sep)
    if len(fields) != len(spec.columns):
        other = _guess_delimiter(first, len(spec.columns), spec.sep)
        if other:
            raise fail(path, f"line 1 looks {other}-separated but this file must be {spec.sep_name}-separated",
                       f"save the file {spec.sep_name}-separated, as in the official download")
        raise fail(path, f"line 1 has {len(fields)} {spec.sep_name}-separated fields, expected {len(spec.columns)} "
                         f"({', '.join(spec.columns)})", spec.fix)
    return list(spec.columns), 0


def _line_number(index_label: int, skipped: int) -> int:
    # Blank lines are kept as rows (skip_blank_lines=False), so the row label
    # maps one-to-one onto the physical line.
    return int(index_label) + skipped + 1


def _first_bad(chunk: pd.DataFrame, mask: pd.Series | np.ndarray) -> tuple[int, object] | None:
    positions = np.flatnonzero(np.asarray(mask))
    if positions.size == 0:
        return None
    return positions[0], chunk.index[positions[0]]


def _validate_chunk(spec: TableSpec, chunk: pd.DataFrame, skipped: int) -> pd.DataFrame:
    path = spec.path

    def where_line(mask, column, problem, fix):
        bad = _first_bad(chunk, mask)
        if bad is None:
            return
        position, label = bad
        value = chunk[column].iloc[position] if column in chunk else None
        shown = "" if value is None or (isinstance(value, float) and math.isnan(value)) else f" ({_show(value)})"
        raise fail(path, f"column {column!r} {problem}{shown} at line {_line_number(label, skipped)}", fix)

    blank = chunk.isna().all(axis=1).to_numpy()
    # A line whose loaded fields are all empty (in practice a blank line, e.g.
    # at the end of a hand-edited file) carries no sample; skip it quietly.
    if blank.any():
        chunk = chunk[~blank]

    out = {}
    for column in spec.ids:
        values = chunk[column]
        where_line(values.isna(), column, "is empty", f"every row needs a {column}; {spec.fix}")
        integral = values.to_numpy() == np.floor(values.to_numpy())
        where_line(~integral, column, "is not an integer id", f"ids must be whole numbers; {spec.fix}")
        out[column] = values.to_numpy().astype(np.int64)
    for column in spec.labels:
        values = chunk[column]
        where_line(values.isna(), column, "is empty", f"labels must be 0 or 1; {spec.fix}")
        where_line(~values.isin((0.0, 1.0)), column, "is outside {0, 1}", f"labels must be 0 or 1; {spec.fix}")
        out[column] = values.to_numpy().astype(np.int8)
    for column in spec.amounts:
        values = chunk[column]
        where_line(values.isna(), column, "is empty", f"every row needs a {column}; {spec.fix}")
        where_line(values < 0, column, "is negative", f"{column} must be >= 0; {spec.fix}")
        out[column] = values.to_numpy()
    for column in spec.durations:
        values = chunk[column]
        where_line(values < 0, column, "is a negative duration",
                   f"durations must be >= 0 (leave the field empty or 0 when unknown); {spec.fix}")
        out[column] = values.to_numpy()
    for column in spec.texts:
        out[column] = chunk[column].to_numpy()
    return pd.DataFrame(out, index=chunk.index)


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return repr(text) if isinstance(value, str) else text


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


def read_table(spec: TableSpec, quiet: bool = False) -> pd.DataFrame:
    """Read, validate and type one raw table with pandas' C parser in chunks.

    Ids come back as int64, labels as int8, amounts and durations as float64
    (durations may be NaN), texts as objects (NaN when empty).
    """
    path = spec.path
    if not path.is_file():
        raise fail(path, "file not found", "download and extract the raw data set, then point --raw at it")
    size = path.stat().st_size
    if size == 0:
        raise fail(path, "the file is empty", f"{spec.fix} (the download or extraction was probably interrupted)")
    names, skipped = _column_names(spec)
    # Every numeric column is parsed as float64 so that an empty field becomes
    # NaN (and is reported with its line) instead of aborting the parse.
    dtype = {c: np.float64 for c in spec.numeric}
    dtype.update({c: str for c in spec.texts})
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
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    if frame.empty:
        raise fail(path, "the file has no data rows", f"{spec.fix} (the download or extraction was probably interrupted)")
    return frame


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


# --------------------------------------------------------------------------
# Split, binning, statistics
# --------------------------------------------------------------------------


def pair_codes(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One int64 per (user, item) pair whose order does not depend on row order
    (codes come from the sorted distinct ids)."""
    user_code, user_values = pd.factorize(users, sort=True)
    item_code, item_values = pd.factorize(items, sort=True)
    return user_code.astype(np.int64) * np.int64(len(item_values)) + item_code.astype(np.int64)


def split_sizes(n: int, ratios: Sequence[float]) -> list[int]:
    """Sizes that add up to n, rounding the cumulative shares so no pair is lost."""
    total = float(sum(ratios))
    bounds = [0] + [int(round(n * float(np.sum(ratios[: i + 1])) / total)) for i in range(len(ratios))]
    bounds[-1] = n
    return [bounds[i + 1] - bounds[i] for i in range(len(ratios))]


def assign_pair_splits(pair_keys: np.ndarray, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Split code (0 train, 1 valid, 2 test) per row; all rows of a pair share it.

    The distinct pairs are taken in sorted order and shuffled with ``seed``, so
    the result depends only on the set of pairs and the seed, not on row order.
    """
    distinct, row_to_pair = np.unique(pair_keys, return_inverse=True)
    permutation = np.random.default_rng(seed).permutation(len(distinct))
    pair_split = np.empty(len(distinct), dtype=np.int8)
    start = 0
    for code, size in enumerate(split_sizes(len(distinct), ratios)):
        pair_split[permutation[start:start + size]] = code
        start += size
    return pair_split[row_to_pair.reshape(-1)]


def equal_frequency_edges(durations: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges that cut the given durations (one per item) into ``bins``
    groups of equal size.

    Edge i is the duration of the item at rank round(n * i / bins), so with
    "level = number of edges <= duration" exactly that many items fall below it.
    Edges are actual durations, which keeps every bin non-empty; equal edges,
    caused by many items sharing a duration, are merged into fewer bins.
    """
    n = len(durations)
    if n == 0:
        return np.array([], dtype=np.float64)
    ordered = np.sort(np.asarray(durations, dtype=np.float64))
    ranks = np.minimum((n * np.arange(1, bins) + bins // 2) // bins, n - 1)
    edges = np.unique(ordered[ranks])
    # An edge equal to the minimum would leave bin 0 empty.
    return edges[edges > ordered[0]]


def assign_levels(durations: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bin index = number of inner edges <= duration (0 .. len(edges))."""
    return np.searchsorted(inner_edges, durations, side="right").astype(np.int16)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation; None when either variable is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return None
    xc = x - x.mean()
    yc = y - y.mean()
    denominator = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if denominator == 0.0:
        return None
    return float(np.dot(xc, yc) / denominator)


@dataclass
class BuiltDataset:
    """The converted data, ready to be written."""

    inter: pd.DataFrame  # user_id, item_id, finish, <eval>, split (sorted by user, item)
    items: pd.DataFrame  # item_id, duration_level, extra item fields
    item_field_types: dict[str, str]
    eval_label: str
    inner_edges: np.ndarray
    stats: dict


def build(loaded: LoadedData, spec: DatasetSpec, bins: int, seed: int, ratios: Sequence[float],
          duplicates: str, quiet: bool = False) -> BuiltDataset:
    """Clean, de-duplicate, split and discretize (steps 1-5 of the module doc)."""
    frame = loaded.interactions
    eval_label = loaded.eval_label
    counts = dict(loaded.counts)
    if "split" not in frame:
        frame = frame.assign(split=np.int8(UNASSIGNED))

    steps = tqdm(total=5, desc="split and bin", disable=True if quiet else None, leave=False)
    # 1. Missing durations: the confounder (and the finish label) is undefined.
    missing = frame["duration"].isna().to_numpy() | (frame["duration"].to_numpy() == 0)
    counts["dropped_missing_duration"] = int(missing.sum())
    if missing.any():
        frame = frame[~missing]
    if frame.empty:
        raise fail(spec.duration_column, "every row has a missing or zero duration", "check that the duration column is filled in")

    keys = pair_codes(frame["user_id"].to_numpy(), frame["item_id"].to_numpy())
    # Pairs pinned to the test split (a separate unbiased log) must not also
    # appear in train/valid, so their other rows are dropped.
    pinned = frame["split"].to_numpy() == TEST
    if pinned.any() and (~pinned).any():
        leaking = np.isin(keys, np.unique(keys[pinned])) & ~pinned
        counts["dropped_rows_of_pairs_in_fixed_test"] = int(leaking.sum())
        frame, keys = frame[~leaking], keys[~leaking]
    steps.update()

    # 2. Repeated (user, item) rows. Sorting by the pair code also fixes the
    # output order independently of the raw row order.
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    columns = {c: frame[c].to_numpy()[order] for c in ("user_id", "item_id", "finish", eval_label, "duration", "split")}
    item_duration = pd.Series(columns["duration"]).groupby(columns["item_id"]).median()
    first_of_pair = np.ones(len(keys), dtype=bool)
    first_of_pair[1:] = keys[1:] != keys[:-1]
    repeated = int(len(keys) - first_of_pair.sum())
    counts["duplicate_rows_merged" if duplicates == "merge" else "duplicate_rows_kept"] = repeated
    if duplicates == "merge" and repeated:
        starts = np.flatnonzero(first_of_pair)
        # A pair is positive if any of its logged views was (finished / liked ...).
        for label in ("finish", eval_label):
            columns[label] = np.maximum.reduceat(columns[label], starts)
        for name in ("user_id", "item_id", "split"):
            columns[name] = columns[name][starts]
        keys = keys[starts]
    columns.pop("duration")
    steps.update()

    # 3. Split the pairs that are not pinned.
    split = columns["split"]
    free = split == UNASSIGNED
    if pinned.any():
        # Only train and valid are drawn; their 6:2 proportion is kept.
        free_ratios = (ratios[0], ratios[1], 0.0)
    else:
        free_ratios = tuple(ratios)
    split[free] = assign_pair_splits(keys[free], free_ratios, seed)
    inter = pd.DataFrame(columns)
    steps.update()

    # 4. Bin edges from the items of the training split only, so nothing about
    # valid/test leaks into the confounder's definition.
    train_items = np.unique(inter["item_id"].to_numpy()[split == 0])
    if train_items.size == 0:
        raise fail("split", "the training split is empty", "provide more interactions or a larger train share in --split")
    inner_edges = equal_frequency_edges(item_duration.loc[train_items].to_numpy(), bins)
    all_items = item_duration.index.to_numpy()
    item_level = assign_levels(item_duration.to_numpy(), inner_edges)
    items = pd.DataFrame({"item_id": all_items, CONFOUNDER_FIELD: item_level})
    field_types = {}
    if loaded.item_features is not None:
        features = loaded.item_features.drop_duplicates("item_id")
        items = items.merge(features, on="item_id", how="left")
        for column, kind in loaded.item_feature_types.items():
            filler = loaded.item_feature_fill.get(column, MISSING_TOKEN if kind == "token" else "")
            items[column] = items[column].fillna(filler)
            field_types[column] = kind
    steps.update()

    # 5. Table 1 statistics over all samples.
    row_level = item_level[np.searchsorted(all_items, inter["item_id"].to_numpy())]
    stats = table1_statistics(spec, inter, eval_label, row_level, inner_edges, bins, item_duration, train_items, counts)
    stats["notes"] = list(loaded.notes)
    if len(inner_edges) + 1 < bins:
        stats["notes"].append(f"only {len(inner_edges) + 1} of the {bins} requested bins are distinct: "
                              f"many training items share the same duration")
    steps.update()
    steps.close()
    return BuiltDataset(inter=inter, items=items, item_field_types=field_types, eval_label=eval_label,
                        inner_edges=inner_edges, stats=stats)


def _rate(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def table1_statistics(spec: DatasetSpec, inter: pd.DataFrame, eval_label: str, row_level: np.ndarray,
                      inner_edges: np.ndarray, bins: int, item_duration: pd.Series, train_items: np.ndarray,
                      counts: dict[str, int]) -> dict:
    finish = inter["finish"].to_numpy()
    evaluation = inter[eval_label].to_numpy()
    split = inter["split"].to_numpy()
    rho1 = pearson(row_level, finish)
    rho2 = pearson(row_level, evaluation)
    row_duration = item_duration.to_numpy()[np.searchsorted(item_duration.index.to_numpy(), inter["item_id"].to_numpy())]
    train_durations = item_duration.loc[train_items].to_numpy()
    splits = {}
    for code, name in enumerate(SPLIT_NAMES):
        mask = split == code
        splits[name] = {
            "samples": int(mask.sum()),
            "users": int(pd.unique(inter["user_id"].to_numpy()[mask]).size),
            "items": int(pd.unique(inter["item_id"].to_numpy()[mask]).size),
            f"{TRAIN_LABEL}_rate": _rate(finish[mask]),
            f"{eval_label}_rate": _rate(evaluation[mask]),
        }
    return {
        "users": int(pd.unique(inter["user_id"].to_numpy()).size),
        "items": int(pd.unique(inter["item_id"].to_numpy()).size),
        "samples": int(len(inter)),
        "train_label": TRAIN_LABEL,
        "eval_label": eval_label,
        f"{TRAIN_LABEL}_rate": _rate(finish),
        f"{eval_label}_rate": _rate(evaluation),
        "confounder": CONFOUNDER_FIELD,
        "bins_requested": int(bins),
        "bins": int(len(inner_edges) + 1),
        "bin_edges": [float(train_durations.min()), *map(float, inner_edges), float(train_durations.max())],
        "duration_unit": spec.duration_unit,
        "rho1": rho1,
        "rho2": rho2,
        "abs_rho1_over_rho2": abs(rho1 / rho2) if rho1 is not None and rho2 not in (None, 0.0) else None,
        # The same correlations with the raw (undiscretized) duration, for reference.
        "rho1_raw_duration": pearson(row_duration, finish),
        "rho2_raw_duration": pearson(row_duration, evaluation),
        "splits": splits,
        "counts": counts,
    }


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def dataset_config_text(spec: DatasetSpec, eval_label: str, comments: Sequence[str] = ()) -> str:
    """The dataset YAML that ``run_recbole_dcr.py --dataset=<name>`` reads."""
    lines = [f"# {c}" if c else "#" for c in comments]
    lines += [
        "USER_ID_FIELD: user_id",
        "ITEM_ID_FIELD: item_id",
        f"TRAIN_LABEL_FIELD: {TRAIN_LABEL}",
        f"EVAL_LABEL_FIELD: {eval_label}",
        f"CONFOUNDER_FIELD: {CONFOUNDER_FIELD}",
        "load_col: ~",
        "benchmark_filename: [train, valid, test]",
        f"topk: [{', '.join(str(k) for k in spec.topk)}]",
        f"valid_metric: {spec.valid_metric}",
    ]
    return "\n".join(lines) + "\n"


def _write_atomic_file(frame: pd.DataFrame, header: Sequence[str], path: Path, quiet: bool) -> None:
    """RecBole atomic file: tab-separated, header ``name:type``, no index."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(header) + "\n")
        with tqdm(total=len(frame), unit="rows", unit_scale=True, desc=f"write {path.name}",
                  disable=True if quiet else None, leave=False) as bar:
            for start in range(0, len(frame), WRITE_CHUNK_ROWS):
                part = frame.iloc[start:start + WRITE_CHUNK_ROWS]
                part.to_csv(handle, sep="\t", header=False, index=False, lineterminator="\n")
                bar.update(len(part))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(type(value))


def write_dataset(built: BuiltDataset, spec: DatasetSpec, folder: Path, name: str, comments: Sequence[str],
                  quiet: bool) -> None:
    eval_label = built.eval_label
    inter_header = ["user_id:token", "item_id:token", f"{TRAIN_LABEL}:float", f"{eval_label}:float"]
    split = built.inter["split"].to_numpy()
    for code, split_name in enumerate(SPLIT_NAMES):
        rows = built.inter.loc[split == code, ["user_id", "item_id", TRAIN_LABEL, eval_label]]
        _write_atomic_file(rows, inter_header, folder / f"{name}.{split_name}.inter", quiet)
    item_header = ["item_id:token", f"{CONFOUNDER_FIELD}:token"]
    item_header += [f"{column}:{kind}" for column, kind in built.item_field_types.items()]
    _write_atomic_file(built.items, item_header, folder / f"{name}.item", quiet)
    (folder / f"{name}.yaml").write_text(dataset_config_text(spec, eval_label, comments), encoding="utf-8")
    stats = built.stats
    bins = {
        "field": CONFOUNDER_FIELD,
        "source": spec.duration_column,
        "unit": spec.duration_unit,
        "bins_requested": stats["bins_requested"],
        "bins": stats["bins"],
        "inner_edges": [float(e) for e in built.inner_edges],
        "edges": stats["bin_edges"],
        "rule": "duration_level = number of inner_edges <= the item's duration "
                "(items outside [edges[0], edges[-1]] fall into the first or last bin)",
        "fitted_on": "one duration per item (median over its rows), items of the training split only; "
                     "inner edge i is the duration of the item at rank round(n * i / K) (equal frequency)",
    }
    with open(folder / f"{name}.bins.json", "w", encoding="utf-8") as handle:
        json.dump(bins, handle, indent=2)
        handle.write("\n")
    with open(folder / f"{name}.stats.json", "w", encoding="utf-8") as handle:
        json.dump(stats, handle, indent=2, default=_json_default)
        handle.write("\n")


def check_destination(out: Path, name: str, force: bool) -> Path:
    final = out / name
    if out.exists() and not out.is_dir():
        raise fail(out, "--out exists and is not a folder", "choose a folder for --out")
    if final.exists() and not force:
        raise fail(final, "output folder already exists", "pass --force to replace it, or choose another --out or --name")
    return final


def write_all_or_nothing(out: Path, name: str, force: bool, write: Callable[[Path], None]) -> Path:
    """Write into a hidden temporary folder next to the destination, then
    rename it into place, so readers never see a half-written dataset."""
    final = check_destination(out, name, force)
    created_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=out))
    try:
        # mkdtemp creates a private (0700) folder; give the dataset the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        write(staging)
        if final.exists():
            retired = out / f".{name}.replaced-{os.getpid()}"
            final.rename(retired)
            staging.rename(final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_out:
            try:
                out.rmdir()  # only succeeds if nothing else is in it
            except OSError:
                pass
        raise
    return final


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def build_parser(spec: DatasetSpec, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python dataset_converters/{spec.name}.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw", required=True, type=Path, metavar="DIR", help="folder holding the extracted raw download")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="parent output folder; the dataset goes to DIR/<name>/ (give DIR to run_recbole_dcr.py as --data_path)")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS, metavar="K",
                        help=f"number of equal-frequency duration bins (default {DEFAULT_BINS}, as in the paper)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the random split (default {DEFAULT_SEED})")
    parser.add_argument("--split", type=float, nargs=3, default=list(DEFAULT_SPLIT), metavar=("TRAIN", "VALID", "TEST"),
                        help="shares of the (user, item) pairs per split (default 0.6 0.2 0.2, the paper's 6:2:2)")
    parser.add_argument("--eval-label", choices=spec.eval_label_choices, default=spec.eval_label,
                        help=f"raw column used as the evaluation label (default {spec.eval_label})")
    parser.add_argument("--duplicates", choices=("merge", "keep"), default="merge",
                        help="repeated (user, item) rows: merge them into one sample whose labels are the maximum "
                             "(default), or keep every row (all rows of a pair still go to the same split)")
    parser.add_argument("--name", default=spec.name, help=f"dataset name, i.e. folder and file prefix (default {spec.name})")
    parser.add_argument("--force", action="store_true", help="replace DIR/<name>/ if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (the statistics are still printed)")
    return parser


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.bins < 2:
        parser.error("--bins must be at least 2")
    if any(share < 0 for share in args.split) or args.split[0] <= 0:
        parser.error("--split shares must be >= 0 with a positive training share")
    if not _NAME_PATTERN.match(args.name):
        parser.error("--name may only contain letters, digits, '_' and '-'")


def parse_arguments(spec: DatasetSpec, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                    argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser(spec, description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    return args


def _format_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _format_rho(value: float | None) -> str:
    return "undefined (a variable is constant)" if value is None else f"{value:+.4f}"


def format_table1(name: str, stats: dict) -> str:
    eval_label = stats["eval_label"]
    splits = stats["splits"]
    ratio = stats["abs_rho1_over_rho2"]
    bins = f"{stats['bins']}" + ("" if stats["bins"] == stats["bins_requested"] else f" (requested {stats['bins_requested']})")
    rows = [
        ("#users", f"{stats['users']:,}"),
        ("#items", f"{stats['items']:,}"),
        ("#samples", f"{stats['samples']:,}  (train {splits['train']['samples']:,} / valid {splits['valid']['samples']:,}"
                     f" / test {splits['test']['samples']:,})"),
        (f"{TRAIN_LABEL} rate", f"{_format_rate(stats[f'{TRAIN_LABEL}_rate'])}  (training label)"),
        (f"{eval_label} rate", f"{_format_rate(stats[f'{eval_label}_rate'])}  (evaluation label)"),
        ("K", bins),
        (f"bin edges ({stats['duration_unit']})", " ".join(f"{e:g}" for e in stats["bin_edges"])),
        (f"rho1 = Pearson(A, {TRAIN_LABEL})", _format_rho(stats["rho1"])),
        (f"rho2 = Pearson(A, {eval_label})", _format_rho(stats["rho2"])),
        ("|rho1/rho2|", "n/a" if ratio is None else f"{ratio:.2f}"),
    ]
    rows += [(key.replace("_", " "), f"{value:,}") for key, value in stats["counts"].items()]
    width = max(len(label) for label, _ in rows)
    lines = [f"Table 1 statistics for {name} (A = {stats['confounder']})"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    lines += [f"  note: {note}" for note in stats.get("notes", [])]
    return "\n".join(lines)


def convert(spec: DatasetSpec, load: Callable[[argparse.Namespace], LoadedData], args: argparse.Namespace) -> dict:
    """Run one conversion; raises ConversionError on bad input. Returns the statistics."""
    started = time.perf_counter()
    check_destination(args.out, args.name, args.force)  # fail before the slow part
    require_dir(args.raw)
    loaded = load(args)
    built = build(loaded, spec, bins=args.bins, seed=args.seed, ratios=args.split, duplicates=args.duplicates,
                  quiet=args.quiet)
    options = {
        "bins": args.bins,
        "seed": args.seed,
        "split": list(args.split),
        "eval_label": loaded.eval_label,
        "duplicates": args.duplicates,
        **loaded.options,
    }
    built.stats["dataset"] = args.name
    built.stats["options"] = options
    comments = [
        f"Dataset config for '{args.name}', written by dataset_converters/{spec.name}.py.",
        "Options: " + ", ".join(f"{k}={v}" for k, v in options.items()),
    ]
    final = write_all_or_nothing(args.out, args.name, args.force,
                                 lambda folder: write_dataset(built, spec, folder, args.name, comments, args.quiet))
    built.stats["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(format_table1(args.name, built.stats))
    print(f"wrote {final}/")
    command = f"python run_recbole_dcr.py --model=DCRMoE --dataset={args.name} --data_path={args.out}"
    if args.name != spec.name or loaded.eval_label != spec.eval_label:
        # The shipped properties/dataset/<name>.yaml does not describe this variant.
        command += f" --config_files={final / (args.name + '.yaml')}"
    print(f"next: {command}")
    return built.stats


def main(spec: DatasetSpec, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
         load: Callable[[argparse.Namespace], LoadedData], argv: Sequence[str] | None = None) -> int:
    """Entry point shared by the dataset scripts: exit status 0 on success,
    2 with a one-line message (no traceback) on bad input."""
    args = parse_arguments(spec, description, add_arguments, argv)
    try:
        convert(spec, load, args)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; fix: run on a machine with more RAM or convert a subset of the raw files",
              file=sys.stderr)
        return 2
    return 0
