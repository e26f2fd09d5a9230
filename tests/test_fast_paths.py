"""The fast paths (``fast_data``, batched expert inference) give what the slow paths give."""

import pandas as pd
import pytest
import torch

from recbole_dcr import run_recbole_dcr
from recbole_dcr.config import Config
from recbole_dcr.data.dataloader import gather_rows
from recbole_dcr.model.experts import ExpertMLPs
from recbole_dcr.data import create_dataset
from tests.conftest import tiny_config_dict


def _awkward_dataset(folder):
    """Atomic files with what tends to split parsers: quotes, empty cells, long floats, seq fields."""
    folder.mkdir(parents=True)
    (folder / "odd.inter").write_text(
        "user_id:token\titem_id:token\tfinish:float\tlike:float\tscore:float\ttags:token_seq\n"
        "u1\ti1\t1\t0\t0.1000000000000000055511151231257827\ta b\n"
        'u1\t"i 2"\t0\t1\t\t\n'
        "u2\ti1\t1.0\t0\t1e-7\tc\n"
        "u2\ti3\t0\t1\t-3.14159265358979323846\t a  b \n"
        "u 3\ti3\t1\t1\t7.000000000000001e+300\td\n",
        encoding="utf-8",
    )
    (folder / "odd.item").write_text(
        "item_id:token\tduration_level:token\tcategory:token\n"
        "i1\t1\tx\n"
        '"i 2"\t2\t"y z"\n'
        "i3\t1\t\n",
        encoding="utf-8",
    )


def _load(data_path, tmp_path, fast):
    config = Config(model="NFMWA", dataset="odd", config_dict={
        **tiny_config_dict(data_path, tmp_path, benchmark_filename=None, fast_data=fast),
        "numerical_features": ["score"],
    })
    return create_dataset(config)


def test_c_parser_reads_atomic_files_exactly_as_recboles_parser(tmp_path, monkeypatch):
    _awkward_dataset(tmp_path / "data" / "odd")
    parsed = {}
    real_read_csv = pd.read_csv

    def spy(*args, **kwargs):
        frame = real_read_csv(*args, **kwargs)
        parsed.setdefault(kwargs["engine"], []).append(frame.copy())  # as parsed, before RecBole edits it
        return frame

    monkeypatch.setattr(pd, "read_csv", spy)
    fast = _load(str(tmp_path / "data"), tmp_path, fast=True)
    slow = _load(str(tmp_path / "data"), tmp_path, fast=False)
    assert set(parsed) == {"c", "python"}  # both parsers really ran
    for by_c, by_python in zip(parsed["c"], parsed["python"]):
        pd.testing.assert_frame_equal(by_c, by_python)
    assert fast.field2id_token.keys() == slow.field2id_token.keys()
    for field, tokens in fast.field2id_token.items():
        assert list(tokens) == list(slow.field2id_token[field]), field
    for dataset in (fast, slow):
        dataset._change_feat_format()  # RecBole's own DataFrame -> tensors step, as build() does
    for table in ("inter_feat", "item_feat"):
        ours, theirs = getattr(fast, table), getattr(slow, table)
        assert set(ours.columns) == set(theirs.columns)
        for column in ours.columns:
            assert torch.equal(ours[column], theirs[column]), (table, column)
    # pandas' default C float converter reads this one 1 ulp off; round_trip reads it as float() does
    assert float("-3.14159265358979323846") in parsed["c"][0]["score:float"].tolist()


def test_fast_data_gives_the_metrics_of_recboles_loaders(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    results = [
        run_recbole_dcr(model="DCRMoE", dataset="tiny", config_dict=tiny_config_dict(
            data_path, tmp_path, fast_data=fast, epochs=3, state="WARNING"))
        for fast in (True, False)
    ]
    assert results[0]["best_valid_result"] == results[1]["best_valid_result"]
    assert results[0]["test_result"] == results[1]["test_result"]


def test_device_path_batches_are_recboles_batches_row_for_row(tiny_dataset, tmp_path):
    """The loader's device path (index batches on its device, then one gather per field) is the code a GPU runs;
    here it runs on the CPU and gives the batches of RecBole's TrainDataLoader for the same seed."""
    from recbole_dcr.data import data_preparation

    data_path, _, _ = tiny_dataset
    loaders = {}
    for fast in (True, False):
        config = Config(model="DCRMoE", dataset="tiny", config_dict=tiny_config_dict(
            data_path, tmp_path, fast_data=fast, train_batch_size=16))
        loaders[fast] = data_preparation(config, create_dataset(config))[0]
    ours = loaders[True].to("cpu")
    for epoch in range(2):  # the second epoch's permutation too
        theirs = list(loaders[False])
        index_batches = list(ours.index_batches())
        assert len(index_batches) == len(theirs) == len(ours)
        for index, batch in zip(index_batches, theirs):
            gathered = ours.batch(index)
            assert set(gathered.columns) == set(batch.columns)
            for field in batch.columns:
                assert torch.equal(gathered[field], batch[field]), (epoch, field)


def test_fast_data_refuses_recboles_loaders_in_a_data_parallel_run(tiny_dataset, tmp_path):
    from recbole_dcr.data import data_preparation

    data_path, _, _ = tiny_dataset
    config = Config(model="DCRMoE", dataset="tiny", config_dict=tiny_config_dict(data_path, tmp_path, fast_data=False))
    config["single_spec"] = False
    with pytest.raises(ValueError, match="one process only"):
        data_preparation(config, create_dataset(config))


def test_gather_rows_equals_interaction_indexing(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = Config(model="DCRMoE", dataset="tiny", config_dict=tiny_config_dict(data_path, tmp_path))
    table = create_dataset(config).build()[0].inter_feat
    index = torch.tensor([5, 0, 5, 17, 3])
    gathered, indexed = gather_rows(table, index), table[index]
    assert set(gathered.columns) == set(indexed.columns)
    for column in indexed.columns:
        assert torch.equal(gathered[column], indexed[column])


@pytest.mark.parametrize("num_experts, hidden", [(6, [256, 128]), (1, [64, 64, 64]), (3, []), (24, [32])])
def test_expert_inference_in_slices_equals_the_batched_pass(num_experts, hidden):
    torch.manual_seed(0)
    experts = ExpertMLPs(num_experts, 16, hidden).eval()
    for bias in experts.biases:
        bias.data.normal_()
    m = torch.randn(9000, 16)  # several inference slices, the last one partial
    batched = experts.all_experts(m)  # with autograd on: one pass over the whole batch
    with torch.no_grad():
        sliced = experts.all_experts(m)
    assert sliced.shape == (9000, num_experts)
    torch.testing.assert_close(sliced, batched.detach(), rtol=1e-6, atol=1e-7)


def test_own_expert_routes_each_row_to_its_expert():
    torch.manual_seed(1)
    experts = ExpertMLPs(4, 8, [16])
    m, index = torch.randn(50, 8), torch.randint(0, 4, (50,))
    index[index == 2] = 1  # an expert without rows in the batch
    routed = experts.own_expert(m, index)
    every = experts.all_experts(m)
    torch.testing.assert_close(routed, every[torch.arange(50), index])
    routed.sum().backward()
    assert experts.weights[0].grad[2].abs().sum() == 0  # no row of expert 2: no gradient reaches it
    assert experts.weights[0].grad[1].abs().sum() > 0
