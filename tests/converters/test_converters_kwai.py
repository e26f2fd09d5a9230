"""Kwai converter on tiny train_interaction.txt files in the challenge format."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from recbole_dcr.converters import kwai, write


def run(raw_dir, out_dir, *extra):
    return kwai.convert(["--raw", str(raw_dir), "--out", str(out_dir), "--quiet", *extra])


def test_outputs_follow_the_contract(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows())
    stats = run(tmp_path / "raw", tmp_path / "out")
    folder = tmp_path / "out" / "kwai"
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        "kwai.train.inter", "kwai.valid.inter", "kwai.test.inter", "kwai.item", "kwai.yaml", "kwai.stats.json",
        "kwai.bins.json"])
    for split in ("train", "valid", "test"):
        header, rows = raw.read_atomic(folder / f"kwai.{split}.inter")
        assert header == ["user_id:token", "item_id:token", "finish:float", "like:float"]
        assert rows and all(r[2] in ("0", "1") and r[3] in ("0", "1") for r in rows)
    header, items = raw.read_atomic(folder / "kwai.item")
    assert header == ["item_id:token", "duration_level:token"]
    assert {row[1] for row in items} == {str(level) for level in range(6)}
    config = yaml.safe_load((folder / "kwai.yaml").read_text())
    assert config == {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TRAIN_LABEL_FIELD": "finish",
        "EVAL_LABEL_FIELD": "like", "CONFOUNDER_FIELD": "duration_level", "load_col": None,
        "benchmark_filename": ["train", "valid", "test"], "topk": [10, 20], "valid_metric": "ndcg@10"}
    saved = json.loads((folder / "kwai.stats.json").read_text())
    for key in ("users", "items", "samples", "finish_rate", "like_rate", "bins", "bin_edges", "rho1", "rho2",
                "abs_rho1_over_rho2"):
        assert key in saved
    assert saved["samples"] == stats["samples"] == sum(s["samples"] for s in saved["splits"].values())
    bins = json.loads((folder / "kwai.bins.json").read_text())
    assert len(bins["inner_edges"]) == 5 and bins["edges"][1:-1] == bins["inner_edges"]
    # Nothing but the dataset folder is left in --out (no temporary folders).
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["kwai"]


def test_labels_follow_the_definitions(tmp_path, raw):
    rows = [
        raw.kwai_row(1, 10, click=1, like=1, playing_time=30, duration_time=30),  # finished exactly
        raw.kwai_row(1, 11, click=1, like=0, playing_time=29, duration_time=30),  # stopped early
        raw.kwai_row(1, 12, click=0, like=0, playing_time=0, duration_time=30),  # not clicked
        raw.kwai_row(2, 10, click=1, like=0, playing_time=45, duration_time=30),  # replayed
        raw.kwai_row(2, 13, click=1, like=1, playing_time=5, duration_time=0),  # missing duration -> dropped
        raw.kwai_row(3, 11, click=1, like=0, playing_time=31, duration_time=30),
    ]
    raw.write_kwai(tmp_path / "raw", rows)
    stats = run(tmp_path / "raw", tmp_path / "out")
    got = {}
    for split in ("train", "valid", "test"):
        for user, item, finish, like in raw.read_atomic(tmp_path / "out" / "kwai" / f"kwai.{split}.inter")[1]:
            got[(user, item)] = (finish, like)
    assert got == {("1", "10"): ("1", "1"), ("1", "11"): ("0", "0"), ("1", "12"): ("0", "0"),
                   ("2", "10"): ("1", "0"), ("3", "11"): ("1", "0")}
    assert stats["counts"]["dropped_missing_duration"] == 1
    assert stats["counts"]["raw_rows"] == 6


def test_clicked_only_keeps_clicked_rows(tmp_path, raw):
    rows = raw.generated_kwai_rows(n_rows=300)
    raw.write_kwai(tmp_path / "raw", rows)
    everything = run(tmp_path / "raw", tmp_path / "all")
    clicked = run(tmp_path / "raw", tmp_path / "clicked", "--clicked-only")
    n_clicked = sum(r[2] == "1" for r in rows)
    assert clicked["counts"]["dropped_not_clicked"] == len(rows) - n_clicked
    assert clicked["samples"] < everything["samples"]
    assert clicked["options"]["clicked_only"] is True


def test_duplicates_are_merged_or_kept_in_one_split(tmp_path, raw):
    rows = [raw.kwai_row(1, 10, click=0, like=0), raw.kwai_row(1, 10, click=1, like=1),
            raw.kwai_row(1, 10, click=1, like=0, playing_time=1)] + raw.generated_kwai_rows(n_rows=100)
    raw.write_kwai(tmp_path / "raw", rows)
    merged = run(tmp_path / "raw", tmp_path / "merged")
    kept = run(tmp_path / "raw", tmp_path / "kept", "--duplicates", "keep")
    assert kept["samples"] == merged["samples"] + merged["counts"]["duplicate_rows_merged"]
    found = []
    for split in ("train", "valid", "test"):
        found += [(split, r[2], r[3]) for r in raw.read_atomic(tmp_path / "merged" / "kwai" / f"kwai.{split}.inter")[1]
                  if r[:2] == ["1", "10"]]
    assert [f[1:] for f in found] == [("1", "1")]  # any finished / liked view makes the pair positive
    kept_splits = {split for split in ("train", "valid", "test")
                   for r in raw.read_atomic(tmp_path / "kept" / "kwai" / f"kwai.{split}.inter")[1] if r[:2] == ["1", "10"]}
    assert len(kept_splits) == 1


def test_optional_text_and_face_features(tmp_path, raw):
    rows = [raw.kwai_row(u, p, duration_time=10 + p) for u in range(4) for p in range(6)]
    text = [(0, "11,12,13"), (1, "14"), (2, "0")]
    faces = [(0, "[[0.0144, 1, 24, 49]]"), (1, "[[0.02, 0, 30, 60], [0.01, 1, 22, 70]]")]
    raw.write_kwai(tmp_path / "raw", rows, text=text, faces=faces)
    run(tmp_path / "raw", tmp_path / "out", "--text", "--faces")
    header, items = raw.read_atomic(tmp_path / "out" / "kwai" / "kwai.item")
    assert header == ["item_id:token", "duration_level:token", "cover_words:token_seq", "face_count:token"]
    by_id = {row[0]: row for row in items}
    assert by_id["0"][2:] == ["11 12 13", "1"]
    assert by_id["1"][2:] == ["14", "2"]
    assert by_id["5"][2:] == ["", "0"]


def test_raw_may_point_at_the_train_folder(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=120))
    assert run(tmp_path / "raw" / "train", tmp_path / "out")["samples"] > 0


def test_force_replaces_an_existing_output(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=120))
    first = run(tmp_path / "raw", tmp_path / "out")
    second = run(tmp_path / "raw", tmp_path / "out", "--force", "--seed", "3")
    assert first["samples"] == second["samples"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["kwai"]


def test_eval_label_option_names_the_column(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=120))
    run(tmp_path / "raw", tmp_path / "out", "--eval-label", "follow", "--bins", "4", "--name", "kwai_follow")
    folder = tmp_path / "out" / "kwai_follow"
    assert raw.read_atomic(folder / "kwai_follow.train.inter")[0][3] == "follow:float"
    assert yaml.safe_load((folder / "kwai_follow.yaml").read_text())["EVAL_LABEL_FIELD"] == "follow"
    assert json.loads((folder / "kwai_follow.stats.json").read_text())["bins"] == 4


def test_script_runs_from_the_repo_root(tmp_path, raw):
    raw.write_kwai(tmp_path / "raw", raw.generated_kwai_rows(n_rows=120))
    script = raw.repo_root / "dataset_converters" / "kwai.py"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                           cwd=raw.repo_root, check=True)
    assert "--raw" in shown.stdout and "--clicked-only" in shown.stdout
    done = subprocess.run([sys.executable, "dataset_converters/kwai.py", "--raw", str(tmp_path / "raw"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=raw.repo_root)
    assert done.returncode == 0, done.stderr
    assert "rho1 = Pearson(A, finish)" in done.stdout and "|rho1/rho2|" in done.stdout


def test_shipped_config_matches_the_generated_default(raw):
    shipped = yaml.safe_load((raw.repo_root / "properties" / "dataset" / "kwai.yaml").read_text())
    assert shipped == yaml.safe_load(write.dataset_config_text(kwai.SPEC, kwai.SPEC.eval_label))
