"""Two labels, P(a), hidden evaluation label, and every bad-data error of DCRDataset."""

import logging

import numpy as np
import pytest
import torch

from recbole_dcr.data.dataset import DatasetError
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model
from tests.conftest import INTER_HEADER, ITEM_HEADER, random_confounded_rows, tiny_config, write_atomic


def test_train_split_fits_train_label_and_eval_splits_rank_on_eval_label(tiny_dataset, tmp_path):
    data_path, splits, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, shuffle=False, train_batch_size=10_000)
    assert config["LABEL_FIELD"] == "finish"
    train, valid, test = data_preparation(config, create_dataset(config))

    batch = next(iter(train))
    assert batch["finish"].tolist() == [float(r[2]) for r in splits["train"]]

    for loader, rows in ((valid, splits["valid"]), (test, splits["test"])):
        liked = {(u, i) for u, i, _, like in rows if like == 1}
        users_with_like = {u for u, _ in liked}
        ranked = set()
        for interaction, row_user, row_col, positive_u, positive_i, shape in loader:
            users = loader._dataset.id2token("user_id", interaction["user_id"])
            items = loader._dataset.id2token("item_id", interaction["item_id"])
            cells = {(int(u), int(c)): (users[n], items[n]) for n, (u, c) in enumerate(zip(row_user, row_col))}
            positives = {cells[(int(u), int(c))] for u, c in zip(positive_u, positive_i)}
            ranked |= set(users)
            assert positives == {pair for pair in cells.values() if pair in liked}
        assert ranked == users_with_like  # users without a like are skipped


