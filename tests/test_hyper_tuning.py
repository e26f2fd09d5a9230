"""RecBole's own HyperTuning drives recbole_dcr.objective_function."""

import pytest
import yaml

from recbole_dcr import objective_function

hyper_tuning = pytest.importorskip("recbole.trainer.hyper_tuning")
pytest.importorskip("hyperopt")


def test_exhaustive_hyper_tuning_over_plugin_model(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({
        "model": "DCRMoE", "dataset": "tiny", "data_path": data_path,
        "benchmark_filename": ["train", "valid", "test"], "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 1, "topk": [3], "valid_metric": "NDCG@3", "mlp_hidden_size": [8], "show_progress": False,
    }))
    params = tmp_path / "dcr.hyper"
    params.write_text("learning_rate choice [0.01,0.05]\ninference choice ['do','condition']\n")
    tuner = hyper_tuning.HyperTuning(
        objective_function, algo="exhaustive", params_file=str(params), fixed_config_file_list=[str(fixed)]
    )
    tuner.run()
    assert len(tuner.params2result) == 4
    assert set(tuner.best_params) == {"learning_rate", "inference"}
    assert all("ndcg@3" in result["test_result"] for result in tuner.params2result.values())
