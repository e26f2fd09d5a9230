"""Resume (issue #17): a killed run continues from its training state to the figures of an uninterrupted run.

The state file ``<Model>-<time>.state.pt`` is written beside the best-model checkpoint as every epoch
begins; ``--resume=<file or folder>`` (or ``resume=`` in the Python API) continues it. Metrics are
compared with 12 decimals and the best weights bit for bit.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from recbole_dcr.checkpoint import STATE_SUFFIX, ResumeError, load_checkpoint, state_file_for
from recbole_dcr.cli import main
from recbole_dcr.quick_start import train
from tests.conftest import INTER_HEADER, ITEM_HEADER, random_confounded_rows, tiny_config_dict, write_atomic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _write_tiny(data_path, name="tiny", seed=0):
    inter, items = random_confounded_rows(seed=seed)
    n = len(inter)
    splits = {"train": inter[: int(0.6 * n)], "valid": inter[int(0.6 * n): int(0.8 * n)], "test": inter[int(0.8 * n):]}
    for part, rows in splits.items():
        write_atomic(os.path.join(data_path, name), f"{name}.{part}.inter", INTER_HEADER, rows)
    write_atomic(os.path.join(data_path, name), f"{name}.item", ITEM_HEADER, items)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory (RecBole writes log/ there) with the tiny dataset under data/."""
    root = tmp_path_factory.mktemp("resume")
    _write_tiny(str(root / "data"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield root


def _settings(workdir, folder, **overrides):
    # dropout and shuffling make every random state matter; 12 decimals make the metrics tell runs apart
    return tiny_config_dict(str(workdir / "data"), workdir / folder, **{
        "epochs": 4, "stopping_step": 100, "state": "WARNING", "dropout_prob": 0.2, "train_batch_size": 32,
        "expert_hidden_size": [8], "mlp_hidden_size": [8], "metric_decimal_place": 12, **overrides})


class Interrupted(Exception):
    """Stands for a kill: raised from RecBole's callback after the n-th validation."""


def _interrupted_run(model, config_dict, after_validations):
    calls = []

    def interrupt(epoch, valid_score):
        calls.append(epoch)
        if len(calls) == after_validations:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(model, "tiny", config_dict=config_dict, command_line=[], callback_fn=interrupt)
    return config_dict["checkpoint_dir"]


def _best_weights(folder):
    (model_file,) = [f for f in os.listdir(folder) if f.endswith(".pth")]
    return model_file, torch.load(os.path.join(folder, model_file), weights_only=True)


def _same_weights(a, b):
    assert a["epoch"] == b["epoch"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key


_UNINTERRUPTED = {}


def _uninterrupted(workdir, model, **overrides):
    """(Run, its checkpoint folder, its config dict) of an uninterrupted run, trained once per module."""
    key = (model, tuple(sorted(overrides.items())))
    if key not in _UNINTERRUPTED:
        config_dict = _settings(workdir, f"full-{model}-{len(_UNINTERRUPTED)}", **overrides)
        run = train(model, "tiny", config_dict=config_dict, command_line=[])
        _UNINTERRUPTED[key] = run, config_dict["checkpoint_dir"], config_dict
    return _UNINTERRUPTED[key]


# ---------------------------------------------------------------------------- the same figures
@pytest.mark.parametrize("model, overrides, after_validations", [
    ("DCRMoE", {}, 2),
    ("DCRMoE", {"fast_data": False}, 1),  # RecBole's own TrainDataLoader: its generator is restored
    ("FairGo", {"epochs": 3}, 2),  # killed in the pretraining stage
    ("FairGo", {"epochs": 3}, 5),  # killed in the adversarial stage (second optimizer)
])
def test_an_interrupted_run_resumed_ends_as_an_uninterrupted_one(workdir, model, overrides, after_validations):
    full, full_folder, _ = _uninterrupted(workdir, model, **overrides)
    folder = f"cut-{model}-{after_validations}-{len(overrides)}"
    config_dict = _settings(workdir, folder, **overrides)
    saved = _interrupted_run(model, config_dict, after_validations)
    model_file, _ = _best_weights(saved)
    resumed = train(model, "tiny", config_dict=config_dict, command_line=[], resume=saved)
    assert resumed.result == full.result
    assert resumed.trainer.train_loss_dict == full.trainer.train_loss_dict  # every epoch's loss, full precision
    assert _best_weights(saved)[0] == model_file  # the same best-model checkpoint went on being written
    _same_weights(_best_weights(saved)[1], _best_weights(full_folder)[1])
    assert load_checkpoint(state_file_for(os.path.join(saved, model_file)), kind="training_state")["finished"]


def test_the_state_file_is_weights_only_and_holds_what_fit_needs(workdir):
    saved = _interrupted_run("DCRMoE", _settings(workdir, "state"), after_validations=2)
    model_file, best = _best_weights(saved)
    state_file = os.path.join(saved, model_file[: -len(".pth")] + STATE_SUFFIX)
    assert sorted(os.listdir(saved)) == sorted([model_file, os.path.basename(state_file)])
    state = torch.load(state_file, weights_only=True)  # torch >= 2.6's default
    assert state["kind"] == "training_state" and state["finished"] is False
    assert state["model"] == "DCRMoE" and state["dataset"] == "tiny" and state["best_model_file"] == model_file
    # interrupted after the validation of epoch 1: the state is the one written as epoch 1 began
    assert state["epoch"] == 0 and state["cur_step"] >= 0 and set(state["train_loss"]) == {0}
    assert state["best_valid_score"] == state["best_valid_result"]["ndcg@3"]  # epoch 0's (the valid metric)
    assert state["state_dict"].keys() == best["state_dict"].keys() and state["optimizer"]["state"]
    (rng,) = state["rng"]  # one entry per data-parallel rank
    assert rng["torch"].dtype == torch.uint8 and len(rng["numpy"]["keys"]) == 624
    assert len(rng["python"]["internal"]) == 625 and rng["cuda"] is None
    assert state["train_loader"]["generator"].dtype == torch.uint8
    assert '"learning_rate"' in state["config"] and "item_id" in state["dataset_fingerprint"]
    with pytest.raises(ResumeError, match="is a training state .*not a model checkpoint"):
        load_checkpoint(state_file)  # evaluate(), recommend: never taken for a best model


# ---------------------------------------------------------------------------- refusals
@pytest.fixture(scope="module")
def unfinished(workdir):
    """An interrupted DCRMoE run that is never resumed (the refusals must leave it as it is)."""
    config_dict = _settings(workdir, "refusals")
    saved = _interrupted_run("DCRMoE", config_dict, after_validations=1)
    (state_file,) = [os.path.join(saved, f) for f in os.listdir(saved) if f.endswith(STATE_SUFFIX)]
    return config_dict, saved, state_file


def test_another_model_is_refused(workdir, unfinished):
    config_dict, _, state_file = unfinished
    with pytest.raises(ResumeError, match="holds DCRMoE on tiny, not NFMWA on tiny"):
        train("NFMWA", "tiny", config_dict=config_dict, command_line=[], resume=state_file)


def test_another_dataset_is_refused(workdir, unfinished):
    config_dict, _, state_file = unfinished
    _write_tiny(str(workdir / "data"), name="other")
    with pytest.raises(ResumeError, match="holds DCRMoE on tiny, not DCRMoE on other"):
        train("DCRMoE", "other", config_dict=config_dict, command_line=[], resume=state_file)


def test_other_data_is_refused(workdir, unfinished):
    config_dict, _, state_file = unfinished
    shutil.copytree(workdir / "data" / "tiny", workdir / "elsewhere" / "tiny")
    with pytest.raises(ResumeError, match="another config: data_path: .* there, .* here"):
        train("DCRMoE", "tiny", config_dict={**config_dict, "data_path": str(workdir / "elsewhere")}, command_line=[],
              resume=state_file)
    # the same folder, its files rewritten with other users and items: the ids the model learnt differ
    shutil.copytree(workdir / "data" / "tiny", workdir / "rewritten" / "tiny")
    config_dict = {**config_dict, "data_path": str(workdir / "rewritten"), "checkpoint_dir": str(workdir / "rw")}
    saved = _interrupted_run("DCRMoE", config_dict, after_validations=1)
    _write_tiny(str(workdir / "rewritten"), seed=1)
    with pytest.raises(ResumeError, match="trained on other data than dataset 'tiny' holds now .*item_id differ"):
        train("DCRMoE", "tiny", config_dict=config_dict, command_line=[], resume=saved)


def test_another_config_is_refused_naming_each_key(workdir, unfinished):
    config_dict, _, state_file = unfinished
    with pytest.raises(ResumeError, match=r"another config: epochs: 4 there, 5 here; learning_rate: .* here\."):
        train("DCRMoE", "tiny", config_dict={**config_dict, "epochs": 5, "learning_rate": 0.5}, command_line=[],
              resume=state_file)


def test_a_finished_state_is_refused(workdir):
    _, full_folder, config_dict = _uninterrupted(workdir, "DCRMoE")
    (state_file,) = [os.path.join(full_folder, f) for f in os.listdir(full_folder) if f.endswith(STATE_SUFFIX)]
    marker = load_checkpoint(state_file, kind="training_state")
    assert marker["finished"] and "state_dict" not in marker  # a small marker in place of the state
    with pytest.raises(ResumeError, match="finished .*nothing to resume"):
        train("DCRMoE", "tiny", config_dict=config_dict, command_line=[], resume=state_file)
    with pytest.raises(ResumeError, match="no unfinished training state .* 1 finished run"):
        train("DCRMoE", "tiny", config_dict=config_dict, command_line=[], resume=full_folder)


def test_a_folder_without_a_state_and_a_best_model_file_are_refused(workdir, unfinished):
    config_dict, saved, state_file = unfinished
    empty = workdir / "empty"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ResumeError, match=r"no unfinished training state \(\*\.state\.pt\) of DCRMoE on tiny in"):
        train("DCRMoE", "tiny", config_dict=config_dict, command_line=[], resume=str(empty))
    with pytest.raises(ResumeError, match="of NFMWA on tiny in .*it holds unfinished states of DCRMoE on tiny"):
        train("NFMWA", "tiny", config_dict=config_dict, command_line=[], resume=saved)
    (model_file,) = [os.path.join(saved, f) for f in os.listdir(saved) if f.endswith(".pth")]
    with pytest.raises(ResumeError, match="is a best-model checkpoint, not a training state"):
        train("DCRMoE", "tiny", config_dict=config_dict, command_line=[], resume=model_file)
    assert not load_checkpoint(state_file, kind="training_state")["finished"]  # refusals wrote nothing


def test_the_command_refuses_in_one_line_with_exit_status_2(workdir, unfinished, capsys):
    config_dict, _, _ = unfinished
    status = main(["train", "--model=DCRMoE", "--dataset=tiny", f"--data_path={config_dict['data_path']}",
                   "--benchmark_filename=['train','valid','test']", "--state=WARNING", "--epochs=1",
                   f"--resume={workdir / 'empty-too'}"])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --resume: ")


# ---------------------------------------------------------------------------- kill -9 and resume
def _command(data_path, checkpoint_dir, *extra, epochs=12):
    return [sys.executable, "-m", "recbole_dcr", "train", "--model=DCRMoE", "--dataset=tiny",
            f"--data_path={data_path}", "--benchmark_filename=['train','valid','test']",
            f"--checkpoint_dir={checkpoint_dir}", "--gpu_id=", "--show_progress=False", f"--epochs={epochs}",
            "--stopping_step=100", "--train_batch_size=32", "--dropout_prob=0.2", "--expert_hidden_size=[8]",
            "--topk=[3,5]", "--valid_metric=NDCG@3", "--metric_decimal_place=12", "--loss_decimal_place=12", *extra]


def _start(command, cwd, **options):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **options)


def _figures(output):
    """(best valid line, test result line, {epoch: train loss}) from a run's log."""
    text = ANSI.sub("", output)
    best = re.findall(r"best valid\s*: (.*)", text)
    test = re.findall(r"test result\s*: (.*)", text)
    losses = dict(re.findall(r"epoch (\d+) training \[time: [^,]*, train loss: ([^\]]*)\]", text))
    return best, test, losses


def test_a_run_killed_after_epoch_1_resumes_to_the_figures_of_an_uninterrupted_run(tmp_path):
    data_path = str(tmp_path / "data")
    _write_tiny(data_path)
    started = time.monotonic()
    uninterrupted = _start(_command(data_path, tmp_path / "full"), tmp_path)
    killed = _start(_command(data_path, tmp_path / "saved"), tmp_path)
    log = []
    for line in killed.stdout:
        log.append(line)
        if re.search(r"epoch 1 (training|evaluating)", ANSI.sub("", line)):
            killed.send_signal(signal.SIGKILL)
            break
    log.append(killed.stdout.read())
    assert killed.wait(timeout=60) == -signal.SIGKILL, "".join(log)[-3000:]
    assert "test result" not in "".join(log)  # it really died mid-run
    (model_file,) = [f for f in os.listdir(tmp_path / "saved") if f.endswith(".pth")]
    state_file = tmp_path / "saved" / (model_file[: -len(".pth")] + STATE_SUFFIX)
    assert not load_checkpoint(state_file, kind="training_state")["finished"]
    # a kill inside a checkpoint write leaves its temporary file (whether it did here is timing): make sure
    stale = tmp_path / "saved" / f".{model_file}.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")

    resumed = subprocess.run(_command(data_path, tmp_path / "saved", f"--resume={tmp_path / 'saved'}"),
                             cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                             timeout=120)
    full_output = uninterrupted.communicate(timeout=120)[0]
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0 and uninterrupted.returncode == 0, output[-3000:] + full_output[-3000:]
    start = int(re.search(rf"resumed from {re.escape(str(state_file))} at epoch (\d+)", output).group(1))
    assert 1 <= start < 12

    best, test, losses = _figures(output)
    full_best, full_test, full_losses = _figures(full_output)
    assert best == full_best and test == full_test and len(test) == 1
    assert set(losses) == {str(epoch) for epoch in range(start, 12)}
    assert losses == {epoch: loss for epoch, loss in full_losses.items() if epoch in losses}
    assert sorted(os.listdir(tmp_path / "saved")) == sorted([model_file, state_file.name])  # the same files
    assert f"removed {stale.name}" in output
    assert load_checkpoint(state_file, kind="training_state")["finished"]
    _same_weights(_best_weights(tmp_path / "saved")[1], _best_weights(tmp_path / "full")[1])
    print(f"killed at epoch {start}; kill, resume and the uninterrupted run: {time.monotonic() - started:.1f}s")


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return str(s.getsockname()[1])


