"""Each converter's output trains and tests through recbole_dcr's own entry point, with no editing."""

import pytest

from recbole_dcr.converters import kuairand, kwai, wechat
from recbole_dcr import run_recbole_dcr


def _kwai(raw, folder):
    raw.write_kwai(folder, raw.generated_kwai_rows(n_users=20, n_items=60, n_rows=1500))
    return kwai


def _wechat(raw, folder):
    raw.write_wechat(folder, *raw.generated_wechat(n_users=20, n_feeds=60, n_rows=1500))
    return wechat


def _kuairand(raw, folder):
    standard, random = raw.generated_kuairand(n_users=20, n_videos=60, n_standard=1500, n_random=200)
    raw.write_kuairand(folder, standard, random)
    return kuairand


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name, write", [("kwai", _kwai), ("wechat", _wechat), ("kuairand", _kuairand)])
def test_converted_dataset_runs_dcrmoe(name, write, raw, tmp_path, monkeypatch):
    converter = write(raw, tmp_path / "raw")
    converter.convert(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "data"), "--quiet"])
    monkeypatch.chdir(tmp_path)
    config = {
        "data_path": str(tmp_path / "data"),
        "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 1,
        "show_progress": False,
        "state": "WARNING",
        "mlp_hidden_size": [16],
    }
    result = run_recbole_dcr(model="DCRMoE", dataset=name, config_dict=config)
    assert result["test_result"] is not None and min(result["test_result"].values()) >= 0
