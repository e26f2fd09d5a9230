"""From the loaded rows to the converted dataset: steps 1-5 of the package doc.

:func:`build` runs one function per step; each step records what it dropped or
merged in ``counts``, which ends up in the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from recbole_dcr.converters.errors import fail
from recbole_dcr.converters.spec import CONFOUNDER_FIELD, MISSING_TOKEN, TEST, UNASSIGNED, DatasetSpec, LoadedData
from recbole_dcr.converters.split import assign_levels, assign_pair_splits, equal_frequency_edges, pair_codes
from recbole_dcr.converters.stats import table1_statistics

_PAIR_COLUMNS = ("user_id", "item_id", "split")  # what identifies a sample besides its labels


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
    """Clean, de-duplicate, split and discretize (steps 1-5 of the package doc)."""
    eval_label = loaded.eval_label
    counts = dict(loaded.counts)
    with tqdm(total=5, desc="split and bin", disable=True if quiet else None, leave=False) as steps:
        frame = loaded.interactions
        if "split" not in frame:  # nothing pinned: every row is split at random
            frame = frame.assign(split=np.int8(UNASSIGNED))
        frame = drop_missing_durations(frame, spec, counts)
        frame, keys = drop_rows_of_fixed_test_pairs(frame, counts)
        steps.update()
        columns, keys = sort_by_pair(frame, keys, eval_label)
        item_duration = item_durations(columns.pop("duration"), columns["item_id"])
        columns, keys = merge_duplicates(columns, keys, eval_label, duplicates, counts)
        steps.update()
        inter = split_pairs(columns, keys, ratios, seed)
        steps.update()
        train_items = training_items(inter)
        inner_edges = equal_frequency_edges(item_duration.loc[train_items].to_numpy(), bins)
        items, field_types = item_table(item_duration, inner_edges, loaded)
        steps.update()
        stats = statistics(spec, loaded, inter, item_duration, inner_edges, train_items, bins, counts)
        steps.update()
    return BuiltDataset(inter=inter, items=items, item_field_types=field_types, eval_label=eval_label,
                        inner_edges=inner_edges, stats=stats)


def drop_missing_durations(frame: pd.DataFrame, spec: DatasetSpec, counts: dict[str, int]) -> pd.DataFrame:
    """Step 1: without a duration the confounder (and the finish label) is undefined."""
    missing = frame["duration"].isna().to_numpy() | (frame["duration"].to_numpy() == 0)
    counts["dropped_missing_duration"] = int(missing.sum())
    if missing.any():
        frame = frame[~missing]
    if frame.empty:
        raise fail(spec.duration_column, "every row has a missing or zero duration", "check that the duration column is filled in")
    return frame


def drop_rows_of_fixed_test_pairs(frame: pd.DataFrame, counts: dict[str, int]) -> tuple[pd.DataFrame, np.ndarray]:
    """Pairs pinned to the test split (a separate unbiased log) must not also
    appear in train/valid, so their other rows are dropped. Returns the rows
    left and their pair codes."""
    keys = pair_codes(frame["user_id"].to_numpy(), frame["item_id"].to_numpy())
    pinned = frame["split"].to_numpy() == TEST
    if pinned.any() and (~pinned).any():
        leaking = np.isin(keys, np.unique(keys[pinned])) & ~pinned
        counts["dropped_rows_of_pairs_in_fixed_test"] = int(leaking.sum())
        frame, keys = frame[~leaking], keys[~leaking]
    return frame, keys


def sort_by_pair(frame: pd.DataFrame, keys: np.ndarray, eval_label: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The columns still needed, as arrays sorted by pair code. Sorting puts the
    rows of a pair next to each other and fixes the output order independently
    of the raw row order."""
    order = np.argsort(keys, kind="stable")
    names = ("user_id", "item_id", "finish", eval_label, "duration", "split")
    return {c: frame[c].to_numpy()[order] for c in names}, keys[order]


def item_durations(durations: np.ndarray, item_ids: np.ndarray) -> pd.Series:
    """One duration per item (the median over its rows), indexed by sorted item id."""
    return pd.Series(durations).groupby(item_ids).median()


