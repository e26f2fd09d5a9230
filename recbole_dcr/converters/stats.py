"""The statistics of the paper's Table 1 for a converted dataset, and their printed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recbole_dcr.converters.spec import CONFOUNDER_FIELD, SPLIT_NAMES, TRAIN_LABEL, DatasetSpec
from recbole_dcr.overlap import content_overlap, shuffled_reference  # numpy only


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


def _rate(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _split_statistics(inter: pd.DataFrame, eval_label: str) -> dict:
    """Samples, users, items and label rates of each split."""
    finish = inter[TRAIN_LABEL].to_numpy()
    evaluation = inter[eval_label].to_numpy()
    split = inter["split"].to_numpy()
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
    return splits


def table1_statistics(spec: DatasetSpec, inter: pd.DataFrame, eval_label: str, row_level: np.ndarray,
                      inner_edges: np.ndarray, bins: int, item_duration: pd.Series, train_items: np.ndarray,
                      counts: dict[str, int]) -> dict:
    """Table 1 over all samples: sizes, label rates, bin edges and rho1 / rho2
    (Pearson correlation of the binned confounder with each label)."""
    finish = inter[TRAIN_LABEL].to_numpy()
    evaluation = inter[eval_label].to_numpy()
    rho1 = pearson(row_level, finish)
    rho2 = pearson(row_level, evaluation)
    row_duration = item_duration.to_numpy()[np.searchsorted(item_duration.index.to_numpy(), inter["item_id"].to_numpy())]
    train_durations = item_duration.loc[train_items].to_numpy()
    splits = _split_statistics(inter, eval_label)
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


def overlap_statistics(inter: pd.DataFrame, items: pd.DataFrame, item_field_types: dict[str, str]) -> dict:
    """The overlap of the duration level given the item's content over the training rows (as
    ``recbole-dcr doctor`` computes it): content = the item's other token features combined into one
    key, or the item id where there are none. Keys: ``overlap`` (normalised: 1 = A independent of the
    content, 0 = set by it), ``overlap_raw``, ``overlap_reference`` (an A shuffled over the items),
    ``overlap_unsupported_share`` and ``overlap_content``."""
    content_columns = [column for column, kind in item_field_types.items() if kind == "token"]
    item_index = pd.Index(items["item_id"].to_numpy()).get_indexer(inter["item_id"].to_numpy()[inter["split"].to_numpy() == 0])
    rows_per_item = np.bincount(item_index, minlength=len(items)).astype(np.float64)
    if content_columns:
        content = items.groupby(content_columns, sort=False, dropna=False).ngroup().to_numpy()
    else:
        content = np.arange(len(items))
    level = items[CONFOUNDER_FIELD].to_numpy().astype(np.int64)
    k = int(level.max()) + 1 if level.size else 1
    result = content_overlap(content, level, k, rows_per_item)
    if result is None:
        return {}
    return {
        "overlap_content": "+".join(content_columns) or "item_id",
        "overlap": result["overlap"],
        "overlap_raw": result["overlap_raw"],
        "overlap_reference": shuffled_reference(content, level, k, rows_per_item),
        "overlap_unsupported_share": result["unsupported_share"],
    }


def _format_overlap(stats: dict) -> str:
    if stats["overlap_content"] == "item_id":
        return ("n/a: no item content feature besides the id, and one duration per item (0 by construction); "
                "recbole-dcr doctor explains")
    return (f"{stats['overlap']:.3f}  (content = {stats['overlap_content']}; 1 = A independent of it, 0 = set by it; "
            f"A shuffled over the items: {stats['overlap_reference']:.3f}; rows lacking a value: "
            f"{stats['overlap_unsupported_share']:.1%})")


def _format_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _format_rho(value: float | None) -> str:
    return "undefined (a variable is constant)" if value is None else f"{value:+.4f}"


def _table1_rows(stats: dict) -> list[tuple[str, str]]:
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
    if "overlap" in stats:
        rows.append(("overlap A|content (train)", _format_overlap(stats)))
    return rows + [(key.replace("_", " "), f"{value:,}") for key, value in stats["counts"].items()]


def format_table1(name: str, stats: dict) -> str:
    """The statistics as the aligned text block the converters print."""
    rows = _table1_rows(stats)
    width = max(len(label) for label, _ in rows)
    lines = [f"Table 1 statistics for {name} (A = {stats['confounder']})"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    lines += [f"  note: {note}" for note in stats.get("notes", [])]
    return "\n".join(lines)
