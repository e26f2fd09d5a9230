"""recbole_dcr checkpoints: tensors and plain Python values only, written atomically.

torch >= 2.6 loads with ``weights_only=True`` by default and refuses RecBole's own checkpoints,
which pickle the Config; ours keep the config as JSON text, so they load safely.  A leaf of the
import graph: it imports nothing of recbole_dcr above :mod:`recbole_dcr.files`.
"""

import json

import torch

from recbole_dcr.files import atomic_path

CHECKPOINT_FORMAT = "recbole_dcr-checkpoint-1"


def config_to_json(config):
    """The final config as JSON text (values JSON cannot hold are kept as their ``str``)."""
    return json.dumps(dict(config.final_config_dict), default=str, sort_keys=True)


def save_checkpoint(path, state):
    """Write ``state`` (a dict with ``format`` = CHECKPOINT_FORMAT) so that a crash never leaves half a file."""
    with atomic_path(path) as tmp_path:
        torch.save(state, tmp_path)


def load_checkpoint(path, map_location="cpu"):
    """Load a recbole_dcr checkpoint with ``weights_only=True`` and check its format."""
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a recbole_dcr checkpoint (format {CHECKPOINT_FORMAT}); RecBole's own .pth files "
            f"pickle the Config and are not loaded here. Retrain with recbole_dcr to get one."
        )
    return checkpoint
