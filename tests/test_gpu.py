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
