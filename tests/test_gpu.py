"""The GPU path (skipped without CUDA; benchmarks/gpu_check.sh runs it on a lent device).

Every model trains and ranks on the GPU, scores on the GPU equal the CPU's for the same weights,
sparse embedding tables work there, and two data-parallel processes with NCCL give the one-process
figures when the machine has two GPUs.
"""

import copy
import os

import pytest
import torch

from recbole_dcr import run_recbole_dcr
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.model.experts import EXPERT_SHARING
from recbole_dcr.registry import get_model
from tests.conftest import tiny_config, tiny_config_dict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
GPU = os.environ.get("RECBOLE_DCR_TEST_GPU", "0")
MODELS = ["DCRMoE", "DCRNFM", "NWGMDCR", "MoE", "NFMWA", "NFMWOA", "IPW", "FairGo", "CR", "FM"]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_and_ranks_on_the_gpu(model, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, gpu_id=GPU, state="WARNING", topk=[3])
    result = run_recbole_dcr(model=model, dataset="tiny", config_dict=config)
    assert 0 <= result["test_result"]["ndcg@3"] <= 1


@pytest.mark.parametrize("model", ["DCRMoE", "NFMWA", "DCRNFM", "NWGMDCR"])
def test_gpu_scores_equal_cpu_scores_for_the_same_weights(model, tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model=model, gpu_id=GPU, train_batch_size=10_000)
    assert config["device"].type == "cuda" and config["use_gpu"] is True
    train, _, _ = data_preparation(config, create_dataset(config))
    cpu_model = get_model(model)(config, train._dataset).eval()
    gpu_model = copy.deepcopy(cpu_model).to(config["device"])
    batch = next(iter(train))
    with torch.no_grad():
        torch.testing.assert_close(gpu_model.predict(batch.to(config["device"])).cpu(), cpu_model.predict(batch),
                                   rtol=1e-4, atol=1e-5)


def test_sparse_embedding_tables_on_the_gpu(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, gpu_id=GPU, sparse_embeddings=True, state="WARNING", topk=[3])
    assert 0 <= run_recbole_dcr(model="DCRMoE", dataset="tiny", config_dict=config)["test_result"]["ndcg@3"] <= 1


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL runs one process per GPU: needs 2 GPUs")
def test_two_nccl_processes_give_the_one_process_figures(tiny_dataset, tmp_path, monkeypatch):
    from recbole_dcr.quick_start import run

    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, gpu_id="0,1", state="WARNING", topk=[3], dropout_prob=0.0)
    single = run(model="DCRMoE", dataset="tiny", config_dict={**config, "gpu_id": "0"})
    double = run(model="DCRMoE", dataset="tiny", config_dict=config, nproc=2, port="29533")
    for split in ("best_valid_result", "test_result"):
        for key, value in single[split].items():
            assert double[split][key] == pytest.approx(value, abs=1e-4), (split, key)


@pytest.mark.parametrize("model, overrides", [("DCRMoE", {"expert_sharing": sharing}) for sharing in EXPERT_SHARING]
                         + [("DCRMoE", {"train_precision": "bf16"}), ("NFMWA", {}), ("IPW", {}), ("CR", {})])
def test_cuda_graph_training_equals_the_eager_loop(model, overrides, tiny_dataset, tmp_path, monkeypatch):
    """Full batches replay one captured graph; the figures are the eager loop's (the same kernels run)."""
    from recbole_dcr.quick_start import train

    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, gpu_id=GPU, state="WARNING", topk=[3], epochs=2,
                              train_batch_size=16, **overrides)  # 13 full batches and a short one per epoch
    runs = {graphs: train(model, "tiny", config_dict={**config, "cuda_graphs": graphs}, command_line=[], quiet=True)
            for graphs in (True, False)}
    assert runs[True].trainer._graph is not None and runs[True].trainer._graph.graph is not None
    assert runs[False].trainer._graph is None
    for split in ("best_valid_result", "test_result"):
        for key, value in runs[False].result[split].items():
            assert runs[True].result[split][key] == pytest.approx(value, abs=1e-5), (split, key)
    steps = {g: [int(s["step"]) for s in r.trainer.optimizer.state.values() if "step" in s] for g, r in runs.items()}
    assert steps[True] == steps[False] and steps[True][0] == 2 * 14  # the replays advanced Adagrad's step counts


def test_device_loader_gives_the_cpu_batches(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, gpu_id=GPU, train_batch_size=16)
    cpu_batches = [b.interaction for b in data_preparation(config, create_dataset(config))[0]]
    loader = data_preparation(config, create_dataset(config))[0].to(config["device"])
    for cpu, gpu in zip(cpu_batches, loader, strict=True):
        assert all(gpu[field].is_cuda and torch.equal(gpu[field].cpu(), cpu[field]) for field in cpu)


@pytest.mark.parametrize("precision", ["bf16"])
def test_bf16_training_runs_on_the_gpu(precision, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config_dict(data_path, tmp_path, gpu_id=GPU, state="WARNING", topk=[3], train_precision=precision)
    assert 0 <= run_recbole_dcr(model="DCRMoE", dataset="tiny", config_dict=config)["test_result"]["ndcg@3"] <= 1
