"""Training batches equal RecBole's, and a 2-process (gloo, CPU) run equals a 1-process run."""

import socket

import pytest
import torch
from recbole.data.dataloader import TrainDataLoader

from recbole_dcr.data.dataloader import DCRTrainDataLoader
from recbole_dcr.quick_start import run, run_recbole_dcr
from recbole_dcr.data import create_dataset
from tests.conftest import tiny_config, tiny_config_dict


@pytest.mark.parametrize("shuffle", [True, False])
def test_train_batches_equal_recboles_train_dataloader(shuffle, tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, train_batch_size=37, shuffle=shuffle)
    train = create_dataset(config).build()[0]
    ours = DCRTrainDataLoader(config, train, shuffle=shuffle)
    recboles = TrainDataLoader(config, train, None, shuffle=shuffle)
    assert len(ours) == len(recboles)
    for _ in range(3):  # several epochs: the generators must stay in step
        batches = list(zip(ours, recboles, strict=True))
        assert len(batches) == len(recboles)
        for mine, theirs in batches:
            assert set(mine.columns) == set(theirs.columns)
            for field in theirs.columns:
                assert torch.equal(mine[field], theirs[field]), field


def test_ranks_split_each_global_batch(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, train_batch_size=37)
    train = create_dataset(config).build()[0]
    whole = [batch["item_id"] for batch in DCRTrainDataLoader(config, train)]
    shares = []
    for rank in range(3):
        config.final_config_dict.update(single_spec=False, world_size=3, local_rank=rank, offset=0)
        loader = DCRTrainDataLoader(config, train)
        shares.append([(batch["item_id"], loader.global_batch_rows) for batch in loader])
    for step, batch in enumerate(whole):
        assert torch.equal(torch.cat([shares[rank][step][0] for rank in range(3)]), batch)
        assert all(shares[rank][step][1] == len(batch) for rank in range(3))


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return str(s.getsockname()[1])


@pytest.mark.parametrize("model", ["DCRMoE", "NFMWA"])
def test_two_gloo_processes_equal_one_process(model, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    # 216 training rows in global batches of 37 split 19/18 and the last (31 rows) 16/15: the loss
    # weighting must make unequal shares add up to the one-process gradient. Small evaluation
    # batches give each rank users of its own to gather.
    # (no dropout of either kind: each rank draws masks for its own rows, as torch's DDP does)
    settings = dict(state="WARNING", epochs=3, dropout_prob=0.0, confounder_content_dropout=0.0, train_batch_size=37,
                    learning_rate=0.05, eval_batch_size=40)
    one = run_recbole_dcr(model, "tiny", config_dict=tiny_config_dict(data_path, tmp_path / "one", **settings))
    two = run(model, "tiny", config_dict=tiny_config_dict(data_path, tmp_path / "two", **settings),
              nproc=2, port=_free_port())
    assert two is not None
    assert two["test_result"] == one["test_result"]
    assert two["best_valid_result"] == one["best_valid_result"]
    assert two["best_valid_score"] == pytest.approx(one["best_valid_score"], abs=1e-4)


def test_fairgo_refuses_data_parallel(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config_dict = tiny_config_dict(data_path, tmp_path, state="WARNING", epochs=1)
    with pytest.raises(Exception, match="FairGo"):
        run("FairGo", "tiny", config_dict=config_dict, nproc=2, port=_free_port())


def test_cli_nproc_flag_runs_two_processes(tiny_dataset, tmp_path):
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data_path, _, _ = tiny_dataset
    cmd = [sys.executable, os.path.join(repo, "run_recbole_dcr.py"), "--model=NFMWA", "--dataset=tiny", "--nproc=2",
           f"--port={_free_port()}", "--gpu_id=", f"--data_path={data_path}",
           "--benchmark_filename=['train','valid','test']", "--epochs=1", "--topk=[3]", "--valid_metric=NDCG@3",
           f"--checkpoint_dir={tmp_path / 'saved'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=repo), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test result" in done.stdout + done.stderr
    assert len(list((tmp_path / "saved").glob("*.pth"))) == 1  # rank 0 alone writes the checkpoint
