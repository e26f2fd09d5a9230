"""recbole-dcr doctor: Table 1's rho1/rho2, P(A), and the overlap of A given the item content (issue #16)."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recbole_dcr import cli
from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.data.simulator import SIM_KEYS, simulate
from recbole_dcr import overlap
from recbole_dcr.research import doctor
from recbole_dcr.research.doctor import content_overlap, diagnose, format_report, natural_key, verdict
from tests.conftest import INTER_HEADER, write_atomic
from tests.converters.conftest import generated_kwai_rows, write_kwai

SMALL_SIM = {"sim_users": 100, "sim_items": 200, "sim_rows_per_user": 40}
SMALL_SIM_ARGS = [f"--{key}={value}" for key, value in SMALL_SIM.items()]


# ---------------------------------------------------------------------------- the numbers on hand-made tables
def test_independent_a_has_overlap_one_and_a_determined_one_zero():
    content = np.repeat([0, 1, 2], 6)  # three content values, six rows each
    independent = np.tile([0, 0, 1, 1, 2, 2], 3)  # P(a|x) = P(a) = 1/3 for every x
    result = content_overlap(content, independent, 3)
    assert result["overlap"] == pytest.approx(1.0) and result["overlap_raw"] == pytest.approx(1.0)
    assert result["unsupported_share"] == 0.0 and result["prior"] == pytest.approx([1 / 3] * 3)

    determined = content.copy()  # a = x
    result = content_overlap(content, determined, 3)
    assert result["overlap"] == pytest.approx(0.0)
    assert result["overlap_raw"] == pytest.approx(result["floor"]) == pytest.approx(1 / 3)  # Σ P(a)²
    assert result["unsupported_share"] == 1.0
    assert result["content_overlap"] == pytest.approx([1 / 3] * 3)


def test_overlap_of_a_partly_set_content_and_the_epsilon_share():
    # x=0 (6 rows): a = 0,0,0,1,1,1; x=1 (4 rows): a = 2,2,2,2 -> P(a) = (.3, .3, .4)
    content = np.array([0] * 6 + [1] * 4)
    a = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    result = content_overlap(content, a, 3, epsilon=0.01)
    per_x = [min(0.5, 0.3) + min(0.5, 0.3), 0.4]
    raw = 0.6 * per_x[0] + 0.4 * per_x[1]
    floor = 0.3**2 + 0.3**2 + 0.4**2
    assert result["content_overlap"] == pytest.approx(per_x)
    assert result["overlap_raw"] == pytest.approx(raw)
    assert result["overlap"] == pytest.approx((raw - floor) / (1 - floor))
    assert result["unsupported_share"] == pytest.approx(1.0)  # both lack a value with P(a) >= 0.01
    # epsilon above every P(a): no value is required, so no row is unsupported
    assert content_overlap(content, a, 3, epsilon=0.5)["unsupported_share"] == 0.0
    # a rare value (1 row in 101) lacking from the big content value counts only when P(a) >= epsilon
    content2 = np.array([0] * 100 + [1])
    a2 = np.array([0, 1] * 50 + [2])
    assert content_overlap(content2, a2, 3, epsilon=0.001)["unsupported_share"] == pytest.approx(1.0)
    assert content_overlap(content2, a2, 3, epsilon=0.05)["unsupported_share"] == pytest.approx(1 / 101)


def test_weights_equal_repeated_rows_and_both_counting_paths_agree(monkeypatch):
    rng = np.random.default_rng(0)
    content, a, weights = rng.integers(0, 7, 50), rng.integers(0, 4, 50), rng.integers(0, 5, 50)
    by_weight = content_overlap(content, a, 4, weights)
    by_rows = content_overlap(np.repeat(content, weights), np.repeat(a, weights), 4)
    monkeypatch.setattr(overlap, "_DENSE_CELLS", 0)  # force np.unique instead of a dense bincount
    sparse = content_overlap(content, a, 4, weights, n_content=1000)  # 4000 cells > 2 * 50 entries
    for key in ("overlap", "overlap_raw", "floor", "unsupported_share"):
        assert by_weight[key] == pytest.approx(by_rows[key]) == pytest.approx(sparse[key])


def test_natural_order_of_tokens_numbers_by_value_joint_part_by_part():
    assert sorted(["10", "2", "0"], key=natural_key) == ["0", "2", "10"]
    assert sorted(["2|1", "10|0", "2|0"], key=natural_key) == ["2|0", "2|1", "10|0"]


def _hand_made_train(folder, a_of_item, n_items=90, n_users=4):
    """Items i0.. in 3 categories (c = i mod 3) with A = a_of_item(i, c); every user sees every item."""
    items = [(f"i{i}", a_of_item(i, i % 3), f"c{i % 3}") for i in range(n_items)]
    rng = np.random.default_rng(1)
    inter = [(f"u{u}", f"i{i}", int(rng.random() < 0.5), int(rng.random() < 0.2))
             for u in range(n_users) for i in range(n_items)]
    write_atomic(folder / "hand", "hand.inter", INTER_HEADER, inter)
    write_atomic(folder / "hand", "hand.item", ["item_id:token", "duration_level:token", "category:token"], items)
    config = Config(model="DCRMoE", dataset="hand", config_dict={
        "data_path": str(folder), "show_progress": False,
        "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "group_by": None, "order": "RO", "mode": "labeled"}})
    return create_dataset(config).build()[0], items, inter


def test_diagnose_on_a_hand_made_dataset(tmp_path):
    # within each category the levels 10, 2, 0 take turns: A independent of the category
    train, items, inter = _hand_made_train(tmp_path, lambda i, c: ["10", "2", "0"][(i // 3) % 3])
    result = diagnose(train)
    assert result["tokens"] == ["0", "2", "10"] and result["content_fields"] == ["category"]
    assert result["overlap"] == pytest.approx(1.0) and result["unsupported_share"] == 0.0
    assert result["prior"] == pytest.approx([1 / 3] * 3) and result["normalised_entropy"] == pytest.approx(1.0)
    assert result["max_min_ratio"] == pytest.approx(1.0) and result["rows"] == len(inter) == 360
    natural_index = {"0": 0, "2": 1, "10": 2}  # the tokens' natural order, not their order of appearance
    level = {item: natural_index[a] for item, a, _ in items}
    index = np.array([level[item] for _, item, _, _ in inter])
    finish, like = (np.array([row[column] for row in inter]) for column in (2, 3))
    assert result["rho1"] == pytest.approx(np.corrcoef(index, finish)[0, 1])
    assert result["rho2"] == pytest.approx(np.corrcoef(index, like)[0, 1])
    assert result["abs_rho1_over_rho2"] == pytest.approx(abs(result["rho1"] / result["rho2"]))
    assert verdict(result)[0] == "good" and result["reference"] >= doctor.MEASURABLE_REFERENCE

    determined, _, _ = _hand_made_train(tmp_path / "b", lambda i, c: ["10", "2", "0"][c])
    determined = diagnose(determined)
    assert determined["overlap"] == pytest.approx(0.0) and determined["unsupported_share"] == 1.0
    assert verdict(determined)[0] == "low"
    assert [len(worst["lacking"]) for worst in determined["worst"]] == [2, 2, 2]  # each category lacks 2 values


def test_too_few_items_per_content_value_is_not_measurable(tmp_path):
    train, _, _ = _hand_made_train(tmp_path, lambda i, c: ["10", "2", "0"][(i // 3) % 3], n_items=18)
    result = diagnose(train)
    assert result["overlap"] == pytest.approx(1.0)  # exactly balanced here, but a shuffled A ...
    assert result["reference"] < doctor.MEASURABLE_REFERENCE  # ... on 6 items per category looks determined
    kind, sentence = verdict(result)
    assert kind == "unmeasurable" and "too few items per value" in sentence


def test_an_interaction_level_confounder_is_counted_per_row(tmp_path):
    # a = user mod 3 on every row: within each item category, P(a|x) = P(a) = 1/3
    items = [(f"i{i}", f"c{i % 3}") for i in range(30)]
    inter = [(f"u{u}", f"i{i}", int((u + i) % 2), int(i % 5 == 0), str(u % 3)) for u in range(12) for i in range(30)]
    write_atomic(tmp_path / "rows", "rows.inter", [*INTER_HEADER, "duration_level:token"], inter)
    write_atomic(tmp_path / "rows", "rows.item", ["item_id:token", "category:token"], items)
    config = Config(model="DCRMoE", dataset="rows", config_dict={
        "data_path": str(tmp_path), "show_progress": False,
        "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "group_by": None, "order": "RO", "mode": "labeled"}})
    result = diagnose(create_dataset(config).build()[0])
    assert not result["item_level"] and result["content_fields"] == ["category"]
    assert result["overlap"] == pytest.approx(1.0) and result["items_per_content_value"] is None
    assert "shuffled over the rows" in format_report(result)


# ---------------------------------------------------------------------------- the simulator knob
def test_knob_changes_only_a_and_what_a_drives():
    base = dict(SIM_KEYS, sim_users=50, sim_items=300, sim_rows_per_user=20)
    inter, item, match, _ = simulate(base)
    knobbed, knob_item, knob_match, _ = simulate(dict(base, sim_content_sets_confounder=1.0))
    assert np.array_equal(match, knob_match) and knobbed["like:float"].equals(inter["like:float"])
    assert knob_item["category:token"].equals(item["category:token"])
    levels = knob_item.groupby("category:token")["duration_level:token"].nunique()
    assert (levels == 1).all()  # A is a function of the category
    assert set(knob_item["duration_level:token"]) == set(range(base["sim_confounder_values"]))  # 8 categories >= K
    with pytest.raises(ValueError, match="sim_content_sets_confounder"):
        simulate(dict(base, sim_content_sets_confounder=1.5))


def _simulated_train(tmp_path, knob, structure="hidden_z"):
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={
        "data_path": str(tmp_path / f"sim_{structure}_{knob}"), "sim_content_sets_confounder": knob,
        "sim_structure": structure, "show_progress": False, **SMALL_SIM})
    return config, create_dataset(config)


@pytest.mark.parametrize("structure", ["hidden_z", "independent"])
def test_doctor_overlap_falls_as_the_content_sets_more_of_a(tmp_path, monkeypatch, structure):
    monkeypatch.chdir(tmp_path)
    overlaps = [diagnose(_simulated_train(tmp_path, knob, structure)[1].build()[0])["overlap"]
                for knob in (0.0, 0.4, 0.7, 1.0)]
    assert all(a > b for a, b in zip(overlaps, overlaps[1:])), overlaps
    assert overlaps[-1] == pytest.approx(0.0, abs=1e-9)


def test_datasets_generated_before_the_knob_are_not_regenerated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, _ = _simulated_train(tmp_path, 0.0)
    folder = Path(config["data_path"])
    meta = folder / "dcr_sim.sim.json"
    record = json.loads(meta.read_text())
    del record["params"]["sim_content_sets_confounder"]  # as written before the knob existed
    meta.write_text(json.dumps(record))
    stamp = (folder / "dcr_sim.inter").stat().st_mtime_ns
    create_dataset(config)
    assert (folder / "dcr_sim.inter").stat().st_mtime_ns == stamp
    changed = Config(model="DCRMoE", dataset="dcr_sim", config_dict={
        "data_path": str(folder.parent), "sim_content_sets_confounder": 0.5, "show_progress": False, **SMALL_SIM})
    create_dataset(changed)  # a value other than the default is another dataset
    assert json.loads(meta.read_text())["params"]["sim_content_sets_confounder"] == 0.5


def test_several_content_features_are_combined_and_also_shown_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={
        "data_path": str(tmp_path), "sim_neutral_feature_values": 3, **SMALL_SIM})
    result = diagnose(create_dataset(config).build()[0])
    assert result["content_fields"] == ["category", "style"] and set(result["per_field_overlap"]) == {"category", "style"}
    assert result["per_field_overlap"]["style"] > result["per_field_overlap"]["category"]  # style is drawn apart from A
    assert result["content_values"] > 8 and "| category=" in format_report(result) and ", style=" in format_report(result)


# ---------------------------------------------------------------------------- the command
def test_cli_prints_the_verdict_and_numbers_and_writes_markdown(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports" / "doctor.md"
    status = cli.main(["doctor", f"--data_path={tmp_path / 'sim'}", *SMALL_SIM_ARGS, "--sim_content_sets_confounder=1",
                       "--epsilon=0.02", f"--out={out}"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "**Verdict: low overlap (overlap 0.00" in printed and "recbole-dcr experiments --models=DCRMoE,NFMWA" in printed
    assert "--inference=shrunk" in printed
    for number in ("ρ1 = Pearson(A, finish)", "ρ2 = Pearson(A, like)", "|ρ1/ρ2|", "Normalised entropy", "max/min P(a)",
                   "- overlap = 0.000", "- unsupported rows = 100.0%", "P(a|x) < 0.02", "| category="):
        assert number in printed, number
    assert out.read_text(encoding="utf-8").startswith("# recbole-dcr doctor: `dcr_sim`")
    assert not list(out.parent.glob(".*tmp"))  # written atomically


def test_cli_on_the_default_structure_says_good(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["doctor", f"--data_path={tmp_path / 'sim'}", "--sim_users=100", "--sim_items=1000",
                     "--sim_rows_per_user=40", "--sim_structure=independent"]) == 0
    assert "**Verdict: good overlap: DCR's adjustment is well supported" in capsys.readouterr().out


def test_doctor_names_the_joint_field_of_several_confounders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Config(model="DCRMoE", dataset="dcr_sim2", config_dict={"data_path": str(tmp_path), **SMALL_SIM})
    result = diagnose(create_dataset(config).build()[0])
    assert result["confounder"] == "duration_level+cover_level" and result["content_fields"] == ["category"]
    assert result["tokens"] == sorted(result["tokens"], key=natural_key) and result["K"] > 6
    assert "joint field of 2 confounders (duration_level, cover_level)" in format_report(result)


# ---------------------------------------------------------------------------- converted datasets
def _convert(tmp_path, *extra, name="kwai"):
    from recbole_dcr.converters.cli import main as convert

    faces = [(photo, "[[0.9,1,20,80]]" if photo % 2 else "[]") for photo in range(40)]
    raw = write_kwai(tmp_path / "raw", generated_kwai_rows(n_users=30, n_rows=1200), faces=faces)
    assert convert(["kwai", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet", "--name", name, *extra]) == 0
    return json.loads((tmp_path / "out" / name / f"{name}.stats.json").read_text())


def test_doctor_runs_on_a_converted_dataset_and_agrees_with_the_converter(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stats = _convert(tmp_path, "--faces", name="kwf")
    printed = capsys.readouterr().out
    assert "overlap A|content (train)" in printed and "content = face_count" in printed
    assert stats["overlap_content"] == "face_count" and 0 <= stats["overlap"] <= 1
    assert cli.main(["doctor", "--dataset=kwf", f"--data_path={tmp_path / 'out'}",
                     f"--config_files={tmp_path / 'out' / 'kwf' / 'kwf.yaml'}"]) == 0
    report = capsys.readouterr().out
    assert f"- overlap = {stats['overlap']:.3f}:" in report and "content x = face_count" in report


def test_without_content_features_the_overlap_is_not_measurable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stats = _convert(tmp_path)
    assert stats["overlap_content"] == "item_id" and stats["overlap"] == pytest.approx(0.0)
    assert "overlap A|content (train)  n/a: no item content feature" in capsys.readouterr().out
    assert cli.main(["doctor", "--dataset=kwai", f"--data_path={tmp_path / 'out'}"]) == 0
    assert "**Verdict: overlap not measurable: the items have no content feature" in capsys.readouterr().out


def test_the_converters_still_import_no_torch():
    code = ("import sys, recbole_dcr.converters.cli, recbole_dcr.converters.kwai; "
            "print(sorted({'torch', 'recbole'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- the training-time warning
@pytest.mark.parametrize("knob, warned", [(1.0, True), (0.0, False)])
def test_data_preparation_warns_on_low_overlap(tmp_path, monkeypatch, caplog, knob, warned):
    monkeypatch.chdir(tmp_path)
    config, dataset = _simulated_train(tmp_path, knob)
    with caplog.at_level(logging.WARNING):
        data_preparation(config, dataset)
    messages = [r.getMessage() for r in caplog.records if "low overlap" in r.getMessage()]
    assert len(messages) == int(warned)
    if warned:
        assert "overlap 0.00" in messages[0] and "run `recbole-dcr doctor`" in messages[0].lower()
