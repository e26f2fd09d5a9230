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
from recbole_dcr.config import Config, ConfigError
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
    for path in shipped + list(_python_files("tests", "docs")):
        assert not re.search(r"sys\.path\.(insert|append)", open(path, encoding="utf-8").read()), path


@pytest.mark.parametrize("leaf", ["files", "compat", "registry", "checkpoint", "overlap"])
def test_leaves_of_the_import_graph_import_nothing_of_ours_above_them(leaf):
    allowed = {"checkpoint": {"recbole_dcr.files"}}.get(leaf, set())
    tree = ast.parse(open(os.path.join(REPO, "recbole_dcr", f"{leaf}.py"), encoding="utf-8").read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {name for name in imported if name == "recbole_dcr" or name.startswith("recbole_dcr.")}
    assert ours <= allowed, f"{leaf}.py imports {sorted(ours - allowed)}"


# ---------------------------------------------------------------------------- bad values and missing files
def _one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("override, expected", [
    ("--learning_rate=abc", "--learning_rate=abc: expected a number, got the text 'abc'; fix: e.g. --learning_rate="),
    ("--epochs=abc", "--epochs=abc: expected a whole number, got the text 'abc'; fix: e.g. --epochs="),
    ("--epochs=2.5", "--epochs=2.5: expected a whole number, got float 2.5"),
    ("--epochs=None", "--epochs=None: expected a whole number, got None"),
    ("--train_batch_size=True", "--train_batch_size=True: expected a whole number, got bool True"),
    ("--expert_hidden_size=[64,'x']", "expected a list of whole numbers, got list [64, 'x']; fix: e.g. "
                                      "--expert_hidden_size=[256,128] (the default)"),
    ("--show_progress=maybe", "--show_progress=maybe: expected True or False"),  # the plugin's default is ~
    ("--eval_args=3", "--eval_args=3: expected a mapping {key: value}, got int 3"),
    ("--epochs=1 --epochs=2", "--epochs is given twice with different values: '1' and '2'; fix: give it once"),
])
def test_a_value_of_the_wrong_type_is_one_line_before_any_data_is_loaded(override, expected, tmp_path, capsys):
    # dcr_sim would be generated into data_path as the data is loaded: nothing may appear there
    assert cli.main(["train", f"--data_path={tmp_path}", *override.split()]) == 2
    assert expected in _one_error_line(capsys)
    assert os.listdir(tmp_path) == []


def _wrong_value(default):
    """A value no default of this kind takes (the text 'abc' for a number or True/False; a dict for text or lists)."""
    return {"wrong": 1} if isinstance(default, (str, list, tuple)) else "abc"


@pytest.mark.parametrize("model", ["DCRMoE", "NFMWA", "FairGo", "CR", "DCR", "FM"])
def test_every_key_whose_default_fixes_its_type_refuses_another_type(model, tmp_path):
    config = Config(model=model, dataset="dcr_sim", config_dict={"data_path": str(tmp_path)}, command_line=[])
    checked = 0
    for key, defaults in config._defaults_of_key.items():
        if all(default is None for default in defaults) or key in ("model", "dataset"):
            continue
        default = [d for d in defaults if d is not None][-1]
        with pytest.raises(ConfigError, match=rf"^--{re.escape(key)}=.*: expected .*; fix: e\.g\. --{re.escape(key)}="):
            Config(model=model, dataset="dcr_sim", config_dict={"data_path": str(tmp_path)},
                   command_line=[f"--{key}={_wrong_value(default)}"])
        checked += 1
    assert checked > 60  # RecBole's overall and dataset defaults, the plugin's, the model's, dcr_sim's
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("override, value", [
    ("--learning_rate=1", 1),                       # an int where a float is expected
    ("--topk=5", [5]),                               # RecBole: k alone
    ("--metrics=NDCG", ["NDCG"]),                    # RecBole: one metric alone
    ("--embedding_init_std=None", None),             # Xavier
    ("--CONFOUNDER_FIELD=['duration_level','category']", ["duration_level", "category"]),
    ("--show_progress=None", False),                 # the plugin's ~: follow the terminal
    ("--load_col=None", None),                       # the plugin's ~ over RecBole's dict
    ("--eval_args={'split':{'RS':[0.8,0.1,0.1]}}", None),  # a partial dict, merged by RecBole
    ("--gpu_id=0", None),
])
def test_values_the_readers_take_are_not_refused(override, value, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    config = Config(model="DCRMoE", dataset="dcr_sim", config_dict={"data_path": str(tmp_path)}, command_line=[override])
    key = override[2:].split("=")[0]
    if value is not None or key in ("embedding_init_std", "load_col"):
        assert config[key] == value


def test_a_wrong_value_in_a_config_file_or_dict_names_where_it_came_from(tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("epochs: 5\n")
    bad.write_text("learning_rate: 0.01\nepochs: abc\n")
    assert cli.main(["train", f"--data_path={tmp_path / 'data'}", f"--config_files={good} {bad}"]) == 2
    assert _one_error_line(capsys) == (f"error: key 'epochs' in config file '{bad}': expected a whole number, got the "
                                       "text 'abc'; fix: e.g. 'epochs: 100' (the default)")
    with pytest.raises(ConfigError, match=r"^config_dict\['embedding_size'\] = 'big': expected a whole number.*"
                                          r"fix: e\.g\. \{'embedding_size': 16\}"):
        Config(model="DCRMoE", config_dict={"embedding_size": "big"}, command_line=[])
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist; fix: give the path of a yaml file of 'key: value' lines, relative to the working "
           "directory"),
    ("epochs: [1\n", "is not valid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1; fix: "),
    ("- epochs\n- 5\n", "holds a list, not 'key: value' lines; fix: "),
    (b"epochs: \xff\n", "is not UTF-8 text (byte 8); fix: "),
])
def test_a_config_file_that_cannot_be_read_is_one_line(content, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if isinstance(content, bytes):
        (tmp_path / "my.yaml").write_bytes(content)
    elif content is not None:
        (tmp_path / "my.yaml").write_text(content)
    assert cli.main(["train", "--config_files=my.yaml"]) == 2
    assert _one_error_line(capsys).startswith(f"error: config file 'my.yaml' (config_files) {expected}")
    assert sorted(os.listdir(tmp_path)) == ([] if content is None else ["my.yaml"])


def test_an_empty_config_file_is_no_error(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    config = Config(model="DCRMoE", config_file_list=[str(tmp_path / "empty.yaml")], command_line=[])
    assert config["epochs"] == 100


@pytest.mark.parametrize("content, expected", [
    (None, "error: --checkpoint=nothing.pth: no such file or folder (working directory "),
    (b"not a checkpoint", "error: --checkpoint=nothing.pth is not a file torch can load ("),
])
def test_recommend_from_a_checkpoint_that_is_not_there_is_one_line(content, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "nothing.pth").write_bytes(content)
    assert cli.main(["recommend", "--checkpoint=nothing.pth", "--users=0"]) == 2
    err = _one_error_line(capsys)
    assert err.startswith(expected) and "fix: give a .pth file written by recbole-dcr train" in err
    assert not (tmp_path / "recommendations.tsv").exists()


def test_the_command_itself_prints_one_line_and_exits_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run([sys.executable, "-m", "recbole_dcr", "train", "--learning_rate=abc"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["error: --learning_rate=abc: expected a number, got the text 'abc'; fix: e.g. "
                                        "--learning_rate=0.01 (the default)"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("overrides, says", [
    (["--side_activation=relu"], "error: DCRMoE: side_activation must be one of tanh, identity, got 'relu'"),
    (["--expert_sharing=embedded"], "set confounder_as_content: False"),
    (["--sparse_embeddings=True", "--learner=adam"], "error: DCRMoE's trainer: sparse_embeddings: True needs a learner"),
])
def test_a_value_the_model_or_trainer_refuses_is_one_line_and_exit_2(tiny_dataset, tmp_path, capsys, overrides, says):
    data_path, _, _ = tiny_dataset
    status = cli.main(["train", "--model=DCRMoE", "--dataset=tiny", f"--data_path={data_path}",
                       "--benchmark_filename=['train','valid','test']", f"--checkpoint_dir={tmp_path}",
                       "--epochs=1", "--show_progress=False", *overrides])
    err = capsys.readouterr().err.strip()
    assert status == 2 and says in err and len(err.splitlines()) == 1 and "Traceback" not in err
