"""Configuration that knows the plugin's models and yaml defaults.

RecBole's :class:`recbole.config.Config` resolves a model name only inside ``recbole.model`` and
reads defaults only from RecBole's own ``properties/``.  This subclass resolves names through
:mod:`recbole_dcr.registry` and layers the plugin's ``properties/overall.yaml``,
``properties/model/<Model>.yaml`` and ``properties/dataset/<dataset>.yaml`` on top of RecBole's
defaults, below the user's config files, dicts and command line.  It also tells the user about a
command-line key that nothing reads (a typo such as ``--epoch=1`` would otherwise pass silently).
"""

import glob
import os
import sys
import warnings
from logging import getLogger

import recbole
import yaml
from recbole.utils.argument_list import dataset_arguments, evaluation_arguments, general_arguments, training_arguments

import recbole_dcr.metrics  # noqa: F401  (registers CappedRecall with RecBole before a Config checks metrics)
from recbole_dcr import registry
from recbole_dcr.compat import ConfigBase

DEFAULT_DATASET = "dcr_sim"  # the embedded simulator, generated on first use

PROPERTIES_DIRS = [
    # installed package: yaml files are copied into recbole_dcr/properties
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "properties"),
    # source checkout / editable install: the top-level properties/ folder
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "properties"),
]
RECBOLE_PROPERTIES = os.path.join(os.path.dirname(recbole.__file__), "properties")

# Keys no yaml declares that the run itself sets or reads (data-parallel flags, derived values).
RUNTIME_KEYS = {
    "model", "dataset", "config_files", "local_rank", "world_size", "ip", "port", "nproc", "offset", "single_spec",
    "device", "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type", "valid_metric_bigger", "valid_neg_sample_args",
    "test_neg_sample_args", "ENTITY_ID_FIELD",
}
# Renamed keys: old name -> (new name, {old value: new value}); the old name still works, with a warning.
DEPRECATED_KEYS = {"dcr_inference": ("inference", {"enumerate": "do"})}


def properties_dir():
    """The folder holding the plugin's yaml defaults."""
    for folder in PROPERTIES_DIRS:
        if os.path.isfile(os.path.join(folder, "overall.yaml")):
            return folder
    raise FileNotFoundError(
        "recbole_dcr cannot find its properties/overall.yaml; looked in: " + ", ".join(PROPERTIES_DIRS)
    )


def _yaml_keys(path):
    with open(path, encoding="utf-8") as f:
        return set(yaml.safe_load(f) or {})


def models_declaring(key):
    """Names of the plugin and RecBole models whose yaml declares ``key``."""
    names = []
    for folder in (os.path.join(properties_dir(), "model"), os.path.join(RECBOLE_PROPERTIES, "model")):
        files = sorted(glob.glob(os.path.join(folder, "*.yaml")))
        names += [os.path.basename(path)[: -len(".yaml")] for path in files if key in _yaml_keys(path)]
    return list(dict.fromkeys(names))  # the plugin's models first


class Config(ConfigBase):
    """RecBole ``Config`` for recbole_dcr; same arguments and priority rules as RecBole's.

    ``command_line``: the ``--key=value`` overrides (a list); ``None`` reads ``sys.argv`` as RecBole does.
    """

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise KeyError("the model must be given: argument, config file, config dict or --model=NAME")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset", DEFAULT_DATASET)
        if isinstance(model, str):
            return model, registry.get_model(model), dataset
        return model.__name__, model, dataset

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        folder = properties_dir()
        model_file = os.path.join(folder, "model", f"{model}.yaml")
        for path in (
            os.path.join(folder, "overall.yaml"),
            *self._base_model_files(model_class, model_file, folder),
            model_file,
            os.path.join(folder, "dataset", f"{dataset}.yaml"),
        ):
            if os.path.isfile(path):
                loaded = self._update_internal_config_dict(path) or {}
                if os.path.basename(os.path.dirname(path)) == "dataset":
                    self.parameters["Dataset"] += [k for k in loaded if k not in self.parameters["Dataset"]]

    def _base_model_files(self, model_class, model_file, folder):
        """The yaml defaults of the model a wrapper (DCR) or backbone (DCRMoE) names, below the model's own."""
        base_key = getattr(model_class, "base_model_key", None)
        if not base_key:
            return []
        defaults = {}
        if os.path.isfile(model_file):
            with open(model_file, encoding="utf-8") as f:
                defaults = yaml.load(f.read(), Loader=self.yaml_loader) or {}
        base = self.external_config_dict.get(base_key, defaults.get(base_key))
        if base in getattr(model_class, "builtin_bases", ()):
            return []  # built into the model: no other model's keys to read
        return [os.path.join(RECBOLE_PROPERTIES, "model", f"{base}.yaml"), os.path.join(folder, "model", f"{base}.yaml")]

    def _set_default_parameters(self):
        config = self.final_config_dict
        self._apply_deprecated_keys(config)
        if config.get("TRAIN_LABEL_FIELD"):
            config["LABEL_FIELD"] = config["TRAIN_LABEL_FIELD"]  # every model, stock RecBole ones too, fits it
        if config.get("show_progress") is None:
            # Progress bars redrawn thousands of times only bloat a redirected log.
            config["show_progress"] = sys.stderr.isatty()
        super()._set_default_parameters()
        self._warn_unknown_command_line_keys()

    def _apply_deprecated_keys(self, config):
        for old, (new, values) in DEPRECATED_KEYS.items():
            if old not in self.external_config_dict:
                continue
            value = self.external_config_dict[old]
            message = f"config key '{old}' is deprecated; use '{new}: {values.get(value, value)}' instead"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            getLogger().warning(message)
            if new not in self.external_config_dict:
                config[new] = values.get(value, value)

    def known_keys(self):
        """Keys that some default of this run declares: RecBole's, the plugin's, the model's and the dataset's."""
        return (set(self.internal_config_dict) | set(general_arguments) | set(training_arguments)
                | set(evaluation_arguments) | set(dataset_arguments) | RUNTIME_KEYS | set(DEPRECATED_KEYS))

    def _warn_unknown_command_line_keys(self):
        known = self.known_keys()
        for key in self.cmd_config_dict:
            if key in known:
                continue
            others = models_declaring(key)
            where = f"read by {', '.join(others[:6])}{' ...' if len(others) > 6 else ''}, not by {self.model}" if others \
                else f"no yaml of RecBole, recbole_dcr or {self.model} declares it"
            getLogger().warning(f"--{key}: {where}, so nothing reads it{_did_you_mean_key(key, known)}")


def _did_you_mean_key(key, known):
    close = registry.closest_names(key, known, n=1)
    return f"; did you mean --{close[0]}?" if close else ""
