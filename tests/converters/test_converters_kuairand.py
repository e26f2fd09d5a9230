"""KuaiRand converter on tiny log_standard / log_random / video_features_basic files."""

from __future__ import annotations

import yaml

from recbole_dcr.converters import errors, kuairand, write


def run(raw_dir, out_dir, *extra):
    return kuairand.convert(["--raw", str(raw_dir), "--out", str(out_dir), "--quiet", *extra])


def split_pairs(raw, folder):
    return {split: set(raw.pairs_of(folder / f"kuairand.{split}.inter")) for split in ("train", "valid", "test")}


def test_standard_log_without_video_features(tmp_path, raw):
    standard = [
        raw.kuairand_log(1, 10, play_time_ms=12_000, duration_ms=12_000, is_like=1),
        raw.kuairand_log(1, 11, play_time_ms=3_000, duration_ms=12_000),
        raw.kuairand_log(2, 12, play_time_ms=3_000, duration_ms=0),  # 0 = missing -> dropped
    ] + raw.generated_kuairand(n_standard=60)[0]
    raw.write_kuairand(tmp_path / "raw", standard)
    stats = run(tmp_path / "raw", tmp_path / "out")
    folder = tmp_path / "out" / "kuairand"
    rows = {}
    for split in ("train", "valid", "test"):
        header, body = raw.read_atomic(folder / f"kuairand.{split}.inter")
        assert header == ["user_id:token", "item_id:token", "finish:float", "is_like:float"]
        rows.update({(r[0], r[1]): tuple(r[2:]) for r in body})
    assert rows[("1", "10")] == ("1", "1") and rows[("1", "11")] == ("0", "0")
    assert ("2", "12") not in rows
    assert stats["counts"]["dropped_missing_duration"] == 1
    assert raw.read_atomic(folder / "kuairand.item")[0] == ["item_id:token", "duration_level:token"]
    assert stats["bin_edges"][0] >= 2_000  # milliseconds, from the log
    config = yaml.safe_load((folder / "kuairand.yaml").read_text())
    assert config["EVAL_LABEL_FIELD"] == "is_like" and config["topk"] == [10, 20]


def test_video_features_become_item_fields(tmp_path, raw):
    standard, _ = raw.generated_kuairand()
    videos = [raw.kuairand_video(v, tag="3,17" if v % 2 else "5", music_id="" if v == 1 else str(v + 100))
              for v in range(25)]  # videos 25.. are absent from the feature table
    raw.write_kuairand(tmp_path / "raw", standard, videos=videos)
    run(tmp_path / "raw", tmp_path / "out")
    header, items = raw.read_atomic(tmp_path / "out" / "kuairand" / "kuairand.item")
    assert header == ["item_id:token", "duration_level:token", "author_id:token", "video_type:token",
                      "upload_type:token", "visible_status:token", "music_id:token", "music_type:token",
                      "tags:token_seq"]
    by_id = {row[0]: row for row in items}
    assert by_id["1"][2:] == ["1", "NORMAL", "ShortImport", "public", "empty", "9", "3 17"]
    assert by_id["2"][-1] == "5"
    absent = [row for row in items if int(row[0]) >= 25]
    assert absent and all(row[2:] == ["empty"] * 6 + [""] for row in absent)

    run(tmp_path / "raw", tmp_path / "plain", "--no-video-features")
    assert raw.read_atomic(tmp_path / "plain" / "kuairand" / "kuairand.item")[0] == ["item_id:token",
                                                                                    "duration_level:token"]


def test_random_exposure_log_is_the_test_split(tmp_path, raw):
    standard, random = raw.generated_kuairand(n_standard=400, n_random=120)
    raw.write_kuairand(tmp_path / "raw", standard, random=random)
    stats = run(tmp_path / "raw", tmp_path / "out", "--random-test")
    pairs = split_pairs(raw, tmp_path / "out" / "kuairand")
    random_pairs = {(r[0], r[1]) for r in random}
    standard_pairs = {(r[0], r[1]) for r in standard}
    assert pairs["test"] == random_pairs
    assert pairs["train"] | pairs["valid"] == standard_pairs - random_pairs
    assert not pairs["train"] & pairs["valid"] and not (pairs["train"] | pairs["valid"]) & pairs["test"]
    removed = sum((r[0], r[1]) in random_pairs for r in standard)
    assert stats["counts"]["dropped_rows_of_pairs_in_fixed_test"] == removed
    # train : valid keeps the 6:2 proportion of the default split.
    assert abs(len(pairs["train"]) / (len(pairs["train"]) + len(pairs["valid"])) - 0.75) < 0.01

    default = run(tmp_path / "raw", tmp_path / "default")
    assert default["counts"].get("raw_rows_random") is None
    assert any("not used" in note for note in default["notes"])


def test_random_test_without_random_log_is_an_error(tmp_path, raw):
    raw.write_kuairand(tmp_path / "raw", raw.generated_kuairand()[0])
    try:
        run(tmp_path / "raw", tmp_path / "out", "--random-test")
    except errors.ConversionError as error:
        assert "log_random_" in str(error) and "fix:" in str(error)
    else:
        raise AssertionError("expected a ConversionError")
    assert not (tmp_path / "out").exists()


def test_shipped_config_matches_the_generated_default(raw):
    shipped = yaml.safe_load((raw.repo_root / "properties" / "dataset" / "kuairand.yaml").read_text())
    assert shipped == yaml.safe_load(write.dataset_config_text(kuairand.SPEC, kuairand.SPEC.eval_label))
