"""Per-user ranking metrics against a brute-force numpy computation, ties and empty users included."""

import numpy as np
import pytest
import torch
from torch import nn

from recbole_dcr.trainer import DCRTrainer
from recbole_dcr.data import create_dataset, data_preparation
from tests.conftest import tiny_config, write_atomic

TOPK = [1, 3, 5]


class RowScore(nn.Module):
    """A 'model' whose score is a column of the data, so the expected ranking is known."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def predict(self, interaction):
        return interaction["score"]

    def other_parameter(self):
        return None


def brute_force(rows, k):
    """RecBole's definitions, per user with at least one like; ties keep the file's row order."""
    per_user = {}
    for user, _, score, like in rows:
        per_user.setdefault(user, []).append((score, like))
    values = {name: [] for name in ("recall", "cappedrecall", "precision", "hit", "mrr", "ndcg", "map")}
    for pairs in per_user.values():
        likes = np.array([like for _, like in pairs])
        if likes.sum() == 0:
            continue
        order = np.argsort(-np.array([score for score, _ in pairs]), kind="stable")
        hits = likes[order][:k]
        hits = np.concatenate([hits, np.zeros(k - len(hits))])
        n_pos = likes.sum()
        ranks = np.arange(1, k + 1)
        values["recall"].append(hits.sum() / n_pos)
        values["cappedrecall"].append(hits.sum() / min(n_pos, k))  # the paper's Recall (authors' test2)
        values["precision"].append(hits.sum() / k)
        values["hit"].append(float(hits.any()))
        values["mrr"].append(1.0 / ranks[hits > 0][0] if hits.any() else 0.0)
        ideal = np.zeros(k)
        ideal[: int(min(n_pos, k))] = 1
        values["ndcg"].append((hits / np.log2(ranks + 1)).sum() / (ideal / np.log2(ranks + 1)).sum())
        precision_at = np.cumsum(hits) / ranks
        values["map"].append((precision_at * hits).sum() / min(n_pos, k))
    return {f"{name}@{k}": float(np.mean(v)) for name, v in values.items()}


@pytest.mark.parametrize("eval_batch_size", [7, 10_000])
def test_metrics_equal_brute_force(tmp_path, eval_batch_size):
    rng = np.random.default_rng(3)
    rows = []
    for user in range(30):
        n_rows = int(rng.integers(1, 12))  # some users have fewer rows than k
        for item in rng.choice(50, size=n_rows, replace=False):
            score = float(rng.integers(0, 4))  # few distinct values: many ties
            like = int(rng.random() < 0.3) if user % 5 else 0  # every fifth user has no like
            rows.append((f"u{user}", f"i{item}", score, like))
    header = ["user_id:token", "item_id:token", "score:float", "like:float", "finish:float", "duration_level:token"]
    folder = tmp_path / "data" / "ties"
    train_rows = [(f"u{u}", f"i{u}", 0.0, 0, 1, "a") for u in range(30)]
    write_atomic(folder, "ties.train.inter", header, train_rows)
    for part in ("valid", "test"):
        write_atomic(folder, f"ties.{part}.inter", header, [r + (1, "a") for r in rows])

    config = tiny_config(
        str(tmp_path / "data"),
        tmp_path,
        dataset="ties",
        metrics=["Recall", "CappedRecall", "Precision", "Hit", "MRR", "NDCG", "MAP"],
        topk=TOPK,
        valid_metric="NDCG@3",
        eval_batch_size=eval_batch_size,
        metric_decimal_place=10,
    )
    _, _, test = data_preparation(config, create_dataset(config))
    if eval_batch_size == 7:
        assert len(test) > 3  # several batches of whole users
    trainer = DCRTrainer(config, RowScore())
    result = trainer.evaluate(test, load_best_model=False)
    expected = {}
    for k in TOPK:
        expected.update(brute_force(rows, k))
    assert set(result) == set(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-8), key


def test_unsupported_metric_is_refused(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, metrics=["Recall", "ItemCoverage"])
    with pytest.raises(ValueError, match=r"ItemCoverage.*not supported by per-user ranking"):
        DCRTrainer(config, RowScore())


def test_capped_recall_can_be_the_validation_metric_and_is_at_least_recall(tiny_dataset, tmp_path):
    from recbole_dcr.registry import get_model

    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, metrics=["Recall", "CappedRecall"], topk=[3],
                         valid_metric="CappedRecall@3")
    assert config["valid_metric_bigger"] is True
    train, _, test = data_preparation(config, create_dataset(config))
    result = DCRTrainer(config, get_model("DCRMoE")(config, train._dataset)).evaluate(test, load_best_model=False)
    assert result["cappedrecall@3"] >= result["recall@3"]