@pytest.mark.skipif(not os.environ.get("RECBOLE_DCR_SLOW_TESTS"),
                    reason="about 70 s on 2 cores: set RECBOLE_DCR_SLOW_TESTS=1 to run it")
def test_a_killed_two_process_run_resumes_to_the_figures_of_an_uninterrupted_one(tmp_path):
    """Each rank's random states are gathered into the one state file, and each rank gets its own back."""
    data_path = str(tmp_path / "data")
    _write_tiny(data_path)
    two = ["--nproc=2", "--eval_batch_size=40"]  # each rank has users of its own to evaluate
    uninterrupted = _start(_command(data_path, tmp_path / "full", *two, f"--port={_free_port()}", epochs=6), tmp_path,
                           start_new_session=True)
    killed = _start(_command(data_path, tmp_path / "saved", *two, f"--port={_free_port()}", epochs=6), tmp_path,
                    start_new_session=True)
    for line in killed.stdout:
        if re.search(r"epoch 1 (training|evaluating)", ANSI.sub("", line)):
            os.killpg(killed.pid, signal.SIGKILL)  # the parent and both ranks
            break
    killed.stdout.read()
    assert killed.wait(timeout=60) == -signal.SIGKILL
    resumed = subprocess.run(_command(data_path, tmp_path / "saved", *two, f"--port={_free_port()}",
                                      f"--resume={tmp_path / 'saved'}", epochs=6),
                             cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                             timeout=300)
    output, full_output = resumed.stdout + resumed.stderr, uninterrupted.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and uninterrupted.returncode == 0, output[-3000:] + full_output[-3000:]
    assert re.search(r"resumed from .* at epoch [1-5]\b", output)
    best, test, losses = _figures(output)
    full_best, full_test, full_losses = _figures(full_output)
    assert best == full_best and test == full_test and len(test) == 1
    assert losses and losses == {epoch: loss for epoch, loss in full_losses.items() if epoch in losses}
    _same_weights(_best_weights(tmp_path / "saved")[1], _best_weights(tmp_path / "full")[1])
