"""recbole_dcr checkpoints: tensors and plain Python values only, written atomically.

torch >= 2.6 loads with ``weights_only=True`` by default and refuses RecBole's own checkpoints,
which pickle the Config; ours keep the config as JSON text, so they load safely.  A leaf of the
import graph: it imports nothing of recbole_dcr above :mod:`recbole_dcr.files`.

Two kinds share the format:

* the best-model checkpoint ``<Model>-<time>-<tag>.pth`` (RecBole's ``saved_model_file``), read by the
  test evaluation, ``recommend`` and ``load_data_and_model``;
* the training state ``<Model>-<time>-<tag>.state.pt`` beside it (``kind: training_state``), rewritten
  at the start of every epoch, from which ``--resume`` continues a killed run exactly: weights,
  optimizer(s), the random states of torch, numpy and ``random``, the training loader's generator,
  the epoch and RecBole's early-stopping counters.  A run that ends replaces it by a small
  ``finished`` marker.  Its name does not end in ``.pth``, so folder look-ups of model checkpoints
  never take it for one.
"""

import glob
import json
import os
import pickle
import random

import numpy as np
import torch

from recbole_dcr.files import atomic_path

CHECKPOINT_FORMAT = "recbole_dcr-checkpoint-1"
MODEL_KIND = "model"
TRAINING_STATE_KIND = "training_state"
STATE_SUFFIX = ".state.pt"


class ResumeError(ValueError):
    """A training state that cannot be resumed here; the message says why and what to do."""


def config_to_json(config):
    """The final config as JSON text (values JSON cannot hold are kept as their ``str``)."""
    return json.dumps(dict(config.final_config_dict), default=str, sort_keys=True)


def save_checkpoint(path, state):
    """Write ``state`` (a dict with ``format`` = CHECKPOINT_FORMAT) so that a crash never leaves half a file."""
    with atomic_path(path) as tmp_path:
        torch.save(state, tmp_path)


def load_checkpoint(path, map_location="cpu", kind=MODEL_KIND, mmap=False):
    """Load a recbole_dcr checkpoint with ``weights_only=True`` and check its format and kind.

    ``kind``: ``MODEL_KIND`` (a best-model checkpoint, the default), ``TRAINING_STATE_KIND``,
    or ``None`` for either. ``mmap``: map the file instead of reading it (cheap look at its header).
    """
    checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a recbole_dcr checkpoint (format {CHECKPOINT_FORMAT}); RecBole's own .pth files "
            f"pickle the Config and are not loaded here. Retrain with recbole_dcr to get one."
        )
    found = checkpoint.get("kind", MODEL_KIND)
    if kind == MODEL_KIND and found == TRAINING_STATE_KIND:
        raise ResumeError(
            f"{path} is a training state (for --resume), not a model checkpoint; the run's best model is "
            f"{os.path.join(os.path.dirname(str(path)), checkpoint['best_model_file'])}"
        )
    if kind == TRAINING_STATE_KIND and found != TRAINING_STATE_KIND:
        raise ResumeError(
            f"{path} is a best-model checkpoint, not a training state: --resume takes the state file written "
            f"beside it ({state_file_for(path)}) or their folder"
        )
    return checkpoint


# ---------------------------------------------------------------------------- training states
def state_file_for(model_file):
    """The training state beside a best-model checkpoint: ``X.pth`` -> ``X.state.pt``."""
    model_file = os.fspath(model_file)
    root, extension = os.path.splitext(model_file)
    return (root if extension == ".pth" else model_file) + STATE_SUFFIX


def find_training_state(path, model=None, dataset=None):
    """The training state to resume: ``path`` itself, or in a folder its newest unfinished state
    (of ``model`` on ``dataset`` when given). Refuses with a :class:`ResumeError` saying why."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ResumeError(f"--resume: {path} does not exist")
    if not os.path.isdir(path):
        return path
    others, finished = [], 0
    for file in sorted(glob.glob(os.path.join(path, "*" + STATE_SUFFIX)), key=os.path.getmtime, reverse=True):
        try:
            header = load_checkpoint(file, kind=TRAINING_STATE_KIND, mmap=True)
        except (ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError):
            continue  # not ours, or unreadable: never a candidate
        if header.get("finished"):
            finished += 1
        elif (model and header["model"] != model) or (dataset and header["dataset"] != dataset):
            others.append(f"{header['model']} on {header['dataset']} ({os.path.basename(file)})")
        else:
            return file
    wanted = f" of {model} on {dataset}" if model and dataset else ""
    detail = f"; it holds unfinished states of {', '.join(others)}" if others else ""
    detail += f"; {finished} finished run(s) (nothing to resume)" if finished else ""
    raise ResumeError(f"--resume: no unfinished training state (*{STATE_SUFFIX}){wanted} in {path}{detail}")


def random_state():
    """The random states of torch (CPU), numpy and ``random``, as tensors and plain values."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
    }


def set_random_state(state):
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["name"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"]), python_state["gauss_next"]))
