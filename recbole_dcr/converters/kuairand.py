"""KuaiRand (Kuaishou, 2022) -> RecBole atomic files.

Not one of the paper's data sets; it is public and, besides the usual
recommendation log, has a log of videos shown at random, which gives an
exposure-unbiased test split (``--random-test``).

Raw input (``--raw`` is the extracted KuaiRand-Pure / KuaiRand-1K folder or its
``data/``), comma-separated with a header:

* ``log_standard_*.csv`` and ``log_random_*.csv``: ``user_id, video_id, date,
  hourmin, time_ms, is_click, is_like, is_follow, is_comment, is_forward,
  is_hate, long_view, play_time_ms, duration_ms, profile_stay_time,
  comment_stay_time, is_profile_enter, is_rand, tab``
* optional ``video_features_basic_*.csv``: ``video_id, author_id, video_type,
  upload_dt, upload_type, visible_status, video_duration, server_width,
  server_height, music_id, music_type, tag``; without it items carry only their
  id and the duration from the log.

Labels: finish = play_time_ms >= duration_ms (training); is_like (evaluation).
Confounder: duration_ms from the log (0 means missing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_dcr.converters import cli
from recbole_dcr.converters.errors import ConversionError, fail  # noqa: F401  (ConversionError re-exported for callers)
from recbole_dcr.converters.read import TableSpec, locate_glob, read_table, token_features, token_sequence
from recbole_dcr.converters.spec import TEST, UNASSIGNED, DatasetSpec, LoadedData, interaction_table

SPEC = DatasetSpec(
    name="kuairand",
    title="KuaiRand",
    eval_label="is_like",
    eval_label_choices=("is_like", "is_follow", "is_comment", "is_forward", "is_click", "long_view",
                        "is_profile_enter", "is_hate"),
    topk=(10, 20),
    duration_column="duration_ms",
    duration_unit="ms",
)

LOG_FOLDERS = ("", "data/", "*/data/", "*/")
ITEM_TOKEN_FIELDS = ["author_id", "video_type", "upload_type", "visible_status", "music_id", "music_type"]
FIX = "use the log files exactly as extracted from the KuaiRand download"

DESCRIPTION = (__doc__ or "") + """
By default the train/valid/test split is drawn 6:2:2 from the standard logs and
the random logs are not used. With --random-test the test split is the random
log; train and valid are drawn from the standard logs in the --split ratio of
their shares, after removing the (user, video) pairs that are in the test split.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--random-test", action="store_true",
                        help="take the test split from log_random_*.csv (exposure-unbiased) instead of the standard logs")
    parser.add_argument("--no-video-features", action="store_true",
                        help="ignore video_features_basic_*.csv even if present")


def _find(raw: Path, stem: str) -> list[Path]:
    return locate_glob(raw, [f"{folder}{stem}_*.csv" for folder in LOG_FOLDERS])


def _read_logs(paths: list[Path], eval_label: str, quiet: bool) -> pd.DataFrame:
    frames = []
    for path in paths:
        frames.append(read_table(TableSpec(
            path=path, columns=["user_id", "video_id", "play_time_ms", "duration_ms", eval_label], header=True,
            sep=",", ids=["user_id", "video_id"], labels=[eval_label], amounts=["play_time_ms"],
            durations=["duration_ms"], fix=FIX), quiet=quiet))
    return pd.concat(frames, ignore_index=True)


def load(args: argparse.Namespace) -> LoadedData:
    standard_paths, random_paths = _log_paths(args.raw, args.random_test)
    notes = [f"standard logs: {', '.join(p.name for p in standard_paths)}"]
    if args.random_test:
        notes.append(f"test split = random-exposure logs: {', '.join(p.name for p in random_paths)}")
    elif random_paths:
        notes.append("random-exposure logs present but not used (pass --random-test to test on them)")
    test_paths = random_paths if args.random_test else []
    interactions, counts = _interactions(standard_paths, test_paths, args.eval_label, args.quiet)
    feature_paths = [] if args.no_video_features else _find(args.raw, "video_features_basic")
    features, types = None, {}
    if feature_paths:
        features, types = _video_features(feature_paths[0], args.quiet)
        notes.append(f"item features from {feature_paths[0].name}")
    return LoadedData(interactions=interactions, eval_label=args.eval_label, item_features=features,
                      item_feature_types=types, counts=counts, notes=notes,
                      options={"random_test": args.random_test, "video_features": bool(feature_paths)})


def _log_paths(raw: Path, random_test: bool) -> tuple[list[Path], list[Path]]:
    """The standard and the random-exposure logs; the random ones are required with --random-test."""
    standard_paths = _find(raw, "log_standard")
    if not standard_paths:
        raise fail(raw, "no log_standard_*.csv found", "point --raw at the extracted KuaiRand folder (or its data/ folder)")
    random_paths = _find(raw, "log_random")
    if random_test and not random_paths:
        raise fail(raw, "--random-test needs log_random_*.csv, which was not found",
                   "extract the random-exposure log next to the standard logs, or drop --random-test")
    return standard_paths, random_paths


def _interactions(standard_paths: list[Path], test_paths: list[Path], eval_label: str,
                  quiet: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows of the standard logs (split at random later), then those of
    ``test_paths`` pinned to the test split; and the row counts."""
    logs = _read_logs(standard_paths, eval_label, quiet)
    counts = {"raw_rows_standard": int(len(logs))}
    split = np.full(len(logs), UNASSIGNED, dtype=np.int8)
    if test_paths:
        random_logs = _read_logs(test_paths, eval_label, quiet)
        counts["raw_rows_random"] = int(len(random_logs))
        logs = pd.concat([logs, random_logs], ignore_index=True)
        split = np.concatenate([split, np.full(len(random_logs), TEST, dtype=np.int8)])
    duration = logs["duration_ms"].to_numpy()  # 0 = missing; such rows are dropped and counted
    interactions = interaction_table(logs["user_id"].to_numpy(), logs["video_id"].to_numpy(),
                                     logs["play_time_ms"].to_numpy() >= duration, eval_label,
                                     logs[eval_label].to_numpy(), duration, split)
    return interactions, counts


def _video_features(path: Path, quiet: bool) -> tuple[pd.DataFrame, dict[str, str]]:
    """Token features and tags of the videos in video_features_basic_*.csv, with their types."""
    table = read_table(TableSpec(
        path=path, columns=["video_id", *ITEM_TOKEN_FIELDS, "tag"], header=True, sep=",",
        ids=["video_id"], texts=[*ITEM_TOKEN_FIELDS, "tag"], fix=FIX), quiet=quiet)
    features, types = token_features(table["video_id"], {column: table[column] for column in ITEM_TOKEN_FIELDS})
    features["tags"] = token_sequence(table["tag"], ",", keep_first_word=False).to_numpy()
    types["tags"] = "token_seq"
    return features, types


# convert(argv) -> statistics, raising ConversionError (what tests call); main(argv) -> exit status.
convert, main = cli.entry_points(__name__)