def merge_duplicates(columns: dict[str, np.ndarray], keys: np.ndarray, eval_label: str, duplicates: str,
                     counts: dict[str, int]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Step 2: repeated (user, item) rows (sorted by pair) become one sample, or stay with --duplicates keep."""
    first_of_pair = np.ones(len(keys), dtype=bool)
    first_of_pair[1:] = keys[1:] != keys[:-1]
    repeated = int(len(keys) - first_of_pair.sum())
    counts["duplicate_rows_merged" if duplicates == "merge" else "duplicate_rows_kept"] = repeated
    if duplicates != "merge" or not repeated:
        return columns, keys
    starts = np.flatnonzero(first_of_pair)
    # A pair is positive if any of its logged views was (finished / liked ...).
    for label in ("finish", eval_label):
        columns[label] = np.maximum.reduceat(columns[label], starts)
    for name in _PAIR_COLUMNS:
        columns[name] = columns[name][starts]
    return columns, keys[starts]


def split_pairs(columns: dict[str, np.ndarray], keys: np.ndarray, ratios: Sequence[float], seed: int) -> pd.DataFrame:
    """Step 3: draw the split of the pairs that are not pinned to the test split."""
    split = columns["split"]
    free = split == UNASSIGNED
    # Rows pinned to the test split are all that is left of a fixed test log
    # (see drop_rows_of_fixed_test_pairs): then only train and valid are drawn,
    # and their 6:2 proportion is kept.
    if (split == TEST).any():
        free_ratios = (ratios[0], ratios[1], 0.0)
    else:
        free_ratios = tuple(ratios)
    split[free] = assign_pair_splits(keys[free], free_ratios, seed)
    return pd.DataFrame(columns)


def training_items(inter: pd.DataFrame) -> np.ndarray:
    """The items of the training split: the bin edges are fitted on them only,
    so nothing about valid/test leaks into the confounder's definition."""
    train_items = np.unique(inter["item_id"].to_numpy()[inter["split"].to_numpy() == 0])
    if train_items.size == 0:
        raise fail("split", "the training split is empty", "provide more interactions or a larger train share in --split")
    return train_items


def item_table(item_duration: pd.Series, inner_edges: np.ndarray, loaded: LoadedData) -> tuple[pd.DataFrame, dict[str, str]]:
    """Step 4: every item with its duration level and the dataset's item features
    (filled in for items the feature table lacks). Returns the table and the feature types."""
    items = pd.DataFrame({"item_id": item_duration.index.to_numpy(),
                          CONFOUNDER_FIELD: assign_levels(item_duration.to_numpy(), inner_edges)})
    field_types = {}
    if loaded.item_features is not None:
        features = loaded.item_features.drop_duplicates("item_id")
        items = items.merge(features, on="item_id", how="left")
        for column, kind in loaded.item_feature_types.items():
            filler = loaded.item_feature_fill.get(column, MISSING_TOKEN if kind == "token" else "")
            items[column] = items[column].fillna(filler)
            field_types[column] = kind
    return items, field_types


def statistics(spec: DatasetSpec, loaded: LoadedData, inter: pd.DataFrame, item_duration: pd.Series,
               inner_edges: np.ndarray, train_items: np.ndarray, bins: int, counts: dict[str, int]) -> dict:
    """Step 5: Table 1 statistics over all samples, with the loader's notes."""
    item_level = assign_levels(item_duration.to_numpy(), inner_edges)
    row_level = item_level[np.searchsorted(item_duration.index.to_numpy(), inter["item_id"].to_numpy())]
    stats = table1_statistics(spec, inter, loaded.eval_label, row_level, inner_edges, bins, item_duration,
                              train_items, counts)
    stats["notes"] = list(loaded.notes)
    if len(inner_edges) + 1 < bins:
        stats["notes"].append(f"only {len(inner_edges) + 1} of the {bins} requested bins are distinct: "
                              f"many training items share the same duration")
    return stats
