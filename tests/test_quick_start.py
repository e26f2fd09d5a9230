"""End to end: run_recbole_dcr, objective_function and the CLI on atomic files outside the repo."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from recbole_dcr import objective_function, run_recbole_dcr
from recbole_dcr.config import Config
from recbole_dcr.data.simulator import SIM_KEYS, ensure_simulated_dataset, simulate
from tests.conftest import INTER_HEADER, random_confounded_rows, tiny_config_dict, write_atomic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_KEYS = {"best_valid_score", "valid_score_bigger", "best_valid_result", "test_result"}


def _config_dict(data_path, tmp_path, **extra):
    return tiny_config_dict(data_path, tmp_path, **{"topk": [3], "state": "WARNING", **extra})


ALL_MODELS = ["DCRMoE", "DCRNFM", "NWGMDCR", "MoE", "NFMWA", "NFMWOA", "IPW", "FairGo", "CR"]


@pytest.mark.parametrize("model", ALL_MODELS + ["FM"])
def test_run_recbole_dcr_on_benchmark_files(model, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # RecBole writes log/ into the working directory
    data_path, _, _ = tiny_dataset
    result = run_recbole_dcr(model=model, dataset="tiny", config_dict=_config_dict(data_path, tmp_path))
    assert set(result) == RESULT_KEYS
    assert set(result["test_result"]) == {"recall@3", "cappedrecall@3", "map@3", "ndcg@3"}
    assert 0 <= result["test_result"]["ndcg@3"] <= 1


def test_run_recbole_dcr_with_recbole_random_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inter, items = random_confounded_rows(n_users=30)
    write_atomic(tmp_path / "data" / "one", "one.inter", INTER_HEADER, inter)
    write_atomic(tmp_path / "data" / "one", "one.item", ["item_id:token", "duration_level:token"], [r[:2] for r in items])
    config = _config_dict(str(tmp_path / "data"), tmp_path, benchmark_filename=None)
    result = run_recbole_dcr(model="DCRMoE", dataset="one", config_dict=config, saved=False)
    assert set(result) == RESULT_KEYS and result["test_result"]["recall@3"] >= 0


def test_objective_function_for_hyper_tuning(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = _config_dict(data_path, tmp_path, model="NFMWOA", dataset="tiny", learning_rate=0.05)
    result = objective_function(config_dict=config)
    assert result["model"] == "NFMWOA" and set(result) == RESULT_KEYS | {"model"}


@pytest.mark.parametrize("model", ALL_MODELS)
def test_cli_runs_with_overrides_and_prints_test_metrics(model, tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    env = dict(os.environ, PYTHONPATH=REPO)
    cmd = [
        sys.executable,
        os.path.join(REPO, "run_recbole_dcr.py"),
        f"--model={model}",
        "--dataset=tiny",
        f"--data_path={data_path}",
        "--benchmark_filename=['train','valid','test']",
        "--epochs=1",
        "--topk=[3]",
        "--valid_metric=NDCG@3",
        "--show_progress=False",
        "--learning_rate=0.05",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "test result" in out and "ndcg@3" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^learning_rate = 0\.05$", plain, re.MULTILINE)  # the --key=value override reached Config


def test_plugin_yaml_defaults_and_priority(tmp_path):
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={"embedding_size": 8})
    assert config["inference"] == "do" and config["expert_hidden_size"] == [256, 128] and config["backbone"] == "NFM"
    assert config["embedding_size"] == 8  # config_dict beats properties/model/DCRMoE.yaml
    assert config["learner"] == "adagrad" and config["LABEL_FIELD"] == "finish"
    assert config["metrics"] == ["Recall", "CappedRecall", "MAP", "NDCG"]  # plugin overall.yaml beats RecBole's context defaults
    assert Config(model="FM", dataset="dcr_sim")["EVAL_LABEL_FIELD"] == "like"


def test_simulator_is_calibrated_like_the_paper_and_seeded():
    inter, item, match, stats = simulate(dict(SIM_KEYS))
    assert -0.25 <= stats["rho1_confounder_vs_train_label"] <= -0.1
    assert abs(stats["rho2_confounder_vs_eval_label"]) < 0.02
    assert 0.01 < stats["like_rate"] < 0.08
    assert len(match) == len(inter)
    again, _, _, _ = simulate(dict(SIM_KEYS))
    assert again.equals(inter)
    other, _, _, _ = simulate(dict(SIM_KEYS, sim_seed=1))
    assert not other.equals(inter)


def test_simulated_dataset_is_generated_once_and_regenerated_on_change(tmp_path):
    small = {"sim_users": 20, "sim_items": 50, "sim_rows_per_user": 10, "sim_creators": 5}
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={"data_path": str(tmp_path), **small})
    ensure_simulated_dataset(config)
    folder = tmp_path / "dcr_sim"
    assert sorted(os.listdir(folder)) == ["dcr_sim.inter", "dcr_sim.item", "dcr_sim.match", "dcr_sim.sim.json"]
    stamp = os.path.getmtime(folder / "dcr_sim.inter")
    ensure_simulated_dataset(config)
    assert os.path.getmtime(folder / "dcr_sim.inter") == stamp
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={"data_path": str(tmp_path), **small, "sim_users": 30})
    ensure_simulated_dataset(config)
    assert json.load(open(folder / "dcr_sim.sim.json"))["stats"]["users"] == 30
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no staging folder left behind
    rows = np.loadtxt(folder / "dcr_sim.match", skiprows=1)
    assert rows.shape == (300, 3)
