"""Writing a converted dataset: the RecBole atomic files, the dataset config,
the bin edges and the statistics, all into one folder that appears whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from recbole_dcr.converters.build import BuiltDataset
from recbole_dcr.converters.errors import fail
from recbole_dcr.converters.spec import CONFOUNDER_FIELD, SPLIT_NAMES, TRAIN_LABEL, DatasetSpec
from recbole_dcr.files import atomic_folder

WRITE_CHUNK_ROWS = 1_000_000


def dataset_config_text(spec: DatasetSpec, eval_label: str, comments: Sequence[str] = ()) -> str:
    """The dataset YAML that ``recbole-dcr train --dataset=<name>`` reads."""
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


def _write_json(record: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, default=_json_default)
        handle.write("\n")


def _write_inter_files(built: BuiltDataset, folder: Path, name: str, quiet: bool) -> None:
    """One ``<name>.<split>.inter`` per split (RecBole's benchmark_filename)."""
    eval_label = built.eval_label
    header = ["user_id:token", "item_id:token", f"{TRAIN_LABEL}:float", f"{eval_label}:float"]
    split = built.inter["split"].to_numpy()
    for code, split_name in enumerate(SPLIT_NAMES):
        rows = built.inter.loc[split == code, ["user_id", "item_id", TRAIN_LABEL, eval_label]]
        _write_atomic_file(rows, header, folder / f"{name}.{split_name}.inter", quiet)


def _bins_record(built: BuiltDataset, spec: DatasetSpec) -> dict:
    """How the duration level was made, so the bins can be reproduced."""
    stats = built.stats
    return {
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


def write_dataset(built: BuiltDataset, spec: DatasetSpec, folder: Path, name: str, comments: Sequence[str],
                  quiet: bool) -> None:
    """Every file of the dataset ``name`` into ``folder``."""
    _write_inter_files(built, folder, name, quiet)
    item_header = ["item_id:token", f"{CONFOUNDER_FIELD}:token"]
    item_header += [f"{column}:{kind}" for column, kind in built.item_field_types.items()]
    _write_atomic_file(built.items, item_header, folder / f"{name}.item", quiet)
    (folder / f"{name}.yaml").write_text(dataset_config_text(spec, built.eval_label, comments), encoding="utf-8")
    _write_json(_bins_record(built, spec), folder / f"{name}.bins.json")
    _write_json(built.stats, folder / f"{name}.stats.json")


def check_destination(out: Path, name: str, force: bool) -> Path:
    """``out/name``, after checking that it may be written (called before the slow part, too)."""
    final = out / name
    if out.exists() and not out.is_dir():
        raise fail(out, "--out exists and is not a folder", "choose a folder for --out")
    if final.exists() and not force:
        raise fail(final, "output folder already exists", "pass --force to replace it, or choose another --out or --name")
    return final


def write_all_or_nothing(out: Path, name: str, force: bool, write: Callable[[Path], None]) -> Path:
    """Have ``write`` fill a staging folder that replaces ``out/name`` only when it
    returns, so readers never see a half-written dataset and a failed run keeps
    the older output. A ``--out`` folder made for this run goes again on failure."""
    final = check_destination(out, name, force)
    created_out = not out.exists()
    try:
        with atomic_folder(final) as staging:
            write(Path(staging))
    except BaseException:
        if created_out:
            _remove_if_empty(out)
        raise
    return final


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds if nothing else is in it
    except OSError:
        pass
