"""Wechat converter on tiny user_action.csv / feed_info.csv files in the challenge format."""

from __future__ import annotations

import json

import yaml

from recbole_dcr.converters import wechat, write


def run(raw_dir, out_dir, *extra):
    return wechat.convert(["--raw", str(raw_dir), "--out", str(out_dir), "--quiet", *extra])


def all_rows(raw, folder, name="wechat"):
    rows = {}
    for split in ("train", "valid", "test"):
        header, body = raw.read_atomic(folder / f"{name}.{split}.inter")
        rows.update({(r[0], r[1]): (split, *r[2:]) for r in body})
    return header, rows


def test_outputs_and_labels(tmp_path, raw):
    actions = [
        raw.wechat_action(1, 100, play=10_000, read_comment=1),  # 10 s video played 10 s -> finished
        raw.wechat_action(1, 101, play=9_999),  # 10 s video, 9.999 s played
        raw.wechat_action(2, 100, play=25_000, like=1),
        raw.wechat_action(2, 102, play=60_000, read_comment=1),  # feed 102 missing from feed_info -> dropped
        raw.wechat_action(3, 103, play=1_000),
    ]
    feeds = [raw.wechat_feed(100, 10, bgm_song_id="7.0", bgm_singer_id="3"), raw.wechat_feed(101, 10),
             raw.wechat_feed(103, 30, bgm_song_id="8", bgm_singer_id="")]
    raw.write_wechat(tmp_path / "raw", actions, feeds)
    stats = run(tmp_path / "raw", tmp_path / "out")
    folder = tmp_path / "out" / "wechat"
    header, rows = all_rows(raw, folder)
    assert header == ["user_id:token", "item_id:token", "finish:float", "read_comment:float"]
    assert {k: v[1:] for k, v in rows.items()} == {
        ("1", "100"): ("1", "1"), ("1", "101"): ("0", "0"), ("2", "100"): ("1", "0"), ("3", "103"): ("0", "0")}
    assert stats["counts"]["dropped_missing_duration"] == 1
    assert stats["counts"]["rows_with_feed_missing_from_feed_info"] == 1
    item_header, items = raw.read_atomic(folder / "wechat.item")
    assert item_header == ["item_id:token", "duration_level:token", "authorid:token", "bgm_song_id:token",
                           "bgm_singer_id:token"]
    by_id = {row[0]: row for row in items}
    assert by_id["100"][3:] == ["7", "3"]  # "7.0" written by float-typed tools is the id 7
    assert by_id["101"][3:] == ["empty", "empty"]  # an empty bgm id is its own token
    assert by_id["103"][3:] == ["8", "empty"]
    config = yaml.safe_load((folder / "wechat.yaml").read_text())
    assert config["EVAL_LABEL_FIELD"] == "read_comment"
    assert config["topk"] == [3, 5] and config["valid_metric"] == "ndcg@3"


def test_eval_label_flag_and_tags(tmp_path, raw):
    actions, feeds = raw.generated_wechat()
    raw.write_wechat(tmp_path / "raw", actions, feeds)
    run(tmp_path / "raw", tmp_path / "out", "--eval-label", "like", "--tags", "machine")
    folder = tmp_path / "out" / "wechat"
    header, _ = all_rows(raw, folder)
    assert header[3] == "like:float"
    assert yaml.safe_load((folder / "wechat.yaml").read_text())["EVAL_LABEL_FIELD"] == "like"
    item_header, items = raw.read_atomic(folder / "wechat.item")
    assert item_header[-1] == "tags:token_seq"
    by_id = {row[0]: row for row in items}
    assert by_id["7"][-1] == "2 21"  # "2 0.9;1 0.2" -> tag ids 2 and 21, scores dropped

    run(tmp_path / "raw", tmp_path / "manual", "--tags", "manual")
    by_id = {row[0]: row for row in raw.read_atomic(tmp_path / "manual" / "wechat" / "wechat.item")[1]}
    assert by_id["7"][-1] == "2 10"


def test_repeated_views_are_merged(tmp_path, raw):
    actions = [raw.wechat_action(1, 100, play=1_000, date_=1), raw.wechat_action(1, 100, play=20_000, date_=2,
                                                                                   read_comment=1)]
    actions += raw.generated_wechat(n_rows=80)[0]
    _, feeds = raw.generated_wechat()
    feeds.append(raw.wechat_feed(100, 15))
    raw.write_wechat(tmp_path / "raw", actions, feeds)
    stats = run(tmp_path / "raw", tmp_path / "out")
    _, rows = all_rows(raw, tmp_path / "out" / "wechat")
    assert rows[("1", "100")][1:] == ("1", "1")
    assert stats["counts"]["duplicate_rows_merged"] >= 1


def test_raw_may_point_at_the_data_folder(tmp_path, raw):
    actions, feeds = raw.generated_wechat()
    raw.write_wechat(tmp_path / "raw", actions, feeds)
    stats = run(tmp_path / "raw" / "wechat_algo_data1", tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "wechat" / "wechat.stats.json").read_text())
    assert saved["samples"] == stats["samples"] > 0


def test_shipped_config_matches_the_generated_default(raw):
    shipped = yaml.safe_load((raw.repo_root / "properties" / "dataset" / "wechat.yaml").read_text())
    assert shipped == yaml.safe_load(write.dataset_config_text(wechat.SPEC, wechat.SPEC.eval_label))
