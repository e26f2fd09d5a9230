"""RecBole's own HyperTuning drives recbole_dcr.objective_function; run_hyper.py with hyperopt and Ray."""

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


def test_run_hyper_script_lists_every_trial_and_the_best(tiny_dataset, tmp_path):
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data_path, _, _ = tiny_dataset
    out = tmp_path / "hyper.txt"
    cmd = [sys.executable, os.path.join(repo, "run_hyper.py"), "--model=DCRMoE", "--dataset=tiny",
           f"--params_file={os.path.join(repo, 'hyper', 'tiny.hyper')}", f"--output_file={out}",
           f"--data_path={data_path}", "--benchmark_filename=['train','valid','test']", "--epochs=1", "--topk=[3]",
           "--valid_metric=NDCG@3", "--expert_hidden_size=[8]"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=repo), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text()
    assert text.count("Test result:") == 5  # four trials, then the best again
    best = text.split("Best (by validation):\n")[1].splitlines()[0]
    assert best.startswith("inference:") and "learning_rate:" in best


def test_ray_search_runs_two_trials_with_own_checkpoints(tiny_dataset, tmp_path):
    """run_hyper.py --tool=ray on a local Ray with 2 CPUs: two trials, each with its own folder."""
    import os
    import subprocess
    import sys

    pytest.importorskip("ray.tune")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data_path, _, _ = tiny_dataset
    params = tmp_path / "two.hyper"
    params.write_text("learning_rate choice [0.01,0.05]\n")
    out, storage = tmp_path / "ray.txt", tmp_path / "ray_results"
    # A relative data_path: the driver makes it absolute before Ray moves trials into their own folders.
    cmd = [sys.executable, os.path.join(repo, "run_hyper.py"), "--tool=ray", "--model=DCRMoE", "--dataset=tiny",
           f"--params_file={params}", f"--output_file={out}", "--num_cpus=2", "--cpus_per_trial=1",
           f"--storage_path={storage}", f"--data_path={os.path.relpath(data_path, tmp_path)}",
           "--benchmark_filename=['train','valid','test']", "--epochs=2", "--topk=[3]", "--valid_metric=NDCG@3",
           "--expert_hidden_size=[8]"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=repo), capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert "learning_rate:0.01" in text and "learning_rate:0.05" in text
    assert text.count("finished after") == 2
    best = text.split("Best (by validation):\n")[1].splitlines()
    assert best[0].startswith("learning_rate:") and "ndcg@3" in best[2]
    checkpoints = sorted(str(p) for p in storage.rglob("saved/*.pth"))
    assert len(checkpoints) == 2 and len({os.path.dirname(p) for p in checkpoints}) == 2
