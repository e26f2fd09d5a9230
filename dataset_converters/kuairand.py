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
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python dataset_converters/kuairand.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from dataset_converters import common
from dataset_converters.common import ConversionError, LoadedData, TableSpec  # noqa: F401  (ConversionError re-exported for callers)

SPEC = common.DatasetSpec(
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
    return common.locate_glob(raw, [f"{folder}{stem}_*.csv" for folder in LOG_FOLDERS])


def _read_logs(paths: list[Path], eval_label: str, quiet: bool) -> pd.DataFrame:
    frames = []
    for path in paths:
        frames.append(common.read_table(TableSpec(
            path=path, columns=["user_id", "video_id", "play_time_ms", "duration_ms", eval_label], header=True,
            sep=",", ids=["user_id", "video_id"], labels=[eval_label], amounts=["play_time_ms"],
            durations=["duration_ms"], fix=FIX), quiet=quiet))
    return pd.concat(frames, ignore_index=True)


def load(args: argparse.Namespace) -> LoadedData:
    raw = args.raw
    eval_label = args.eval_label
    standard_paths = _find(raw, "log_standard")
    if not standard_paths:
        raise common.fail(raw, "no log_standard_*.csv found", "point --raw at the extracted KuaiRand folder (or its data/ folder)")
    random_paths = _find(raw, "log_random")
    if args.random_test and not random_paths:
        raise common.fail(raw, "--random-test needs log_random_*.csv, which was not found",
                          "extract the random-exposure log next to the standard logs, or drop --random-test")

    logs = _read_logs(standard_paths, eval_label, args.quiet)
    counts = {"raw_rows_standard": int(len(logs))}
    split = np.full(len(logs), common.UNASSIGNED, dtype=np.int8)
    notes = [f"standard logs: {', '.join(p.name for p in standard_paths)}"]
    if args.random_test:
        random_logs = _read_logs(random_paths, eval_label, args.quiet)
        counts["raw_rows_random"] = int(len(random_logs))
        notes.append(f"test split = random-exposure logs: {', '.join(p.name for p in random_paths)}")
        logs = pd.concat([logs, random_logs], ignore_index=True)
        split = np.concatenate([split, np.full(len(random_logs), common.TEST, dtype=np.int8)])
    elif random_paths:
        notes.append("random-exposure logs present but not used (pass --random-test to test on them)")

    duration = logs["duration_ms"].to_numpy()
    interactions = pd.DataFrame({
        "user_id": logs["user_id"].to_numpy(),
        "item_id": logs["video_id"].to_numpy(),
        "finish": (logs["play_time_ms"].to_numpy() >= duration).astype(np.int8),
        eval_label: logs[eval_label].to_numpy(),
        "duration": duration,  # 0 = missing; such rows are dropped and counted
        "split": split,
    })
    del logs

    features, types = None, {}
    feature_paths = [] if args.no_video_features else _find(raw, "video_features_basic")
    if feature_paths:
        table = common.read_table(TableSpec(
            path=feature_paths[0], columns=["video_id", *ITEM_TOKEN_FIELDS, "tag"], header=True, sep=",",
            ids=["video_id"], texts=[*ITEM_TOKEN_FIELDS, "tag"], fix=FIX), quiet=args.quiet)
        features = pd.DataFrame({"item_id": table["video_id"].to_numpy()})
        for column in ITEM_TOKEN_FIELDS:
            features[column] = common.numeric_token(table[column]).to_numpy()
            types[column] = "token"
        features["tags"] = common.token_sequence(table["tag"], ",", keep_first_word=False).to_numpy()
        types["tags"] = "token_seq"
        notes.append(f"item features from {feature_paths[0].name}")
    return LoadedData(interactions=interactions, eval_label=eval_label, item_features=features,
                      item_feature_types=types, counts=counts, notes=notes,
                      options={"random_test": args.random_test, "video_features": bool(feature_paths)})


def convert(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` and convert; raises ConversionError (used by tests)."""
    args = common.parse_arguments(SPEC, DESCRIPTION, add_arguments, argv)
    return common.convert(SPEC, load, args)


def main(argv: list[str] | None = None) -> int:
    return common.main(SPEC, DESCRIPTION, add_arguments, load, argv)


if __name__ == "__main__":
    sys.exit(main())
