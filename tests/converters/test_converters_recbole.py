"""The converted files load in RecBole as a pre-split (benchmark) dataset."""

from __future__ import annotations

import yaml
import pytest

from recbole_dcr.converters import wechat

recbole_config = pytest.importorskip("recbole.config")
recbole_data = pytest.importorskip("recbole.data")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # RecBole 1.2.1 on pandas 2.x
def test_recbole_reads_the_converted_dataset(tmp_path, raw, monkeypatch):
    actions, feeds = raw.generated_wechat(n_users=12, n_feeds=30, n_rows=400)
    raw.write_wechat(tmp_path / "raw", actions, feeds)
    stats = wechat.convert(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "data"), "--quiet",
                            "--tags", "manual"])
    monkeypatch.chdir(tmp_path)  # RecBole may create folders in the working directory

    config_dict = yaml.safe_load((tmp_path / "data" / "wechat" / "wechat.yaml").read_text())
    # Plain RecBole does not know the plugin's keys; map the training label the way the plugin does.
    config_dict["LABEL_FIELD"] = config_dict.pop("TRAIN_LABEL_FIELD")
    for plugin_key in ("EVAL_LABEL_FIELD", "CONFOUNDER_FIELD", "valid_metric", "topk"):
        config_dict.pop(plugin_key)
    config_dict.update({
        "data_path": str(tmp_path / "data"), "train_neg_sample_args": None, "metrics": ["AUC"],
        "valid_metric": "AUC", "eval_args": {"group_by": "user", "order": "RO", "mode": "labeled"},
        "show_progress": False, "checkpoint_dir": str(tmp_path / "saved"),
    })
    config = recbole_config.Config(model="FM", dataset="wechat", config_dict=config_dict)
    dataset = recbole_data.create_dataset(config)

    assert dataset.inter_num == stats["samples"]
    assert dataset.item_num - 1 == stats["items"]  # RecBole adds a padding item
    types = {field: kind.value for field, kind in dataset.field2type.items()}
    assert types["duration_level"] == "token" and types["tags"] == "token_seq"
    assert types["finish"] == "float" and types["read_comment"] == "float"
    # "empty" is an ordinary token, not RecBole's padding id 0.
    assert dataset.field2token_id["bgm_song_id"]["empty"] != 0
    assert set(dataset.field2token_id["duration_level"]) - {"[PAD]"} == {str(level) for level in range(stats["bins"])}

    train, valid, test = recbole_data.data_preparation(config, dataset)
    sizes = [len(loader.dataset) for loader in (train, valid, test)]
    assert sizes == [stats["splits"][name]["samples"] for name in ("train", "valid", "test")]
