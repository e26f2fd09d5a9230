"""Every override of RecBole internals, in one place, for the RecBole version it was written for.

recbole_dcr extends RecBole by subclassing its Config, Dataset and Trainer.  A few of their private
methods cannot be extended with ``super()``, because what they do is what has to change; those are
overridden outright here, and only here, so that a RecBole upgrade has one module to review:

* ``Config._load_cmd_line`` reads ``sys.argv`` of whatever process it runs in (a Ray worker's, a
  test runner's) and splits ``--key=value`` on every ``=``; here the caller may pass the overrides
  explicitly, and a value may contain ``=``.
* ``Config._init_device`` starts every process group with NCCL on ``cuda:<local_rank>``; here a
  process group may also run on CPU with gloo, and ``use_gpu`` says whether a GPU is really used.
* ``Dataset._load_feat`` parses atomic files with pandas' Python engine (about 8 s per 1M rows);
  here the C engine reads them, with ``float_precision="round_trip"`` so that floats come out as
  Python's ``float()`` reads them (identical frames: ``tests/test_fast_paths.py``).
* RecBole finds metrics only among the classes of ``recbole.evaluator.metrics``, in lookup tables
  built when that module is imported; :func:`register_metric` adds a plugin metric to those tables.
* ``Trainer.__init__`` wraps the model in ``DistributedDataParallel(device_ids=...)`` and converts
  BatchNorm to ``SyncBatchNorm`` (both GPU-only) and opens a TensorBoard folder even when nothing is
  logged to a file; here neither happens (:mod:`recbole_dcr.distributed` does data-parallel work).

* ``FMEmbedding.forward`` and ``FLEmbedding.forward`` copy their field offsets from a numpy array to
  the device on every call: a host-to-device copy per lookup, which stops a GPU stream and cannot be
  captured in a CUDA graph; :func:`offsets_on_device` gives a model's tables the offsets as a buffer.

Nothing else in recbole_dcr replaces RecBole code, patches its modules or swaps its objects' methods.
This module is a leaf of the import graph: it imports nothing of recbole_dcr.
"""

import os
import sys
from logging import FileHandler, getLogger

import numpy as np
import pandas as pd
import recbole
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data.dataset import Dataset as RecBoleDataset
from recbole.evaluator import Collector, Evaluator
from recbole.model.layers import FLEmbedding, FMEmbedding
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import FeatureType, WandbLogger, get_local_time
from recbole.utils.utils import ensure_dir

RECBOLE_VERSION = "1.2.1"

if recbole.__version__ != RECBOLE_VERSION:
    raise ImportError(
        f"recbole_dcr overrides internals of RecBole {RECBOLE_VERSION} (recbole_dcr/compat.py), but RecBole "
        f"{recbole.__version__} is installed. Fix: pip install recbole=={RECBOLE_VERSION}"
    )


def parse_overrides(args):
    """``{key: text}`` from ``--key=value`` arguments; the value is everything after the first ``=``."""
    overrides, ignored = {}, []
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            ignored.append(arg)
            continue
        key, value = arg[2:].split("=", 1)
        if key in overrides and overrides[key] != value:
            raise ValueError(f"--{key} is given twice with different values: {overrides[key]!r} and {value!r}")
        overrides[key] = value
    return overrides, ignored


def register_metric(metric_class):
    """Make a RecBole metric class findable by its lower-cased name in ``metrics:`` and ``valid_metric``."""
    from recbole.evaluator import register

    name = metric_class.__name__.lower()
    register.metrics_dict[name] = metric_class
    register.metric_information[name] = metric_class.metric_need
    register.metric_types[name] = metric_class.metric_type
    if metric_class.smaller and name not in register.smaller_metrics:
        register.smaller_metrics.append(name)


