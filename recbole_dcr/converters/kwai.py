"""Kwai: Kuaishou User Interest Modeling Challenge 2018 -> RecBole atomic files.

Raw input (``--raw`` is the extracted challenge folder or its ``train/``):
``train/train_interaction.txt``, tab-separated without header:
``user_id, photo_id, click, like, follow, time, playing_time, duration_time``
(seconds; ``playing_time`` is 0 when the photo was not clicked). Optional
``train/train_text.txt`` (``photo_id, cover_words``) and
``train/train_face.txt`` (``photo_id, faces``) add item features on request.

Labels: finish = click == 1 and playing_time >= duration_time (training);
like (evaluation, the paper's choice). Confounder: duration_time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_dcr.converters import cli
from recbole_dcr.converters.errors import ConversionError  # noqa: F401  (re-exported for callers)
from recbole_dcr.converters.read import TableSpec, locate, read_table, token_sequence
from recbole_dcr.converters.spec import DatasetSpec, LoadedData, interaction_table

SPEC = DatasetSpec(
    name="kwai",
    title="Kuaishou User Interest Modeling Challenge 2018",
    eval_label="like",
    eval_label_choices=("like", "follow"),
    topk=(10, 20),
    duration_column="duration_time",
    duration_unit="s",
)

INTERACTION_COLUMNS = ["user_id", "photo_id", "click", "like", "follow", "time", "playing_time", "duration_time"]
FIX = "use train/train_interaction.txt exactly as extracted from the challenge download"
MAX_FACE_TOKEN = 5  # photos with 5 or more faces share one token

DESCRIPTION = (__doc__ or "") + """
Default: every impression row is kept (clicked or not); --clicked-only keeps
only rows with click == 1. See dataset_converters/README.md for which of the
two matches the paper's 19.4M samples.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clicked-only", action="store_true",
                        help="keep only rows with click == 1 (default: keep every impression row)")
    parser.add_argument("--text", action="store_true",
                        help="add cover_words (token_seq) from train_text.txt as an item feature")
    parser.add_argument("--faces", action="store_true",
                        help=f"add face_count (token, 0..{MAX_FACE_TOKEN - 1} or {MAX_FACE_TOKEN}+) from train_face.txt")


def _optional_table(raw: Path, file_name: str, column: str, flag: str, quiet: bool) -> pd.DataFrame:
    """``photo_id`` and ``column`` of the optional table ``file_name``, which ``flag`` asks for."""
    path = locate(raw, [f"train/{file_name}", file_name], f"needed by {flag}")
    return read_table(TableSpec(path=path, columns=["photo_id", column], header=False, sep="\t", ids=["photo_id"],
                                texts=[column], fix=f"use train/{file_name} from the challenge download"), quiet=quiet)


def load(args: argparse.Namespace) -> LoadedData:
    interactions, counts = _interactions(args)
    features, types, fill = _item_features(args)
    return LoadedData(interactions=interactions, eval_label=args.eval_label, item_features=features,
                      item_feature_types=types, item_feature_fill=fill, counts=counts,
                      options={"clicked_only": args.clicked_only, "text": args.text, "faces": args.faces})


def _interactions(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per impression (or per click with --clicked-only), and the row counts."""
    path = locate(args.raw, ["train/train_interaction.txt", "train_interaction.txt"], "the interaction log")
    eval_label = args.eval_label
    table = read_table(TableSpec(
        path=path, columns=INTERACTION_COLUMNS, header=False, sep="\t",
        ids=["user_id", "photo_id"], labels=sorted({"click", eval_label}), amounts=["playing_time"],
        durations=["duration_time"], fix=FIX), quiet=args.quiet)
    counts = {"raw_rows": int(len(table))}
    if args.clicked_only:
        clicked = table["click"].to_numpy() == 1
        counts["dropped_not_clicked"] = int((~clicked).sum())
        table = table[clicked]
    duration = table["duration_time"].to_numpy()
    finish = (table["click"].to_numpy() == 1) & (table["playing_time"].to_numpy() >= duration)
    interactions = interaction_table(table["user_id"].to_numpy(), table["photo_id"].to_numpy(), finish, eval_label,
                                     table[eval_label].to_numpy(), duration)
    return interactions, counts


def _item_features(args: argparse.Namespace) -> tuple[pd.DataFrame | None, dict[str, str], dict[str, str]]:
    """The optional --text and --faces features: (table, types, fill values)."""
    features, types, fill = None, {}, {}
    if args.text:
        text = _optional_table(args.raw, "train_text.txt", "cover_words", "--text", args.quiet)
        words = pd.DataFrame({"item_id": text["photo_id"].to_numpy(),
                              "cover_words": token_sequence(text["cover_words"], ",", keep_first_word=False).to_numpy()})
        features, types["cover_words"] = words, "token_seq"
    if args.faces:
        face = _optional_table(args.raw, "train_face.txt", "faces", "--faces", args.quiet)
        counted = pd.DataFrame({"item_id": face["photo_id"].to_numpy(), "face_count": face_count_tokens(face["faces"]).to_numpy()})
        features = counted if features is None else features.merge(counted, on="item_id", how="outer")
        types["face_count"] = "token"
        # The face file lists only photos in which faces were detected.
        fill["face_count"] = "0"
    return features, types, fill


def face_count_tokens(faces: pd.Series) -> pd.Series:
    """``[[occupancy, gender, age, appearance], ...]`` -> number of faces as a token."""
    text = faces.fillna("").astype(str).str.strip()
    nested = text.str.startswith("[[")
    count = np.where(nested, text.str.count(r"\[") - 1, np.where(text.isin(["", "[]"]), 0, 1))
    return pd.Series([str(c) if c < MAX_FACE_TOKEN else f"{MAX_FACE_TOKEN}+" for c in count], index=faces.index)


# convert(argv) -> statistics, raising ConversionError (what tests call); main(argv) -> exit status.
convert, main = cli.entry_points(__name__)
