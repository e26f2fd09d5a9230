"""Wechat: WeChat Big Data Challenge 2021 (preliminary round data) -> RecBole atomic files.

Raw input (``--raw`` is the folder holding ``wechat_algo_data1/``, or that
folder itself), comma-separated with a header:

* ``user_action.csv``: ``userid, feedid, date_, device, read_comment, comment,
  like, play, stay, click_avatar, forward, follow, favorite`` (play, stay in ms)
* ``feed_info.csv``: ``feedid, authorid, videoplayseconds, description, ocr,
  asr, bgm_song_id, bgm_singer_id, manual_keyword_list, machine_keyword_list,
  manual_tag_list, machine_tag_list, description_char, ocr_char, asr_char``

Labels: finish = play >= videoplayseconds * 1000 (training); read_comment
(evaluation, the paper's choice; --eval-label picks another action).
Confounder: videoplayseconds. Item features: authorid, bgm_song_id,
bgm_singer_id (an empty id is its own token), optionally tags (token_seq).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_dcr.converters import cli
from recbole_dcr.converters.errors import ConversionError  # noqa: F401  (re-exported for callers)
from recbole_dcr.converters.read import TableSpec, locate, read_table, token_features, token_sequence
from recbole_dcr.converters.spec import DatasetSpec, LoadedData, interaction_table

SPEC = DatasetSpec(
    name="wechat",
    title="WeChat Big Data Challenge 2021",
    eval_label="read_comment",
    eval_label_choices=("read_comment", "like", "click_avatar", "forward", "comment", "follow", "favorite"),
    topk=(3, 5),
    duration_column="videoplayseconds",
    duration_unit="s",
)

FOLDER = "wechat_algo_data1"
ITEM_TOKEN_FIELDS = ["authorid", "bgm_song_id", "bgm_singer_id"]
TAG_COLUMNS = {"manual": "manual_tag_list", "machine": "machine_tag_list"}
FIX = f"use {FOLDER}/%s exactly as extracted from the challenge download"

DESCRIPTION = (__doc__ or "") + """
Repeated (user, feed) rows, e.g. the same feed seen on two days, are merged by
default (labels: maximum); --duplicates keep keeps them, in the same split.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tags", choices=("none", *TAG_COLUMNS), default="none",
                        help="add the manual or machine tag list as the item feature tags:token_seq (default none)")


def load(args: argparse.Namespace) -> LoadedData:
    raw = args.raw
    eval_label = args.eval_label
    actions_path = locate(raw, [f"{FOLDER}/user_action.csv", "user_action.csv"], "the user action log")
    feeds_path = locate(raw, [f"{FOLDER}/feed_info.csv", "feed_info.csv"], "the feed (video) table")
    tag_column = TAG_COLUMNS.get(args.tags)
    feeds, notes = _read_feeds(feeds_path, tag_column, args.quiet)
    actions = read_table(TableSpec(
        path=actions_path, columns=["userid", "feedid", "play", eval_label], header=True, sep=",",
        ids=["userid", "feedid"], labels=[eval_label], amounts=["play"], fix=FIX % "user_action.csv"), quiet=args.quiet)
    interactions, counts = _interactions(actions, feeds, eval_label)
    features, types = _item_features(feeds, tag_column)
    return LoadedData(interactions=interactions, eval_label=eval_label, item_features=features,
                      item_feature_types=types, counts=counts, options={"tags": args.tags}, notes=notes)


def _read_feeds(path: Path, tag_column: str | None, quiet: bool) -> tuple[pd.DataFrame, list[str]]:
    """feed_info.csv, one row per feedid, and a note if it had repeated feedids."""
    feeds = read_table(TableSpec(
        path=path, columns=["feedid", "authorid", "videoplayseconds", "bgm_song_id", "bgm_singer_id"],
        header=True, sep=",", ids=["feedid"], durations=["videoplayseconds"],
        texts=[*ITEM_TOKEN_FIELDS, *([tag_column] if tag_column else [])], fix=FIX % "feed_info.csv"), quiet=quiet)
    repeated_feeds = feeds["feedid"].duplicated()
    notes = []
    if repeated_feeds.any():
        notes.append(f"feed_info.csv lists {int(repeated_feeds.sum())} feedids more than once; the first row is used")
        feeds = feeds[~repeated_feeds]
    return feeds, notes


def _interactions(actions: pd.DataFrame, feeds: pd.DataFrame, eval_label: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per action with the duration of its feed, and the row counts."""
    # Duration per action row via its feed; feeds absent from feed_info.csv
    # have no duration and are dropped (and counted) like missing durations.
    position = pd.Index(feeds["feedid"].to_numpy()).get_indexer(actions["feedid"].to_numpy())
    known = position >= 0
    seconds = np.full(len(actions), np.nan)
    seconds[known] = feeds["videoplayseconds"].to_numpy()[position[known]]
    finish = actions["play"].to_numpy() >= seconds * 1000.0  # NaN compares False; those rows are dropped anyway
    interactions = interaction_table(actions["userid"].to_numpy(), actions["feedid"].to_numpy(), finish, eval_label,
                                     actions[eval_label].to_numpy(), seconds)
    counts = {"raw_rows": int(len(actions)), "rows_with_feed_missing_from_feed_info": int((~known).sum())}
    return interactions, counts


def _item_features(feeds: pd.DataFrame, tag_column: str | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Author and background-music ids (tokens) and optionally the tags of every feed, with their types."""
    features, types = token_features(feeds["feedid"], {column: feeds[column] for column in ITEM_TOKEN_FIELDS})
    if tag_column:
        # Manual lists are "t1;t2"; machine lists are "t1 score;t2 score": the id is the first word.
        features["tags"] = token_sequence(feeds[tag_column], ";", keep_first_word=True).to_numpy()
        types["tags"] = "token_seq"
    return features, types


# convert(argv) -> statistics, raising ConversionError (what tests call); main(argv) -> exit status.
convert, main = cli.entry_points(__name__)