class ConfigBase(RecBoleConfig):
    """RecBole's Config with explicit command-line overrides and a device set-up that also runs on CPU.

    ``command_line``: the ``--key=value`` arguments to apply (highest priority, as RecBole's command
    line). ``None`` reads ``sys.argv[1:]`` as RecBole does; ``[]`` applies none.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, command_line=None):
        self._command_line = command_line
        super().__init__(model, dataset, config_file_list, config_dict)

    @classmethod
    def parse_command_line(cls, args):
        """``{key: value}`` of ``--key=value`` arguments, values typed as RecBole types command-line values."""
        overrides, ignored = parse_overrides(args)
        if ignored:
            raise ValueError(f"config overrides must look like --key=value; got {ignored}")
        return RecBoleConfig._convert_config_dict(cls, overrides)  # it reads nothing of the instance

    def _load_cmd_line(self):
        args = sys.argv[1:] if self._command_line is None else list(self._command_line)
        overrides, ignored = parse_overrides(args)
        if ignored and self._command_line is None:
            getLogger().warning(f"command line args {ignored} are not --key=value config overrides; not used")
        elif ignored:
            raise ValueError(f"config overrides must look like --key=value; got {ignored}")
        return self._convert_config_dict(overrides)

    def _init_device(self):
        config = self.final_config_dict
        gpu_id = config["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
        config["gpu_id"] = gpu_id
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
        on_gpu = torch.cuda.is_available() and len(gpu_id) > 0
        config["use_gpu"] = on_gpu
        if "local_rank" not in config:
            config["single_spec"] = True
            config["local_rank"] = 0
            config["device"] = torch.device("cuda" if on_gpu else "cpu")
            return
        self._init_process_group(config, on_gpu, gpu_id)

    @staticmethod
    def _init_process_group(config, on_gpu, gpu_id):
        """One data-parallel process: NCCL on its own GPU, or gloo on the CPU."""
        import torch.distributed as dist

        config.setdefault("offset", 0)
        config.setdefault("nproc", 1)
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


class DatasetBase(RecBoleDataset):
    """RecBole's Dataset whose atomic files are parsed by pandas' C engine (``fast_data``)."""

    def _load_feat(self, filepath, source):
        separator = self.config["field_separator"]
        if not self.config["fast_data"] or len(separator) != 1:  # the C engine takes one-character separators
            return super()._load_feat(filepath, source)
        load_col, unload_col = self._get_load_and_unload_col(source)
        if load_col == set():
            return None
        encoding = self.config["encoding"]
        with open(filepath, "r", encoding=encoding) as f:
            header = f.readline().rstrip("\n").split(separator)
        kept = []  # (name:type column, field name, FeatureType)
        for column in header:
            field, type_name = column.split(":")
            try:
                ftype = FeatureType(type_name)
            except ValueError:
                raise ValueError(f"Type {type_name} from field {field} is not supported.") from None
            if (load_col is None or field in load_col) and (unload_col is None or field not in unload_col):
                kept.append((column, field, ftype))
        if not kept:
            self.logger.warning(f"No columns has been loaded from [{source}]")
            return None
        for _, field, ftype in kept:
            self._register_field(field, ftype, source)
        frame = pd.read_csv(
            filepath, delimiter=separator, encoding=encoding, engine="c", float_precision="round_trip",
            usecols=[column for column, _, _ in kept],
            dtype={column: (np.float64 if ftype == FeatureType.FLOAT else str) for column, _, ftype in kept},
        )
        frame = frame[[column for column, _, _ in kept]]  # file order, as RecBole's
        frame.columns = [field for _, field, _ in kept]
        for _, field, ftype in kept:
            if ftype.value.endswith("seq"):
                frame[field] = self._split_sequences(frame[field], ftype, field)
        return frame

    def _register_field(self, field, ftype, source):
        """Field properties as RecBole records them while loading (link files register nothing)."""
        if source == "link":
            return
        self.field2source[field] = source
        self.field2type[field] = ftype
        if not ftype.value.endswith("seq"):
            self.field2seqlen[field] = 1
        if "float" in ftype.value:
            self.field2bucketnum[field] = 2

    def _split_sequences(self, column, ftype, field):
        """A token_seq / float_seq column as arrays, cut to ``seq_len[field]`` when configured."""
        separator = self.config["seq_separator"]
        cast = float if ftype == FeatureType.FLOAT_SEQ else str
        values = [np.array([cast(v) for v in text.split(separator) if v]) for text in column.fillna("").values]
        longest = max(map(len, values)) if values else 0
        limit = (self.config["seq_len"] or {}).get(field)
        if limit:
            values = [v[:limit] for v in values]
            self.field2seqlen[field] = min(limit, longest)
        else:
            self.field2seqlen[field] = longest
        return values


class _NoTensorBoard:
    """Stands in for TensorBoard's SummaryWriter when a run logs to no file."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def tensorboard_writer(logger):
    """RecBole's TensorBoard folder ``log_tensorboard/<log file name>`` when the run logs to a file, else nothing.

    RecBole opens one for every trainer, so library use and tests would litter the working directory
    with ``log_tensorboard/model-<time>`` folders.
    """
    for handler in logger.handlers:
        path = getattr(handler, "baseFilename", None) if isinstance(handler, FileHandler) else None
        if path and os.path.abspath(path) != os.path.abspath(os.devnull):
            from torch.utils.tensorboard import SummaryWriter

            return SummaryWriter(os.path.join("log_tensorboard", os.path.basename(path).split(".")[0]))
    return _NoTensorBoard()


