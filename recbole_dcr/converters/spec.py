"""What a dataset module declares (:class:`DatasetSpec`) and returns (:class:`LoadedData`),
and the names and defaults every converted dataset shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset module declares about itself."""

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
    """Everything a dataset module extracts from its raw files.

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


def interaction_table(users: np.ndarray, items: np.ndarray, finish: np.ndarray, eval_label: str,
                      evaluation: np.ndarray, duration: np.ndarray, split: np.ndarray | None = None) -> pd.DataFrame:
    """``LoadedData.interactions`` from its columns (``finish`` is cast to 0/1 int8)."""
    columns = {"user_id": users, "item_id": items, "finish": finish.astype(np.int8), eval_label: evaluation,
               "duration": duration}
    if split is not None:
        columns["split"] = split
    return pd.DataFrame(columns)
