"""Configuration that knows the plugin's models and yaml defaults.

RecBole's :class:`recbole.config.Config` resolves a model name only inside ``recbole.model``
and reads defaults only from RecBole's own ``properties/``.  This subclass resolves plugin
models first (RecBole's otherwise) and layers the plugin's ``properties/overall.yaml``,
``properties/model/<Model>.yaml`` and ``properties/dataset/<dataset>.yaml`` on top of
RecBole's defaults, below the user's config files, dicts and command line.
"""

import os

import recbole
import yaml
from recbole.config import Config as RecBoleConfig

DEFAULT_DATASET = "dcr_sim"  # the embedded simulator, generated on first use

PROPERTIES_DIRS = [
    # installed package: yaml files are copied into recbole_dcr/properties
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "properties"),
    # source checkout / editable install: the top-level properties/ folder
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "properties"),
]


def properties_dir():
    """The folder holding the plugin's yaml defaults."""
    for folder in PROPERTIES_DIRS:
        if os.path.isfile(os.path.join(folder, "overall.yaml")):
            return folder
    raise FileNotFoundError(
        "recbole_dcr cannot find its properties/overall.yaml; looked in: " + ", ".join(PROPERTIES_DIRS)
    )


class Config(RecBoleConfig):
    """RecBole ``Config`` for recbole_dcr; same arguments and priority rules as RecBole's."""

    def _get_model_and_dataset(self, model, dataset):
        from recbole_dcr.utils import get_model

        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise KeyError("the model must be given: argument, config file, config dict or --model=NAME")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset", DEFAULT_DATASET)
        if isinstance(model, str):
            return model, get_model(model), dataset
        return model.__name__, model, dataset

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        folder = properties_dir()
        model_files = [os.path.join(folder, "model", f"{model}.yaml")]
        base_key = getattr(model_class, "base_model_key", None)
        if base_key:
            # A wrapper (DCR) also takes the defaults of the model it wraps, below its own.
            wrapper_defaults = {}
            if os.path.isfile(model_files[0]):
                with open(model_files[0], encoding="utf-8") as f:
                    wrapper_defaults = yaml.load(f.read(), Loader=self.yaml_loader) or {}
            base = self.external_config_dict.get(base_key, wrapper_defaults.get(base_key))
            recbole_base_file = os.path.join(os.path.dirname(recbole.__file__), "properties", "model", f"{base}.yaml")
            model_files = [recbole_base_file, os.path.join(folder, "model", f"{base}.yaml")] + model_files
        for path in (
            os.path.join(folder, "overall.yaml"),
            *model_files,
            os.path.join(folder, "dataset", f"{dataset}.yaml"),
        ):
            if os.path.isfile(path):
                loaded = self._update_internal_config_dict(path) or {}
                if os.path.basename(os.path.dirname(path)) == "dataset":
                    self.parameters["Dataset"] += [k for k in loaded if k not in self.parameters["Dataset"]]

    def _init_device(self):
        """RecBole's device set-up, except that a process group may also run on CPU (gloo).

        RecBole hard-codes NCCL and ``cuda:<local_rank>``; here the backend is ``dist_backend`` (or
        NCCL on GPU, gloo on CPU), and without a GPU every rank trains on the CPU.
        """
        config = self.final_config_dict
        if "local_rank" not in config:
            return super()._init_device()
        import torch
        import torch.distributed as dist

        gpu_id = config["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
        config["gpu_id"] = gpu_id
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
        config.setdefault("offset", 0)
        config.setdefault("nproc", 1)
        on_gpu = torch.cuda.is_available() and len(gpu_id) > 0
        if on_gpu and len(gpu_id.split(",")) < config["nproc"]:
            raise ValueError(f"nproc={config['nproc']} processes need as many GPUs in gpu_id, got '{gpu_id}'")
        if not dist.is_initialized():
            dist.init_process_group(
                backend=config.get("dist_backend") or ("nccl" if on_gpu else "gloo"),
                rank=config["local_rank"] + config["offset"],
                world_size=config["world_size"],
                init_method=f"tcp://{config['ip']}:{config['port']}",
            )
        config["single_spec"] = False
        if on_gpu:
            config["device"] = torch.device("cuda", config["local_rank"])
            torch.cuda.set_device(config["local_rank"])
        else:
            config["device"] = torch.device("cpu")
        if config["local_rank"] != 0:
            config["state"] = "error"
            config["show_progress"] = False
            config["verbose"] = False

    def _set_default_parameters(self):
        train_label = self.final_config_dict.get("TRAIN_LABEL_FIELD")
        if train_label:
            # Every model (stock RecBole ones included) fits the training label.
            self.final_config_dict["LABEL_FIELD"] = train_label
        super()._set_default_parameters()
