"""Tiny atomic datasets written into tmp folders, and configs pointing at them."""

import os

import numpy as np
import pytest

from recbole_dcr.config import Config


def write_atomic(folder, name, header, rows):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(v) for v in row) + "\n")


def random_confounded_rows(n_users=24, n_items=40, rows_per_user=15, k=3, seed=0):
    """(inter rows, item rows): finish depends on the item's level a, like on a user-item match."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, k, size=n_items)
    user_vec, item_vec = rng.normal(size=(n_users, 4)), rng.normal(size=(n_items, 4))
    inter = []
    for user in range(n_users):
        for item in rng.choice(n_items, size=rows_per_user, replace=False):
            match = user_vec[user] @ item_vec[item]
            finish = int(rng.random() < 1 / (1 + np.exp(-(match + 1.0 - levels[item]))))
            like = int(rng.random() < 1 / (1 + np.exp(-(2 * match - 2))))
            inter.append((f"u{user}", f"i{item}", finish, like))
    items = [(f"i{item}", f"L{levels[item]}", f"c{item % 3}") for item in range(n_items)]
    return inter, items


INTER_HEADER = ["user_id:token", "item_id:token", "finish:float", "like:float"]
ITEM_HEADER = ["item_id:token", "duration_level:token", "category:token"]


@pytest.fixture
def tiny_dataset(tmp_path):
    """A pre-split (benchmark) dataset 'tiny' under tmp_path/data; returns (data_path, inter rows by split)."""
    inter, items = random_confounded_rows()
    n = len(inter)
    splits = {"train": inter[: int(0.6 * n)], "valid": inter[int(0.6 * n) : int(0.8 * n)], "test": inter[int(0.8 * n) :]}
    folder = tmp_path / "data" / "tiny"
    for part, rows in splits.items():
        write_atomic(folder, f"tiny.{part}.inter", INTER_HEADER, rows)
    write_atomic(folder, "tiny.item", ITEM_HEADER, items)
    return str(tmp_path / "data"), splits, items


def tiny_config_dict(data_path, tmp_path, **overrides):
    """Config for the tiny pre-split datasets: small model, few epochs, quiet, files under tmp_path."""
    config_dict = {
        "data_path": data_path,
        "benchmark_filename": ["train", "valid", "test"],
        "checkpoint_dir": str(tmp_path / "saved"),
        "show_progress": False,
        "epochs": 2,
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "topk": [3, 5],
        "valid_metric": "NDCG@3",
        "mlp_hidden_size": [16, 8],
        "expert_hidden_size": [16, 8],
        "seed": 7,
    }
    config_dict.update(overrides)
    return config_dict


def tiny_config(data_path, tmp_path, model="DCRMoE", dataset="tiny", **overrides):
    return Config(model=model, dataset=dataset, config_dict=tiny_config_dict(data_path, tmp_path, **overrides))
