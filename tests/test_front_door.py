"""The front door: the recbole-dcr command, names and keys, quiet output, and the house rules of the code."""

import ast
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from argparse import Namespace

import pytest
import torch

from recbole_dcr import cli
from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.registry import UnknownModelError, get_model, get_trainer
from tests.conftest import INTER_HEADER, ITEM_HEADER, random_confounded_rows, tiny_config, write_atomic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unknown_model_is_one_line_with_the_closest_name_and_exit_2(capsys):
    assert cli.main(["train", "--model=DCRMOE"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown model 'DCRMOE' (did you mean DCRMoE?)" in err and "--list-models" in err
    with pytest.raises(UnknownModelError, match=r"did you mean NFMWA"):
        get_model("NFMWAA")


def test_a_recbole_model_of_another_kind_is_named_as_such_and_exlib_is_never_imported(capsys):
    sys.modules.pop("lightgbm", None)
    assert cli.main(["train", "--model=BPR"]) == 2
    assert "'BPR' is a RecBole general model" in capsys.readouterr().err
    with pytest.raises(UnknownModelError):
        get_model("lightgbm")
    assert "lightgbm" not in sys.modules and "xgboost" not in sys.modules


def test_list_models_names_plugin_and_recbole_models(capsys):
    assert cli.main(["train", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "DCRMoE" in out and "NWGMDCR" in out and "xDeepFM" in out


def test_help_says_any_config_key_can_be_given(capsys):
    for command in ([], ["train"], ["experiments"], ["analysis"], ["tune"], ["recommend"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "--key=value" in capsys.readouterr().out


def test_installed_command_answers_help():
    command = shutil.which("recbole-dcr")
    assert command, "pip install -e . installs the recbole-dcr command"
    done = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "convert" in done.stdout and "--key=value" in done.stdout


def test_arguments_that_are_not_overrides_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--model=DCRMoE", "stray"])
    assert exit_info.value.code == 2 and "stray" in capsys.readouterr().err


def test_a_key_nothing_reads_gets_a_warning_with_the_closest_key(tiny_dataset, tmp_path, caplog):
    data_path, _, _ = tiny_dataset
    with caplog.at_level(logging.WARNING):
        config = Config(model="DCRMoE", dataset="tiny", config_dict={"data_path": data_path},
                        command_line=["--epoch=1", "--mlp_hidden_size=[8]", "--epochs=2", "--learning_rate=0.1"])
    assert config["epochs"] == 2
    assert re.search(r"--epoch: .*nothing reads it; did you mean --epochs\?", caplog.text)
    assert re.search(r"--mlp_hidden_size: read by .*NFMWA.*not by DCRMoE.*did you mean --expert_hidden_size\?",
                     caplog.text)
    assert "--epochs" not in caplog.text.replace("did you mean --epochs", "")
    assert "learning_rate" not in caplog.text


def test_override_values_may_hold_equals_signs(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = Config(model="DCRMoE", dataset="tiny", config_dict={"data_path": data_path},
                    command_line=["--checkpoint_dir=a=b"])
    assert config["checkpoint_dir"] == "a=b"


def test_the_config_dump_holds_the_keys_the_model_reads(tiny_dataset, tmp_path):
    data_path, _, _ = tiny_dataset
    config = Config(model="DCRMoE", dataset="tiny", config_dict={"data_path": data_path}, command_line=[])
    dumped = re.sub(r"\x1b\[[0-9;]*m", "", str(config))  # without RecBole's colours
    assert "expert_hidden_size" in dumped and "mlp_hidden_size" not in config.final_config_dict
    if not torch.cuda.is_available():
        assert config["use_gpu"] is False and "use_gpu = False" in dumped


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bars_follow_the_terminal_unless_set(tiny_dataset, tmp_path, monkeypatch, terminal):
    data_path, _, _ = tiny_dataset
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    config = Config(model="DCRMoE", dataset="tiny", config_dict={"data_path": data_path}, command_line=[])
    assert config["show_progress"] is terminal
    config = Config(model="DCRMoE", dataset="tiny", config_dict={"data_path": data_path, "show_progress": True},
                    command_line=[])
    assert config["show_progress"] is True


def test_fewer_than_ten_evaluated_users_get_a_warning(tmp_path, caplog):
    inter, items = random_confounded_rows(n_users=4, n_items=20, rows_per_user=10)
    folder = tmp_path / "data" / "few"
    for part, rows in (("train", inter[:24]), ("valid", inter[24:32]), ("test", inter[32:])):
        write_atomic(folder, f"few.{part}.inter", INTER_HEADER, rows)
    write_atomic(folder, "few.item", ITEM_HEADER, items)
    config = tiny_config(str(tmp_path / "data"), tmp_path, dataset="few")
    with caplog.at_level(logging.WARNING):
        data_preparation(config, create_dataset(config))
    assert re.search(r"only \d users with a positive \[like\] in the test split: .*too few users to mean anything",
                     caplog.text)


def test_training_writes_no_tensorboard_folder_without_a_log_file_and_no_gradscaler_warning(
        tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    config = tiny_config(data_path, tmp_path, epochs=1)
    train, valid, _ = data_preparation(config, create_dataset(config))
    trainer = get_trainer(config["MODEL_TYPE"], "DCRMoE")(config, get_model("DCRMoE")(config, train._dataset))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(train, valid, saved=False)
    assert not [w for w in caught if "GradScaler" in str(w.message)]
    assert not (tmp_path / "log_tensorboard").exists()


def test_users_analysis_reports_an_empty_group_and_writes_the_other(tiny_dataset, tmp_path, monkeypatch, capsys):
    from recbole_dcr.research.analysis import Analyses

    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    args = Namespace(dataset="tiny", config_files=None, models="DCRMoE,NFMWA", output_dir=str(tmp_path / "out"),
                     active_train_share=0.0, active_positive_share=0.5, repeats=1, swap_field=None)
    overrides = [f"--data_path={data_path}", "--benchmark_filename=['train','valid','test']", "--epochs=1",
                 "--topk=[3]", "--valid_metric=NDCG@3", "--expert_hidden_size=[8]", "--mlp_hidden_size=[8]",
                 f"--checkpoint_dir={tmp_path / 'saved'}"]
    Analyses(args, overrides).users()
    printed = capsys.readouterr().out
    assert len([line for line in printed.splitlines() if "the active group has no users" in line]) == 1
    table = (tmp_path / "out" / "user_groups.md").read_text()
    assert "| inactive | DCRMoE |" in table and "| active |" not in table


# ---------------------------------------------------------------------------- house rules
def _python_files(*folders):
    for folder in folders:
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            yield from (os.path.join(root, f) for f in files if f.endswith(".py"))


def test_no_mock_in_shipped_code_and_no_sys_path_edits_anywhere():
    shipped = list(_python_files("recbole_dcr", "dataset_converters", "benchmarks"))
    shipped += [os.path.join(REPO, f) for f in os.listdir(REPO) if f.endswith(".py")]
    for path in shipped:
        assert "unittest.mock" not in open(path, encoding="utf-8").read(), path
    for path in shipped + list(_python_files("tests")):
        assert not re.search(r"sys\.path\.(insert|append)", open(path, encoding="utf-8").read()), path


@pytest.mark.parametrize("leaf", ["files", "compat", "registry", "checkpoint", "overlap"])
def test_leaves_of_the_import_graph_import_nothing_of_ours_above_them(leaf):
    allowed = {"checkpoint": {"recbole_dcr.files"}}.get(leaf, set())
    tree = ast.parse(open(os.path.join(REPO, "recbole_dcr", f"{leaf}.py"), encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {name for name in imported if name == "recbole_dcr" or name.startswith("recbole_dcr.")}
    assert ours <= allowed, f"{leaf}.py imports {sorted(ours - allowed)}"
