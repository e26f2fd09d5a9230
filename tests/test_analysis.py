"""The analyses count real forward passes and group predictions correctly (tiny data)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from recbole_dcr.analysis import PassCounter, distance_to_truth, group_averages, group_profile, inference_cost, scoring_batches
from recbole_dcr.utils import create_dataset, get_model
from tests.conftest import tiny_config, tiny_config_dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pass_counts_follow_each_adjustment(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    make_config = lambda name: tiny_config(data_path, tmp_path, model=name)  # noqa: E731
    train, _, test = create_dataset(make_config("DCRMoE")).build()
    k = train.num_confounder_values
    assert k == 3
    rows = {r["model"]: r for r in inference_cost(make_config, train, test, ["NFMWA", "DCRNFM", "NWGMDCR", "DCRMoE"], 1)}
    assert (rows["NFMWA"]["backbone_passes"], rows["NFMWA"]["mlp_passes"]) == (1, 1)
    assert (rows["DCRNFM"]["backbone_passes"], rows["DCRNFM"]["mlp_passes"]) == (k, k)
    assert (rows["NWGMDCR"]["backbone_passes"], rows["NWGMDCR"]["mlp_passes"]) == (1, 1)
    assert (rows["DCRMoE"]["backbone_passes"], rows["DCRMoE"]["mlp_passes"]) == (1, k)
    assert all(r["candidates"] == len(test.inter_feat) and r["seconds_per_1M"] > 0 for r in rows.values())


def test_counter_sees_condition_inference_use_one_expert(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model="DCRMoE", inference="condition")
    train, _, test = create_dataset(config).build()
    model = get_model("DCRMoE")(config, train).eval()
    counter = PassCounter(model)
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
    cmd = [sys.executable, os.path.join(REPO, "run_dcr_analysis.py"), "--dataset=tiny", "--analysis=cost,groups",
           "--models=DCRMoE,NFMWA", f"--output_dir={out}", "--repeats=1", f"--data_path={data_path}",
           "--benchmark_filename=['train','valid','test']", "--epochs=1", "--topk=[3]", "--valid_metric=NDCG@3",
           "--expert_hidden_size=[8]", "--mlp_hidden_size=[8]", f"--checkpoint_dir={tmp_path / 'saved'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cost = (out / "cost.md").read_text()
    assert "| DCRNFM | 3 | 3 |" in cost and "| DCRMoE | 1 | 3 |" in cost
    groups = (out / "group_averages.md").read_text()
    assert "| GT |" in groups and "| DCRMoE |" in groups and "| NFMWA |" in groups
    assert (out / "group_averages.png").read_bytes()[:4] == b"\x89PNG"
