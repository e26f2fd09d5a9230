"""The analyses count real forward passes and group predictions correctly (tiny data)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from recbole_dcr.research.analysis import PassCounter, distance_to_truth, group_averages, group_profile, inference_cost, scoring_batches
from recbole_dcr.data import create_dataset
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pass_counts_follow_each_adjustment(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    keys = {"DCRMoE": {"expert_sharing": "separate"}}  # the paper's experts; a shared design is checked below
    make_config = lambda name: tiny_config(data_path, tmp_path, model=name, **keys.get(name, {}))  # noqa: E731
    train, _, test = create_dataset(make_config("DCRMoE")).build()
    k = train.num_confounder_values
    assert k == 3
    rows = {r["model"]: r for r in inference_cost(make_config, train, test, ["NFMWA", "DCRNFM", "NWGMDCR", "DCRMoE"], 1)}
    assert (rows["NFMWA"]["backbone_passes"], rows["NFMWA"]["mlp_passes"]) == (1, 1)
    assert (rows["DCRNFM"]["backbone_passes"], rows["DCRNFM"]["mlp_passes"]) == (k, k)
    assert (rows["NWGMDCR"]["backbone_passes"], rows["NWGMDCR"]["mlp_passes"]) == (1, 1)
    assert (rows["DCRMoE"]["backbone_passes"], rows["DCRMoE"]["mlp_passes"]) == (1, k)
    assert all(r["candidates"] == len(test.inter_feat) and r["seconds_per_1M"] > 0 for r in rows.values())
    # a shared MLP with small per-value residuals: one full pass plus K small ones, less work than K experts
    keys["DCRMoE"] = {"expert_sharing": "residual", "residual_hidden_size": [2]}  # the tiny experts are (16, 8)
    residual, = inference_cost(make_config, train, test, ["DCRMoE"], 1)
    assert residual["backbone_passes"] == 1 and 1 < residual["mlp_passes"] < 2
    assert residual["multiply_adds"] < rows["DCRMoE"]["multiply_adds"]


def test_counter_sees_condition_inference_use_one_expert(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="DCRMoE", inference="condition", expert_sharing="separate")
    train, _, test = create_dataset(config).build()
    model = get_model("DCRMoE")(config, train).eval()
    with PassCounter(model) as counter:
        for batch in scoring_batches(test, 50):
            model.predict(batch)
    assert counter.backbone_rows == counter.mlp_rows == len(test.inter_feat)


def test_group_profile_on_a_hand_made_table():
    scores = [0.2, 0.4, 0.9, 0.1, 0.3]
    groups = [0, 0, 1, 2, 2]
    np.testing.assert_allclose(group_averages(scores, groups, 4)[:3], [0.3, 0.9, 0.2])
    assert np.isnan(group_averages(scores, groups, 4)[3])
    profile = group_profile(scores, groups, 4)
    expected = np.exp([0.3, 0.9, 0.2]) / np.exp([0.3, 0.9, 0.2]).sum()
    np.testing.assert_allclose(profile[:3], expected)
    assert np.isnan(profile[3])
    assert distance_to_truth(profile, profile) == 0
    flat = group_profile([1.0, 1.0, 1.0], [0, 1, 2], 4)
    assert distance_to_truth(profile, flat) == pytest.approx(0.5 * np.abs(expected - 1 / 3).sum())


def test_run_dcr_analysis_writes_tables_and_plot(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    out = tmp_path / "analysis"
    cmd = [sys.executable, "-m", "recbole_dcr", "analysis", "--dataset=tiny", "--analysis=cost,groups,users,swap", "--swap_field=category",
           "--models=DCRMoE,NFMWA", f"--output_dir={out}", "--active_train_share=0.5", "--repeats=1", f"--data_path={data_path}",
           "--benchmark_filename=['train','valid','test']", "--epochs=1", "--topk=[3]", "--valid_metric=NDCG@3",
           "--expert_hidden_size=[8]", "--mlp_hidden_size=[8]", f"--checkpoint_dir={tmp_path / 'saved'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cost = (out / "cost.md").read_text()
    assert "| DCRNFM | 3 | 3 |" in cost and "| DCRMoE-paper | 1 | 3 |" in cost  # K = 3 full MLPs, one backbone
    assert "| DCRMoE | 1 | " in cost  # the default's shared MLP + K small ones: its own fraction of passes
    groups = (out / "group_averages.md").read_text()
    assert "| GT |" in groups and "| DCRMoE |" in groups and "| NFMWA |" in groups
    assert "| curve | L0 | L1 | L2 |" in groups  # in the tokens' order, not RecBole's id order
    assert (out / "group_averages.png").read_bytes()[:4] == b"\x89PNG"
    users = (out / "user_groups.md").read_text()
    assert "| active | DCRMoE |" in users and "| inactive | NFMWA |" in users
    assert (out / "user_groups.png").read_bytes()[:4] == b"\x89PNG"
    swap = (out / "feature_swap.md").read_text()
    assert "| duration_level | NFMWA |" in swap and "| category | NFMWA |" in swap


def test_active_users_intersect_both_rankings(tiny_dataset, tmp_path):
    from recbole_dcr.research.analysis import active_users

    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path)
    train, _, test = create_dataset(config).build()
    uid, label = test.uid_field, test.eval_label_field
    train_rows = np.bincount(train.inter_feat[uid].numpy(), minlength=train.user_num)
    positives = np.bincount(test.inter_feat[uid].numpy(), weights=test.inter_feat[label].numpy(), minlength=train.user_num)
    evaluated = np.flatnonzero(positives > 0)
    everyone = active_users(train, test, 1.0, 1.0)
    assert set(np.flatnonzero(everyone)) == set(evaluated)
    half = active_users(train, test, 0.5, 1.0)
    chosen = np.flatnonzero(half)
    assert len(chosen) == round(0.5 * len(evaluated))
    assert train_rows[chosen].min() >= np.median(train_rows[evaluated]) - 1e-9 or len(chosen) == 0
    assert not active_users(train, test, 0.0, 1.0).any()


def test_evaluating_every_evaluated_user_equals_the_full_evaluation(tiny_dataset, tmp_path, monkeypatch):
    from recbole_dcr.research.analysis import active_users, evaluate_users
    from recbole_dcr.quick_start import train_and_test

    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, epochs=1, state="WARNING")
    _, trainer, test_data = train_and_test(config, verbose=False)
    train = create_dataset(config).build()[0]
    everyone = active_users(train, test_data._dataset, 1.0, 1.0)
    assert evaluate_users(trainer, config, test_data._dataset, everyone) == trainer.evaluate(test_data, load_best_model=False)
    some = active_users(train, test_data._dataset, 0.5, 1.0)
    assert evaluate_users(trainer, config, test_data._dataset, some) != trainer.evaluate(test_data, load_best_model=False)


def test_run_dcr_analysis_on_a_converted_kwai_dataset(tmp_path):
    """Raw Kwai-format log -> dataset_converters/kwai.py --faces -> every analysis, face_count swapped in."""
    from tests.converters.conftest import generated_kwai_rows, write_kwai

    rows = generated_kwai_rows(n_users=30, n_items=60, n_rows=3000, seed=3)
    faces = [(photo, "[" + ", ".join(["[0.02, 1, 25, 60]"] * (photo % 3)) + "]") for photo in range(60)]
    write_kwai(tmp_path / "raw", rows, faces=faces)
    converter = [sys.executable, os.path.join(REPO, "dataset_converters", "kwai.py"), "--raw", str(tmp_path / "raw"),
                 "--out", str(tmp_path / "data"), "--faces"]
    done = subprocess.run(converter, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "analysis"
    cmd = [sys.executable, "-m", "recbole_dcr", "analysis", "--dataset=kwai", f"--data_path={tmp_path / 'data'}",
           "--analysis=cost,groups,users,swap", "--swap_field=face_count", "--models=DCRMoE,NFMWA", f"--output_dir={out}",
           "--repeats=1", "--epochs=1", "--topk=[3]", "--valid_metric=NDCG@3", "--expert_hidden_size=[8]",
           "--mlp_hidden_size=[8]", f"--checkpoint_dir={tmp_path / 'saved'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    groups = (out / "group_averages.md").read_text()
    assert "| GT |" in groups and "| DCRMoE |" in groups and (out / "group_averages.png").exists()
    assert "| DCRMoE | 1 | " in (out / "cost.md").read_text()
    assert "| active | DCRMoE |" in (out / "user_groups.md").read_text()
    swap = (out / "feature_swap.md").read_text()
    assert "| duration_level | NFMWA |" in swap and "| face_count | NFMWA |" in swap