def test_eval_label_is_never_a_model_feature(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    for model_name in ("DCRMoE", "NFMWA", "FM"):
        config = tiny_config(data_path, tmp_path, model=model_name, confounder_as_content=False)
        train, _, _ = data_preparation(config, create_dataset(config))
        model = get_model(model_name)(config, train._dataset)
        used = model.token_field_names + model.float_field_names + model.first_order_linear.float_field_names
        assert "like" not in used and "finish" not in used
        assert ("duration_level" in model.token_field_names) == (model_name != "DCRMoE")  # the paper's DCR-MoE


def test_label_as_numerical_feature_is_refused(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    with pytest.raises(DatasetError, match=r"numerical_features lists the label field\(s\) \['like'\]"):
        create_dataset(tiny_config(data_path, tmp_path, numerical_features=["like"]))


def test_confounder_prior_is_training_frequency(tiny_dataset, tmp_path):
    data_path, splits, items = tiny_dataset
    config = tiny_config(data_path, tmp_path)
    dataset = create_dataset(config)
    train, _, _ = dataset.build()
    level_of = {item: level for item, level, _ in items}
    levels = [level_of[item] for _, item, _, _ in splits["train"]]
    tokens = dataset.field2id_token["duration_level"][1:]
    expected = [levels.count(token) / len(levels) for token in tokens]
    np.testing.assert_allclose(train.confounder_prior().numpy(), expected)
    assert dataset.num_confounder_values == 3


def test_confounder_on_the_interaction_works_too(tmp_path):
    inter, items = random_confounded_rows()
    level_of = {item: level for item, level, _ in items}
    rows = [(u, i, f, l, level_of[i]) for u, i, f, l in inter]
    write_atomic(tmp_path / "data" / "onrow", "onrow.inter", INTER_HEADER + ["duration_level:token"], rows)
    config = tiny_config(str(tmp_path / "data"), tmp_path, dataset="onrow", benchmark_filename=None)
    train, valid, test = create_dataset(config).build()
    assert len(train) + len(valid) + len(test) == len(rows)
    assert torch.isclose(train.confounder_prior().sum(), torch.tensor(1.0, dtype=torch.float64))


def _write_variant(tmp_path, inter_header=INTER_HEADER, item_header=ITEM_HEADER, mutate=None):
    inter, items = random_confounded_rows()
    if mutate:
        inter, items = mutate(inter, items)
    folder = tmp_path / "data" / "bad"
    n = len(inter)
    for part, rows in (("train", inter[: n // 2]), ("valid", inter[n // 2 : 3 * n // 4]), ("test", inter[3 * n // 4 :])):
        write_atomic(folder, f"bad.{part}.inter", inter_header, rows)
    write_atomic(folder, "bad.item", item_header, items)
    return str(tmp_path / "data")


def _load(data_path, tmp_path):
    return create_dataset(tiny_config(data_path, tmp_path, dataset="bad"))


def test_missing_train_label_column(tmp_path):
    header = ["user_id:token", "item_id:token", "finished:float", "like:float"]
    with pytest.raises(DatasetError, match=r"bad\.train\.inter.*no column 'finish' \(TRAIN_LABEL_FIELD\).*Fix"):
        _load(_write_variant(tmp_path, inter_header=header), tmp_path)


def test_missing_eval_label_column(tmp_path):
    header = ["user_id:token", "item_id:token", "finish:float", "liked:float"]
    with pytest.raises(DatasetError, match=r"no column 'like' \(EVAL_LABEL_FIELD\)"):
        _load(_write_variant(tmp_path, inter_header=header), tmp_path)


def test_missing_confounder_column(tmp_path):
    header = ["item_id:token", "length:token", "category:token"]
    with pytest.raises(DatasetError, match=r"bad\.item: no column 'duration_level' \(CONFOUNDER_FIELD\)"):
        _load(_write_variant(tmp_path, item_header=header), tmp_path)


def test_float_confounder_is_refused(tmp_path):
    header = ["item_id:token", "duration_level:float", "category:token"]
    mutate = lambda inter, items: (inter, [(i, 1.5, c) for i, _, c in items])  # noqa: E731
    with pytest.raises(DatasetError, match=r"'duration_level'.*declared ':float'.*discretize"):
        _load(_write_variant(tmp_path, item_header=header, mutate=mutate), tmp_path)


def test_label_outside_zero_one_names_file_and_line(tmp_path):
    def mutate(inter, items):
        inter = list(inter)
        row = len(inter) // 2 + 3  # fourth row of the valid file
        inter[row] = inter[row][:2] + (2, inter[row][3])
        return inter, items

    with pytest.raises(DatasetError, match=r"bad\.valid\.inter: column 'finish'.*0/1.*line 5 has 2\.0"):
        _load(_write_variant(tmp_path, mutate=mutate), tmp_path)


def test_missing_confounder_value_for_an_item(tmp_path):
    mutate = lambda inter, items: (inter, [(i, "" if n == 0 else lv, c) for n, (i, lv, c) in enumerate(items)])  # noqa: E731
    with pytest.raises(DatasetError, match=r"bad\.item: column 'duration_level'.*empty or missing.*'i0'"):
        _load(_write_variant(tmp_path, mutate=mutate), tmp_path)


def test_dataset_without_files_names_the_path_and_converter(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere\.train\.inter.*never downloads.*dataset_converters"):
        create_dataset(tiny_config(str(tmp_path / "data"), tmp_path, dataset="nowhere"))


def test_confounder_value_unseen_in_training_warns(tmp_path, caplog):
    def mutate(inter, items):
        # item i0 gets a level of its own, and all its rows go after the training half
        items = [(i, "L9" if i == "i0" else lv, c) for i, lv, c in items]
        others = [r for r in inter if r[1] != "i0"]
        return others[: len(inter) // 2] + [r for r in inter if r[1] == "i0"] + others[len(inter) // 2 :], items

    data_path = _write_variant(tmp_path, mutate=mutate)
    dataset = _load(data_path, tmp_path)
    with caplog.at_level(logging.WARNING):
        dataset.build()
    assert "['L9']" in caplog.text and "DCRMoE" in caplog.text and "NFMWA" in caplog.text