class TrainerBase(RecBoleTrainer):
    """RecBole's Trainer set up without its GPU-only DDP wrapper (see :mod:`recbole_dcr.distributed`)."""

    def __init__(self, config, model):  # noqa: super().__init__ is what is replaced here
        self.config, self.model = config, model
        self.logger = getLogger()
        self.tensorboard = tensorboard_writer(self.logger)
        self.wandblogger = WandbLogger(config)
        self.learner, self.learning_rate = config["learner"], config["learning_rate"]
        self.epochs = config["epochs"]
        self.eval_step = min(config["eval_step"], self.epochs)
        self.stopping_step = config["stopping_step"]
        self.clip_grad_norm = config["clip_grad_norm"]
        self.valid_metric = config["valid_metric"].lower()
        self.valid_metric_bigger = config["valid_metric_bigger"]
        self.test_batch_size = config["eval_batch_size"]
        self.gpu_available = torch.cuda.is_available() and config["use_gpu"]
        self.device = config["device"]
        self.checkpoint_dir = config["checkpoint_dir"]
        self.enable_amp = config["enable_amp"]
        self.enable_scaler = torch.cuda.is_available() and config["enable_scaler"]
        ensure_dir(self.checkpoint_dir)
        # RecBole names the file by the second it was made; two runs started in the same second in one
        # folder (a tuning grid, parallel benchmarks) would then share it and one would test the other's
        # model: a random tag from the OS (not the seeded generators, whose draws stay the run's) keeps them apart
        self.saved_model_file = os.path.join(self.checkpoint_dir,
                                             f"{config['model']}-{get_local_time()}-{os.urandom(3).hex()}.pth")
        self.weight_decay = config["weight_decay"]
        self.start_epoch, self.cur_step = 0, 0
        self.best_valid_score = -np.inf if self.valid_metric_bigger else np.inf
        self.best_valid_result = None
        self.train_loss_dict = {}
        self.prepare_model()
        self.optimizer = self._build_optimizer()
        self.eval_type = config["eval_type"]
        self.eval_collector = Collector(config)
        self.evaluator = Evaluator(config)
        self.item_tensor, self.tot_item_num = None, None

    def prepare_model(self):
        """Called before the optimizer is built: a subclass prepares the model (data-parallel, sparse tables)."""


class _OffsetsBuffer:
    """RecBole's token/float field embeddings with their offsets in a (non-persistent) buffer: the same
    lookups, with no host-to-device copy per call."""

    def _index(self, index):
        return index + self.offsets_buffer.unsqueeze(0)


class DeviceOffsetsFMEmbedding(_OffsetsBuffer, FMEmbedding):
    def forward(self, input_x):
        return self.embedding(self._index(input_x))


class DeviceOffsetsFLEmbedding(_OffsetsBuffer, FLEmbedding):
    def forward(self, input_x):
        base, index = torch.split(input_x, [1, 1], dim=-1)
        return base * self.embedding(self._index(index.squeeze(-1).long()))


_DEVICE_OFFSETS = {FMEmbedding: DeviceOffsetsFMEmbedding, FLEmbedding: DeviceOffsetsFLEmbedding}


def offsets_on_device(model):
    """Turn every RecBole FMEmbedding / FLEmbedding of ``model`` (a model of ours) into its buffered twin.

    The instances keep their parameters, state-dict keys and numpy ``offsets`` (which other code reads);
    the buffer is not saved, so checkpoints are unchanged.
    """
    for module in model.modules():
        twin = _DEVICE_OFFSETS.get(type(module))
        if twin is not None:
            offsets = torch.as_tensor(np.asarray(module.offsets, dtype=np.int64),
                                      device=module.embedding.weight.device)
            module.__class__ = twin
            module.register_buffer("offsets_buffer", offsets, persistent=False)
    return model
