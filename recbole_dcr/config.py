"""Configuration that knows the plugin's models and yaml defaults.

RecBole's :class:`recbole.config.Config` resolves a model name only inside ``recbole.model`` and
reads defaults only from RecBole's own ``properties/``.  This subclass resolves names through
:mod:`recbole_dcr.registry` and layers the plugin's ``properties/overall.yaml``,
``properties/model/<Model>.yaml`` and ``properties/dataset/<dataset>.yaml`` on top of RecBole's
defaults, below the user's config files, dicts and command line.  It also tells the user about a
command-line key that nothing reads (a typo such as ``--epoch=1`` would otherwise pass silently),
and stops on a config file it cannot read or a value whose type the key's default rules out, before
any data is loaded (``--epochs=abc`` would otherwise end in a traceback deep inside torch).
"""

import glob
import numbers
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

# Keys whose readers accept a value of another type than their default's, and which ones.
OTHER_ACCEPTED_TYPES = {
    "topk": (numbers.Integral,),                    # RecBole: k alone means [k]
    "metrics": (str,),                              # RecBole: one metric name alone
    "CONFOUNDER_FIELD": (list, tuple),              # several confounders: a joint field
    "gpu_id": (numbers.Integral, tuple, list),      # --gpu_id=0, --gpu_id=0,1 (compat.ConfigBase._init_device)
    "embedding_init_std": (type(None),),            # ~: Xavier normal, RecBole's init
    "additional_feat_suffix": (str,),               # RecBole: one suffix alone
}


class ConfigError(ValueError):
    """A config file that cannot be read, or a value of the wrong type; the message names the key or file and the fix."""


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


def read_config_file(path, loader=yaml.SafeLoader):
    """The ``{key: value}`` of a yaml config file; :class:`ConfigError` if it is missing, unreadable or not a mapping."""
    where = f"config file '{path}' (config_files)"
    fix = "fix: give the path of a yaml file of 'key: value' lines, relative to the working directory " + os.getcwd()
    if not os.path.isfile(path):
        raise ConfigError(f"{where} {'is a folder' if os.path.isdir(path) else 'does not exist'}; {fix}")
    try:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.load(f.read(), Loader=loader)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{where} is not UTF-8 text (byte {error.start}); {fix}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where} is not valid YAML: {problem}{at}; fix: write one 'key: value' per line, "
                          f"e.g. 'learning_rate: 0.001'") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{where} holds a {type(loaded).__name__}, not 'key: value' lines; fix: write one "
                          f"'key: value' per line, e.g. 'learning_rate: 0.001'")
    return loaded


def _is_whole(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def expected_type(default):
    """``(description, test)`` of the values a key with this default takes; ``None`` when the default fixes nothing."""
    if default is None:
        return None
    if isinstance(default, bool):
        return "True or False", lambda value: isinstance(value, bool)
    if _is_whole(default):
        return "a whole number", _is_whole
    if _is_number(default):
        return "a number", _is_number
    if isinstance(default, str):
        return "a text value", lambda value: isinstance(value, (str, os.PathLike))  # a pathlib.Path for a path
    if isinstance(default, dict):
        return "a mapping {key: value}", lambda value: isinstance(value, dict)
    if isinstance(default, (list, tuple)):
        items = {expected_type(item)[0]: expected_type(item)[1] for item in default if item is not None}
        if len(items) != 1:  # empty or mixed: any list
            return "a list", lambda value: isinstance(value, (list, tuple))
        (words, test), = items.items()
        plural = {"True or False": "True/False values", "a whole number": "whole numbers", "a number": "numbers",
                  "a text value": "text values"}.get(words, "values")
        return f"a list of {plural}", lambda value: isinstance(value, (list, tuple)) and all(map(test, value))
    return None


class Config(ConfigBase):
    """RecBole ``Config`` for recbole_dcr; same arguments and priority rules as RecBole's.

    ``command_line``: the ``--key=value`` overrides (a list); ``None`` reads ``sys.argv`` as RecBole does.
    Raises :class:`ConfigError` for a config file it cannot read or a value of the wrong type.
    """

    def _load_cmd_line(self):
        try:
            return super()._load_cmd_line()
        except ValueError as error:  # a key given twice with different values
            raise ConfigError(f"{error}; fix: give it once") from None

    def _load_config_files(self, file_list):
        # Read here first, so that a missing or broken file gets one line, and so that a wrong value
        # can name the file it came from (the last file that sets a key wins, as in RecBole).
        self.file_of_key, readable = {}, []
        for path in file_list or []:
            loaded = read_config_file(path, self.yaml_loader)
            self.file_of_key.update(dict.fromkeys(loaded, path))
            if loaded:
                readable.append(path)  # RecBole's own reader fails on an empty file
        return super()._load_config_files(readable)

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

    def _update_internal_config_dict(self, file):
        loaded = super()._update_internal_config_dict(file)
        for key, value in (loaded or {}).items():  # every layer's default, for the type check
            self._defaults_of_key.setdefault(key, []).append(value)
        return loaded

    def _load_internal_config_dict(self, model, model_class, dataset):
        self._defaults_of_key = {}
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
        self._check_value_types()
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

    def _check_value_types(self):
        """Stop on a value whose type every default of its key rules out (RecBole's, the plugin's, the model's,
        the dataset's yaml); a ``~`` default admits None, and a key whose defaults are all ``~`` takes anything."""
        for key, value in self.external_config_dict.items():
            defaults = self._defaults_of_key.get(key, [])
            expected = [expected_type(default) for default in defaults if default is not None]
            if not expected or (value is None and None in defaults) \
                    or isinstance(value, OTHER_ACCEPTED_TYPES.get(key, ())) or any(test(value) for _, test in expected):
                continue
            words = " or ".join(dict.fromkeys(words for words, _ in expected))
            example = [default for default in defaults if default is not None][-1]
            is_default = " (the default)" if example == self.internal_config_dict.get(key) else ""
            where, fix = self._where(key, value, example)
            raise ConfigError(f"{where}: expected {words}, got {_describe(value)}; fix: e.g. {fix}{is_default}")

    def _where(self, key, value, example):
        """Where a value came from, and the same place holding ``example``: ``(where, fix)``."""
        if key in self.cmd_config_dict:
            return f"--{key}={value if isinstance(value, str) else repr(value)}", f"--{key}={_command_line_text(example)}"
        if key in self.variable_config_dict:
            return f"config_dict[{key!r}] = {value!r}", f"{{{key!r}: {example!r}}}"
        return f"key '{key}' in config file '{self.file_of_key.get(key, '?')}'", f"'{key}: {_command_line_text(example)}'"

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


def _describe(value):
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}" if value is not None else "None"


def _command_line_text(value):
    """A value as one writes it after --key= (RecBole evaluates it back)."""
    return str(value).replace(" ", "") if isinstance(value, (list, tuple, dict)) else str(value)


def _did_you_mean_key(key, known):
    close = registry.closest_names(key, known, n=1)
    return f"; did you mean --{close[0]}?" if close else ""
