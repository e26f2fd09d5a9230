"""Top-N lists from a saved model: brute-force equality, exclusion, raw ids, refusals, the CLI."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_dcr.recommend import load_data_and_model, recommend
from recbole_dcr.checkpoint import load_checkpoint
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import get_model, get_trainer
from tests.conftest import tiny_config, write_atomic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def trained(tiny_dataset, tmp_path, request):
    model_name = getattr(request, "param", "DCRMoE")
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, model=model_name, epochs=2)
    train, valid, _ = data_preparation(config, create_dataset(config))
    model = get_model(model_name)(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], model_name)(config, model)
    trainer.fit(train, valid, saved=True)
    return trainer.saved_model_file


def _brute_force(model, dataset, user, items, conditional=False):
    interaction = dataset.join(Interaction({"user_id": torch.full((len(items),), user), "item_id": torch.tensor(items)}))
    with torch.no_grad():
        scores = torch.sigmoid(model.forward(interaction)) if conditional else model.predict(interaction)
    order = np.lexsort((np.array(items), -scores.numpy()))
    return [items[i] for i in order]


@pytest.mark.parametrize(
    "trained, conditional",
    [("DCRMoE", False), ("DCRMoE", True), ("DCRNFM", False), ("DCRNFM", True), ("FM", False)],  # FM has one score
    indirect=["trained"],
)
def test_lists_equal_brute_force_ranking_in_raw_ids(trained, conditional):
    config, model, dataset, train, _, _ = load_data_and_model(trained)
    users = ["u3", "u0", "u7"]
    lists = recommend(model, dataset, train, users, "all", topk=5, conditional=conditional, batch_size=17)
    assert list(dict.fromkeys(lists["user"])) == users
    for user in users:
        internal = dataset.token2id("user_id", user)
        expected = _brute_force(model, dataset, internal, list(range(1, dataset.item_num)), conditional)[:5]
        assert lists[lists.user == user]["item"].tolist() == list(dataset.id2token("item_id", expected))
        assert lists[lists.user == user]["rank"].tolist() == [1, 2, 3, 4, 5]


def test_do_and_conditional_lists_differ_for_dcr(trained):
    _, model, dataset, train, _, _ = load_data_and_model(trained)
    users = [f"u{n}" for n in range(10)]
    do = recommend(model, dataset, train, users, "all", topk=5)
    condition = recommend(model, dataset, train, users, "all", topk=5, conditional=True)
    assert not np.allclose(do["score"], condition["score"])


def test_training_items_are_excluded_when_asked(trained, tiny_dataset):
    _, splits, _ = tiny_dataset
    _, model, dataset, train, _, _ = load_data_and_model(trained)
    lists = recommend(model, dataset, train, ["u1"], "all", topk=40, exclude_train=True)
    seen = {item for user, item, _, _ in splits["train"] if user == "u1"}
    assert seen and not seen & set(lists["item"])
    assert len(lists) == min(40, dataset.item_num - 1 - len(seen))


def test_split_candidates_and_item_files(trained, tiny_dataset):
    _, splits, _ = tiny_dataset
    _, model, dataset, train, _, test = load_data_and_model(trained)
    lists = recommend(model, dataset, train, ["u2"], "split", topk=100, split=test)
    assert set(lists["item"]) == {item for user, item, _, _ in splits["test"] if user == "u2"}
    listed = recommend(model, dataset, train, ["u2"], ["i1", "i2", "i3"], topk=2)
    assert set(listed["item"]) <= {"i1", "i2", "i3"} and len(listed) == 2


def test_unknown_ids_are_warned_once_and_skipped(trained, caplog):
    _, model, dataset, train, _, _ = load_data_and_model(trained)
    with caplog.at_level(logging.WARNING):
        lists = recommend(model, dataset, train, ["u1", "nobody", "ghost"], ["i1", "i999"], topk=3)
    assert set(lists["user"]) == {"u1"} and set(lists["item"]) == {"i1"}
    assert "2 unknown user id(s) skipped: ['nobody', 'ghost']" in caplog.text
    assert "1 unknown item id(s) skipped: ['i999']" in caplog.text


def test_checkpoint_of_other_data_is_refused(trained, tiny_dataset):
    data_path, splits, items = tiny_dataset
    extra = items + [("i_new", "L0", "c0")]  # one more item: the item id mapping changes
    write_atomic(os.path.join(data_path, "tiny"), "tiny.item", ["item_id:token", "duration_level:token", "category:token"], extra)
    with pytest.raises(ValueError, match=r"trained on other data.*'item_id'"):
        load_data_and_model(trained)


def test_checkpoint_of_another_model_version_is_refused(trained, tmp_path):
    checkpoint = load_checkpoint(trained)
    checkpoint["state_dict"]["experts.weights.0"] = torch.zeros(1)
    checkpoint["recbole_dcr_version"] = "0.0.1"
    changed = tmp_path / "changed.pth"
    torch.save(checkpoint, changed)
    with pytest.raises(ValueError, match=r"recbole_dcr 0\.0\.1.*do not fit"):
        load_data_and_model(str(changed))


def test_cli_writes_raw_id_tsv(trained, tmp_path):
    out = tmp_path / "top.tsv"
    cmd = [sys.executable, "-m", "recbole_dcr", "recommend", f"--checkpoint={os.path.dirname(trained)}",
           "--users=u0,u5", "--topk=3", "--exclude_train", f"--output={out}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 7
    assert {line.split("\t")[0] for line in lines[1:]} == {"u0", "u5"}
    assert all(line.split("\t")[2].startswith("i") for line in lines[1:])
