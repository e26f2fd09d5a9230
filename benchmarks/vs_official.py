"""recbole_dcr against the authors' own DCR code (github.com/zyang1580/DCR), side by side on one split.

    python benchmarks/vs_official.py --official=PATH [--dataset=dcr_sim] [--epochs=10]
        [--models=DCRMoE,MoE,NFMWA,IPW,FairGo,CR] [--out=results/vs_official.md] [--workdir=DIR]
        [--official_args='{"reg_emb": 0.1}'] [--official_workers=N] [--official_verbose=0|1] [--seed=N]
        [--key=value ...]                       (any other --key=value goes to the plugin's Config)

PATH is an unedited checkout of the authors' repository. Their code needs deepctr-torch 0.2.7, which
pulls in TensorFlow only for Keras callbacks; install it without its dependencies, beside this
environment, and run the script with that interpreter:

    python -m venv --system-site-packages ../official/venv
    ../official/venv/bin/pip install --no-deps deepctr-torch==0.2.7
    ../official/venv/bin/python benchmarks/vs_official.py --official=../official/DCR --epochs=10

What it does:

1. builds the plugin's dataset and its train/valid/test split (plugin API), and writes exactly those
   rows as the CSV files the authors' ``run_a_model`` reads (``<workdir>/official_data/kwai/
   final_{train,valid,test}_data_for_finish.csv``: ``user_id``, ``item_id``, the item's other token
   features, ``finish``, ``like``, ``code_duration``; every id re-coded to 0..n-1 over the three
   splits, as their ``SparseFeat(feat, nunique)`` tables require);
2. builds their models from those files the way ``run_a_model`` does (feature columns, the
   confounder as the last column, P(a), IPW propensities, FairGo's pretrained NFM-WA) and trains
   them with their own ``fit``; their loop calls ``tune.report`` once per epoch, and the run-time
   shim behind it trains the plugin's counterpart for one epoch, so the two take turns epoch by
   epoch and only same-run ratios are read;
3. scores both sides' valid and test rows with one metric function (per user, the user's own rows
   ranked by score, relevance = ``like``, users without a positive skipped), keeps each side's
   best-validation epoch (valid NDCG@10) and reports its test NDCG, Recall (hits / #positives) and
   capped Recall (hits / min(#positives, K)) at 10 and 20, with training samples/s of both sides
   (only the training part of each epoch is timed);
4. writes the Markdown report to ``--out`` (atomically) and prints it.

Their code is never edited; what today's stack needs is patched at run time (``install_shims``):
a stand-in ``tensorflow`` for the Keras callbacks deepctr-torch imports, deepctr-torch's PyPI version
check turned off, NumPy's removed ``np.float``/``np.int``, a ``tune`` stand-in (``report`` is the
per-epoch hook, ``checkpoint_dir`` a scratch folder), their hard-coded checkpoint paths redirected into
the work folder, a timed ``DataLoader``, and a ``log_loss`` that clips as old scikit-learn did. Their
prints go to ``<workdir>/official_<model>.log``. Same budget on both sides: the plugin's embedding size, hidden sizes, batch size,
learner and learning rate (defaults here: 16, (256, 128), 2048, adagrad, 0.01) and N epochs, no early
stopping. L2 and loss weights are converted because their losses are per-batch sums (see
``official_args``); ``--official_args`` overrides any of their ``parameters``.
"""

import argparse
import ast
import contextlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

STARTED = time.perf_counter()
REPO_ROOT = Path(__file__).resolve().parent.parent  # default places of results/ and dataset/

ALL_MODELS = ["DCRMoE", "MoE", "NFMWA", "IPW", "FairGo", "CR"]
TOPK = (10, 20)
CONFOUNDER = "code_duration"  # their name for the coded confounder (main_function_kwai.py)

# Jobs: one training run per side; a job may report several rows (DCR-MoE and MoE share one training,
# scored with do- and with conditional inference). row: (plugin inference or None, official output)
JOBS = {
    "moe": dict(plugin="DCRMoE", official="fastFairNFM",
                rows={"DCRMoE": ("do", "do"), "MoE": ("condition", "condition")}),
    "NFMWA": dict(plugin="NFMWA", official="myNFM", rows={"NFMWA": (None, None)}),
    # FairGo's recommender feeds the first-order logit into its MLP, as theirs (so its filter sees A's weight):
    # it starts from an NFM-WA of that layout, trained in turns with their myNFM as its own job.
    "NFMWA_fo": dict(plugin="NFMWA", official="myNFM", rows={"NFMWA, first order as input": (None, None)},
                     overrides={"first_order_input": True}),
    "IPW": dict(plugin="IPW", official="ipw", rows={"IPW": (None, None)}),
    "FairGo": dict(plugin="FairGo", official="FairGo", rows={"FairGo": (None, None)}),
    "CR": dict(plugin="CR", official="CR_NFM", rows={"CR": (None, None)}),
}


# ====================================================================== plugin side (recbole_dcr API)
def plugin_build(model, overrides):
    """(config, trainer, train_data, valid_data, test_data) of an untrained plugin model."""
    from recbole_dcr.data.dataset import dataset_fingerprint
    from recbole_dcr.quick_start import build_run, configure

    config = configure(model, config_dict=overrides, command_line=[])  # this script's flags are not config keys
    trainer, train_data, valid_data, test_data = build_run(config)
    trainer.dataset_fingerprint = dataset_fingerprint(train_data._dataset)  # as DCRTrainer.fit sets it
    return config, trainer, train_data, valid_data, test_data


def plugin_train_epoch(trainer, train_data, epoch):
    trainer._train_epoch(train_data, epoch)


@torch.no_grad()
def plugin_scores(trainer, dataset, inference=None, chunk=65536):
    """Score of every row of a split dataset, in the split's row order."""
    model = trainer.model
    model.eval()
    if inference is not None:
        model.inference = inference
    parts = []
    for start in range(0, len(dataset), chunk):
        rows = torch.arange(start, min(start + chunk, len(dataset)))
        parts.append(model.predict(dataset[rows].to(trainer.device)).float().cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def plugin_save(trainer, path, epoch):
    """A recbole_dcr checkpoint (what FairGo's ``pretrained_checkpoint`` loads)."""
    trainer._save_checkpoint(epoch, verbose=False, saved_model_file=str(path))


def plugin_split_frame(dataset):
    """The split's rows as a DataFrame: plugin ids of user, item, item token features, confounder; labels."""
    from recbole.utils import FeatureType

    if dataset.confounder_parts:
        raise SystemExit("vs_official: one confounder field only (their code has a single code_duration column)")
    uid, iid, conf = dataset.uid_field, dataset.iid_field, dataset.confounder_field
    labels = {dataset.config["TRAIN_LABEL_FIELD"], dataset.config["EVAL_LABEL_FIELD"]}
    extra = [f for f in dataset.fields() if f not in {uid, iid, conf, *labels}]
    unsupported = [f for f in extra if dataset.field2type[f] != FeatureType.TOKEN]
    if unsupported:
        raise SystemExit(f"vs_official: fields {unsupported} are not token fields; their run_a_model takes "
                         f"sparse (token) features only here")
    inter = dataset.inter_feat
    items = inter[iid].numpy()
    frame = {"user_id": inter[uid].numpy(), "item_id": items}
    for field in extra:  # item features are looked up by item id; interaction features read directly
        in_inter = field in inter.columns
        frame[field] = inter[field].numpy() if in_inter else dataset.item_feat[field].numpy()[items]
    frame["confounder"] = dataset.confounder_values().numpy()
    frame["finish"] = inter[dataset.config["TRAIN_LABEL_FIELD"]].numpy()
    frame["like"] = inter[dataset.config["EVAL_LABEL_FIELD"]].numpy()
    return pd.DataFrame(frame), extra


# ====================================================================== run-time shims for their code
class Clock:
    """Seconds spent inside shuffled (training) DataLoader loops since the last epoch hook."""

    pending = 0.0
    workers = None  # override of their DataLoader num_workers (None: theirs)


def _timed_loader_class():
    from torch.utils.data import DataLoader, RandomSampler

    class TimedDataLoader(DataLoader):
        """Their DataLoader; a shuffled one (their training loops) is timed from first to last batch."""

        def __init__(self, *args, **kwargs):
            if Clock.workers is not None and "num_workers" in kwargs:
                kwargs["num_workers"] = Clock.workers
            super().__init__(*args, **kwargs)

        def __iter__(self):
            if not isinstance(self.sampler, RandomSampler):
                yield from super().__iter__()
                return
            start = time.perf_counter()
            yield from super().__iter__()
            Clock.pending += time.perf_counter() - start

    return TimedDataLoader


class TuneShim(types.ModuleType):
    """``ray.tune`` for their modules: ``report`` is our per-epoch hook, ``checkpoint_dir`` a scratch folder."""

    def __init__(self, scratch):
        super().__init__("tune_shim")
        self.scratch = scratch
        self.hook = None

    def report(self, **metrics):
        # Their loops call report once per epoch and once more after the last; only the calls that
        # follow a training pass are epochs.
        if self.hook is not None and Clock.pending > 0:
            seconds, Clock.pending = Clock.pending, 0.0
            self.hook(seconds)

    @contextlib.contextmanager
    def checkpoint_dir(self, step):
        folder = os.path.join(self.scratch, "tune_checkpoint")
        os.makedirs(folder, exist_ok=True)
        yield folder


class TorchProxy(types.ModuleType):
    """``torch`` for their modules, with save/load paths outside the work folder moved into ``folder``, and
    their hard-coded ``manual_seed(1024)`` replaced by ``seed`` when one is given."""

    def __init__(self, workdir, folder, seed=None):
        super().__init__("torch")
        self._workdir, self._folder, self._seed = workdir, folder, seed

    def __getattr__(self, name):
        return getattr(torch, name)

    def _path(self, f):
        if isinstance(f, (str, Path)) and not os.path.abspath(f).startswith(self._workdir + os.sep):
            os.makedirs(self._folder, exist_ok=True)
            return os.path.join(self._folder, os.path.basename(str(f)))
        return f

    def manual_seed(self, seed):
        return torch.manual_seed(seed if self._seed is None else self._seed)

    def save(self, obj, f, *args, **kwargs):
        return torch.save(obj, self._path(f), *args, **kwargs)

    def load(self, f, *args, **kwargs):
        kwargs.setdefault("weights_only", False)  # their files are plain state dicts; torch >= 2.6 default
        return torch.load(self._path(f), *args, **kwargs)


def _fake_module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec(name) must not raise (torch._dynamo)
    sys.modules[name] = module
    return module


def _load_their_module(name, official_dir):
    spec = importlib.util.spec_from_file_location(name, os.path.join(official_dir, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def install_shims(official_dir, workdir, seed=None):
    """Import their modules with today's stack; returns ``(modules, tune_shim)``. Each patch, one line why."""
    # (1) ray, before the stand-in tensorflow: their modules import ray.tune's names at import time (the
    #     calls go to the tune stand-in of (6)); without ray at all, stand-in modules satisfy the imports.
    try:
        import ray.tune  # noqa: F401
        import ray.tune.schedulers  # noqa: F401
    except ImportError:
        fake_tune = _fake_module("ray.tune", CLIReporter=object, report=None, checkpoint_dir=None)
        _fake_module("ray.tune.schedulers", ASHAScheduler=object)
        _fake_module("ray", tune=fake_tune)
    # (2) torch.utils.tensorboard first: tensorboard would take the stand-in tensorflow below for the real one.
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:  # their modules import SummaryWriter and never use it
        _fake_module("torch.utils.tensorboard", SummaryWriter=object)
    # (3) a stand-in tensorflow: deepctr-torch 0.2.7 (and their basemodel_ours) import Keras callbacks from it.
    if importlib.util.find_spec("tensorflow") is None:
        class Callback:
            def __init__(self, *args, **kwargs):
                self.model = None

            def set_model(self, model):
                self.model = model

        names = ("CallbackList", "EarlyStopping", "ModelCheckpoint", "History")
        callbacks = {name: type(name, (Callback,), {}) for name in names}
        keras_callbacks = _fake_module("tensorflow.python.keras.callbacks", Callback=Callback, **callbacks)
        keras = _fake_module("tensorflow.python.keras", callbacks=keras_callbacks)
        _fake_module("tensorflow", python=_fake_module("tensorflow.python", keras=keras))
    # (4) deepctr-torch's import-time PyPI version check (a background HTTP request) is turned off.
    spec = importlib.util.find_spec("deepctr_torch")
    if spec is None:
        raise SystemExit("vs_official: deepctr_torch is not importable; install deepctr-torch==0.2.7 with --no-deps "
                         "in a venv (see this script's docstring) and run the script with that interpreter")
    utils_spec = importlib.util.spec_from_file_location(
        "deepctr_torch.utils", os.path.join(spec.submodule_search_locations[0], "utils.py"))
    deepctr_utils = importlib.util.module_from_spec(utils_spec)
    utils_spec.loader.exec_module(deepctr_utils)
    deepctr_utils.check_version = lambda version: None
    sys.modules["deepctr_torch.utils"] = deepctr_utils
    # (5) NumPy 1.24 removed the np.float / np.int aliases their utils.metrics uses.
    np.float, np.int = float, int
    # Their modules import each other by bare name; each is loaded from its file, in dependency order, under
    # that name, so those imports find it in sys.modules (the import path is left alone).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = ["utils", "basemodel_ours", "baseline_tune", "decfair_tune", "FairGo", "ipw_nfm",
                 "counterfactual_reasoning", "pre_data_wechat", "main_function_kwai"]
        modules = {name: _load_their_module(name, official_dir) for name in names}
    # (7) scikit-learn >= 1.5 stopped clipping log_loss's predictions into (0, 1) (1.7 raises); their CR predict
    #     returns logits that their evaluate() passes to it. Their BaseModel takes log_loss from its globals.
    from sklearn.metrics import log_loss

    modules["basemodel_ours"].log_loss = lambda y, p, *a, **k: log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), *a, **k)
    tune = TuneShim(workdir)
    torch_proxy = TorchProxy(workdir, os.path.join(workdir, "official_checkpoints"), seed)
    loader = _timed_loader_class()
    for module in modules.values():
        # (6) their module globals: tune -> our per-epoch hook and a scratch checkpoint_dir (Ray >= 2.7 has no
        #     tune.checkpoint_dir; 2.6's writes into the current folder outside a Tune session); torch -> their
        #     hard-coded /data/zyang/... checkpoint paths redirected; DataLoader -> timed (optionally fewer workers).
        if hasattr(module, "tune"):
            module.tune = tune
        if hasattr(module, "torch"):
            module.torch = torch_proxy
        if hasattr(module, "DataLoader"):
            module.DataLoader = loader
    return modules, tune


# ====================================================================== their input files and models
def official_frames(frames, extra):
    """Plugin split frames -> their columns, each id re-coded to 0..n-1 over the three splits."""
    whole = pd.concat(frames, ignore_index=True)
    sizes = np.cumsum([0] + [len(f) for f in frames])
    out = pd.DataFrame(index=whole.index)
    for column in ["user_id", "item_id", *extra]:
        out[column] = np.unique(whole[column].to_numpy(), return_inverse=True)[1]
    out["finish"] = whole["finish"].to_numpy().astype(np.int64)
    out["like"] = whole["like"].to_numpy().astype(np.int64)
    out[CONFOUNDER] = np.unique(whole["confounder"].to_numpy(), return_inverse=True)[1]
    return [out.iloc[a:b].reset_index(drop=True) for a, b in zip(sizes[:-1], sizes[1:])]


def write_official_csvs(frames, root):
    folder = Path(root) / "kwai"
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(("train", "valid", "test"), frames):
        frame.to_csv(folder / f"final_{name}_data_for_finish.csv", index=False)
    return folder


def official_args(modules, key, plugin_config, epochs, overrides):
    """Their ``parameters`` for one model under the plugin's budget and L2.

    Their loss is a per-batch sum of BCE plus reg·||w||². With ``loss_reduction: sum`` (the plugin's
    default) the plugin's loss is the same and its coefficients are that reg; with ``mean`` the plugin's
    wd on the mean loss balances as reg = wd·B/2 (Adagrad and Adam barely see a gradient's overall
    scale). FairGo and CR's loss weights are on the same summed scale on both sides; FairGo's Adam
    weight decay (gradient reg·w) is twice the plugin's coefficient, as the plugin's gradient 2λw.
    """
    batch = int(plugin_config["train_batch_size"])
    learner = str(plugin_config["learner"]).lower()
    if learner not in ("adagrad", "adam", "sgd", "rmsprop"):
        raise SystemExit(f"vs_official: their code has no learner '{learner}'")
    summed = plugin_config["loss_reduction"] == "sum"
    scale = 1.0 if summed else batch / 2  # plugin coefficient -> their reg

    def weight(key_name):
        return float(plugin_config[key_name] or 0.0) * scale

    args = modules["main_function_kwai"].parameters()
    args.reset({
        "model": key, "lr": float(plugin_config["learning_rate"]), "opt": learner,
        "dim": int(plugin_config["embedding_size"]), "batch_size": batch,
        "epoch": epochs, "patience": epochs + 1,  # N epochs, no early stopping
        "reg_emb": weight("embedding_weight_decay"),
        "reg_para": weight("weight_decay") * (2 if key == "FairGo" else 1),
        "alpha": {"FairGo": float(plugin_config["adversary_weight"] or 0.0) * (1 if summed else batch),
                  "CR_NFM": float(plugin_config["alpha"] or 0.0)}.get(key, 0.0),
        "stop_refer": "val_do_ndcg_post10" if key == "fastFairNFM" else "val_ndcg_post10",
        "use_videolen": 0, "use_codelen": 1,
    })
    args.reset(overrides)
    return args


def official_build(modules, data_dir, args, hidden, pretrained=None, log_file=None):
    """(model, fit kwargs): the objects their run_a_model builds for ``args.model`` from the CSV files.

    Mirrors main_function_kwai.run_a_model (lines 106-257) with their kwai settings (use_videolen=0,
    use_codelen=1), except that the feature list is every column of the files rather than their
    hard-coded ['item_id'] (the plugin's item token features, e.g. category, are in the files).
    """
    from deepctr_torch.inputs import SparseFeat, get_feature_names

    frames = [pd.read_csv(Path(data_dir) / f"final_{n}_data_for_finish.csv") for n in ("train", "valid", "test")]
    train, valid, test = frames
    target = ["finish", "like"]
    sparse = [c for c in train.columns if c not in target and c != CONFOUNDER] + [CONFOUNDER]  # confounder last
    data = pd.concat(frames).reset_index(drop=True)
    columns = [SparseFeat(f, data[f].nunique(), embedding_dim=args.dim) for f in sparse]
    feature_names = get_feature_names(columns + columns)
    without_confounder = [c for c in columns if c.name != CONFOUNDER]
    common = dict(dnn_hidden_units=tuple(hidden), task="binary", l2_reg_embedding=args.reg_emb,
                  device="cuda:0" if torch.cuda.is_available() else "cpu", l2_reg_dnn=args.reg_para,
                  l2_reg_linear=args.reg_para, emb_dim=args.dim)
    num_confounder = data[CONFOUNDER].unique().shape[0]
    if args.model == "fastFairNFM":  # DCR-MoE: P(a) from the training rows; A only picks the expert
        _, counts = np.unique(train[CONFOUNDER].to_numpy(), return_counts=True)
        model = modules["decfair_tune"].FastFairNFM(
            linear_feature_columns=without_confounder, dnn_feature_columns=without_confounder, **common,
            confounder_num=num_confounder, confounder_name=CONFOUNDER, confounder_prob=counts / counts.sum())
    elif args.model == "myNFM":  # NFM-WA: A is an ordinary input field
        model = modules["FairGo"].myNFM(linear_feature_columns=columns, dnn_feature_columns=columns, **common)
    elif args.model == "ipw":  # propensities from finish rates of all rows (train+valid+test), as theirs
        rate = data.groupby(CONFOUNDER).agg({"finish": "mean"}).sort_index().to_numpy()
        model = modules["ipw_nfm"].ipw_myNFM(
            linear_feature_columns=without_confounder, dnn_feature_columns=without_confounder, **common,
            propensity_pos=np.sqrt(rate / rate.max()), propensity_neg=np.sqrt((1 - rate) / (1 - rate).max()),
            confounder_name=CONFOUNDER)
    elif args.model == "FairGo":  # use_codelen=1: the recommender keeps A as an input
        model = modules["FairGo"].FairGo(linear_feature_columns=columns, dnn_feature_columns=columns, **common,
                                         confounder_num=num_confounder, confounder=CONFOUNDER)
        args.pretrained_model = str(pretrained)
        model.load_pretrained_recommender(args.pretrained_model)
    elif args.model == "CR_NFM":
        model = modules["counterfactual_reasoning"].CR_NFM(
            linear_feature_columns=columns, dnn_feature_columns=columns, **common, spurious_feat_name=CONFOUNDER)
    else:
        raise ValueError(args.model)
    model.compile(args.opt, "binary_crossentropy", metrics=["binary_crossentropy", "auc"], lr=args.lr or None)
    fit = dict(x={n: train[n] for n in feature_names}, y=train[target].values, batch_size=args.batch_size,
               epochs=args.epoch, validation_data=({n: valid[n] for n in feature_names}, valid[target].values),
               save_name=f"vs_official-{args.model}", args_=args, log_file=log_file)
    inputs = {name: {n: f[n] for n in feature_names} for name, f in (("valid", valid), ("test", test))}
    return model, fit, inputs


def official_scores(model, x, output):
    """Their predict() on a split; ``output`` picks DCR-MoE's do or conditional prediction."""
    if hasattr(model, "set_pre_mode"):
        model.set_pre_mode("all")  # [condition, do, do-even]
        condition, do, _ = model.predict(dict(x), 8192)
        return (do if output == "do" else condition).reshape(-1)
    return model.predict(dict(x), 8192).reshape(-1)


# ====================================================================== one metric function for both
def ranking_metrics(users, scores, relevance, ks=TOPK):
    """Per user: the user's rows ranked by score (ties by row order); users without a positive skipped.

    NDCG@K (ideal DCG over min(#pos, K) positives), Recall@K = hits / #pos, CappedRecall@K =
    hits / min(#pos, K); means over users.
    """
    users, scores, relevance = np.asarray(users), np.asarray(scores, dtype=np.float64), np.asarray(relevance) > 0
    order = np.lexsort((np.arange(len(users)), -scores, users))
    users, relevance = users[order], relevance[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)
    positives = np.add.reduceat(relevance.astype(np.int64), starts)
    kept = positives > 0
    result = {}
    for k in ks:
        top = relevance & (rank < k)
        hits = np.add.reduceat(top.astype(np.int64), starts)
        dcg = np.add.reduceat(np.where(top, 1.0 / np.log2(rank + 2.0), 0.0), starts)
        discount = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))
        idcg = discount[np.minimum(positives, k) - 1]
        result[f"ndcg@{k}"] = float(np.mean(dcg[kept] / idcg[kept]))
        result[f"recall@{k}"] = float(np.mean(hits[kept] / positives[kept]))
        result[f"capped_recall@{k}"] = float(np.mean(hits[kept] / np.minimum(positives[kept], k)))
    result["users"] = int(kept.sum())
    return result


class Best:
    """Best-validation epoch of one (row, side) and its test metrics."""

    def __init__(self):
        self.valid, self.epoch, self.test = -np.inf, None, None

    def update(self, epoch, valid_score, test_metrics_fn):
        if valid_score > self.valid:
            self.valid, self.epoch, self.test = valid_score, epoch, test_metrics_fn()
            return True
        return False


# ====================================================================== the run
def run_job(name, job, ctx):
    """Train one job on both sides, epoch by epoch in turns; returns its rows' results."""
    plugin_model = job["plugin"] if name != "moe" or "DCRMoE" in ctx.rows_wanted else "MoE"
    overrides = {**ctx.plugin_overrides, **job.get("overrides", {})}
    if name == "FairGo":
        overrides["pretrained_checkpoint"] = str(ctx.plugin_pretrained)
    config, trainer, train_data, valid_data, test_data = plugin_build(plugin_model, overrides)
    splits = [d._dataset for d in (train_data, valid_data, test_data)]
    frames = [plugin_split_frame(d)[0] for d in splits]
    signature = [pd.util.hash_pandas_object(f, index=False).sum() for f in frames]
    if ctx.split_signature is None:
        ctx.split_signature, ctx.frames = signature, frames
        extra = plugin_split_frame(splits[0])[1]
        ctx.data_dir = write_official_csvs(official_frames(frames, extra), Path(ctx.workdir) / "official_data")
        print(f"[data] {split_sizes(frames)}; "
              f"features user_id, item_id, {', '.join(extra + ['duration (confounder)'])}; files in {ctx.data_dir}",
              flush=True)
    elif signature != ctx.split_signature:
        raise SystemExit(f"vs_official: the {plugin_model} run split the data differently from the first model")
    valid_frame, test_frame = ctx.frames[1], ctx.frames[2]

    hidden = config["expert_hidden_size"] if name == "moe" else config["mlp_hidden_size"]
    args = official_args(ctx.modules, job["official"], config, ctx.epochs, ctx.official_overrides)
    log_file = open(Path(ctx.workdir) / f"official_{args.model}.log", "w")
    with contextlib.redirect_stdout(log_file):
        model, fit, inputs = official_build(ctx.modules, ctx.data_dir, args, hidden,
                                            pretrained=ctx.official_pretrained, log_file=log_file)
    train_rows = len(splits[0])
    last_batch = train_rows % args.batch_size
    if args.model == "fastFairNFM" and 0 < last_batch < 16:
        print(f"[{name}] warning: their last training batch has {last_batch} rows; a batch whose labels are all equal "
              f"makes their aux loss NaN even at alpha=0 (decfair_tune.py:450, 0*NaN), and one row crashes their "
              f"forward (squeeze, line 428). Change the batch size or the data size.", file=ctx.stdout, flush=True)
    rows = {row: modes for row, modes in job["rows"].items() if row in ctx.rows_wanted or
            (name == "NFMWA_fo" and "FairGo" in ctx.rows_wanted)}
    best = {(row, side): Best() for row in rows for side in ("plugin", "official")}
    seconds = {"plugin": [], "official": []}

    def checked(scores, side, row):
        if not np.isfinite(scores).all():
            print(f"[{name}] warning: {side} {row} gave {int((~np.isfinite(scores)).sum())} non-finite scores",
                  file=ctx.stdout, flush=True)
        return scores

    def evaluate(side, epoch, score_fn):
        for row, modes in rows.items():
            mode = modes[0] if side == "plugin" else modes[1]
            valid = ranking_metrics(valid_frame["user_id"], checked(score_fn(splits[1], "valid", mode), side, row),
                                    valid_frame["like"])
            improved = best[(row, side)].update(epoch, valid["ndcg@10"], lambda: ranking_metrics(
                test_frame["user_id"], score_fn(splits[2], "test", mode), test_frame["like"]))
            if improved and name == "NFMWA_fo":  # FairGo starts from each side's best NFM-WA of its layout
                if side == "plugin":
                    plugin_save(trainer, ctx.plugin_pretrained, epoch)
                else:
                    torch.save(model.state_dict(), ctx.official_pretrained)

    def on_official_epoch(official_seconds):
        epoch = len(seconds["official"])
        seconds["official"].append(official_seconds)
        evaluate("official", epoch, lambda _d, split, mode: official_scores(model, inputs[split], mode))
        start = time.perf_counter()
        plugin_train_epoch(trainer, train_data, epoch)
        seconds["plugin"].append(time.perf_counter() - start)
        evaluate("plugin", epoch, lambda dataset, _s, mode: plugin_scores(trainer, dataset, mode))
        print(f"[{name}] epoch {epoch}: train s official {official_seconds:.2f} plugin {seconds['plugin'][-1]:.2f}; "
              + ", ".join(f"{r}/{s} best valid NDCG@10 {b.valid:.4f} (epoch {b.epoch})" for (r, s), b in best.items()),
              file=ctx.stdout, flush=True)

    ctx.tune.hook = on_official_epoch
    Clock.pending = 0.0
    try:
        with contextlib.redirect_stdout(log_file):  # their prints (metrics, device) go to their log
            model.fit(**fit, verbose=ctx.official_verbose)
    finally:
        ctx.tune.hook = None
        log_file.close()
    if len(seconds["official"]) != ctx.epochs:
        raise SystemExit(f"vs_official: their {args.model} fit ran {len(seconds['official'])} epochs, not {ctx.epochs}")
    rates = {side: train_rows / statistics.median(s) for side, s in seconds.items()}
    shared = f" (one training for {', '.join(rows)})" if len(rows) > 1 else ""
    return [dict(row=row, best={side: best[(row, side)] for side in ("plugin", "official")}, rates=rates,
                 official_args={k: v for k, v in vars(args).items() if k != "pretrained_model"}, shared=shared,
                 train_rows=train_rows) for row in rows]


def split_sizes(frames):
    return ", ".join(f"{n} {len(f):,} rows" for n, f in zip(("train", "valid", "test"), frames))


def gap(plugin, official):
    return "n/a" if not official else f"{100.0 * (plugin - official) / official:+.1f}%"


def report(results, ctx, started):
    verbose_note = ("per-batch sklearn log-loss and AUC inside their timed loop" if ctx.official_verbose
                    else "no per-batch metrics")
    lines = [
        "# recbole_dcr vs the authors' DCR code (zyang1580/DCR), same split, same metric",
        "",
        f"Command: `{' '.join([Path(sys.executable).name, *ctx.argv])}`",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, numpy {np.__version__}, pandas {pd.__version__}; load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - started:.0f} s. "
        f"Their DataLoader workers: {'theirs (4)' if Clock.workers is None else Clock.workers}; their fit verbose="
        f"{ctx.official_verbose} ({verbose_note}).",
        "",
        f"Data: {ctx.dataset} ({split_sizes(ctx.frames)}). "
        f"Budget on both sides: {ctx.epochs} epochs, no early stopping, best-validation epoch by valid NDCG@10 on "
        f"`like`. Test metrics below are computed by this script's one function for both sides (per user over the "
        f"user's own test rows, relevance `like`, users without a positive skipped). Samples/s: training rows / "
        f"median training seconds per epoch (training loop only); ratio = plugin / official.",
        "",
        "| model | NDCG@10 plugin | NDCG@10 official | gap | CappedRecall@10 plugin | official | Recall@10 plugin | "
        "official | samples/s plugin | samples/s official | ratio | best epoch plugin / official |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p, o = r["best"]["plugin"].test, r["best"]["official"].test
        rate_p, rate_o = r["rates"]["plugin"], r["rates"]["official"]
        label = r["row"] if r["row"] in ctx.rows_wanted else f"{r['row']} (FairGo's pretraining)"
        lines.append(
            f"| {label} | {p['ndcg@10']:.4f} | {o['ndcg@10']:.4f} | {gap(p['ndcg@10'], o['ndcg@10'])} | "
            f"{p['capped_recall@10']:.4f} | {o['capped_recall@10']:.4f} | {p['recall@10']:.4f} | "
            f"{o['recall@10']:.4f} | {rate_p:,.0f} | {rate_o:,.0f} | {rate_p / rate_o:.2f} | "
            f"{r['best']['plugin'].epoch} / {r['best']['official'].epoch} |")
    lines += ["", "At 20:", "", "| model | NDCG@20 plugin | official | gap | CappedRecall@20 plugin | official | "
              "Recall@20 plugin | official | test users |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        p, o = r["best"]["plugin"].test, r["best"]["official"].test
        lines.append(f"| {r['row']} | {p['ndcg@20']:.4f} | {o['ndcg@20']:.4f} | {gap(p['ndcg@20'], o['ndcg@20'])} | "
                     f"{p['capped_recall@20']:.4f} | {o['capped_recall@20']:.4f} | {p['recall@20']:.4f} | "
                     f"{o['recall@20']:.4f} | {p['users']} |")
    lines += ["", "Their settings per model (`parameters` of main_function_kwai.py after conversion; reg and alpha "
              "are on their per-batch-sum scale, see `official_args`):", ""]
    seen = set()
    for r in results:
        if r["shared"] in seen:
            continue  # one line per training
        seen.add(r["shared"] or r["row"])
        lines.append(f"- {r['row']}{r['shared']}: `{json.dumps(r['official_args'], default=str)}`")
    lines += ["", "Notes: DCRMoE and MoE share one training per side (scored with do- and with conditional "
              "inference). Their FairGo epoch is two passes (discriminator, then filter + recommender); both sides' "
              "FairGo start from their own best NFM-WA of this run with the first-order logit as an MLP input (their "
              "NFM's layout, the row 'NFMWA, first order as input'; the plugin's FairGo default). Plugin overrides: "
              f"`{json.dumps(ctx.plugin_overrides_shown, default=str)}`.", ""]
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", required=True, help="checkout of github.com/zyang1580/DCR (unedited)")
    parser.add_argument("--dataset", default="dcr_sim")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default=",".join(ALL_MODELS))
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "vs_official.md"))
    parser.add_argument("--workdir", default=None,
                        help="converted files, logs, checkpoints (default: a new temp folder)")
    parser.add_argument("--official_args", default="{}",
                        help="JSON overriding their parameters, e.g. '{\"reg_emb\": 0}'")
    parser.add_argument("--official_workers", type=int, default=None,
                        help="their DataLoader num_workers (default: theirs, 4)")
    parser.add_argument("--official_verbose", type=int, default=0,
                        help="their fit's verbose (1: per-batch log-loss and AUC, as run_a_model calls it)")
    parser.add_argument("--seed", type=int, default=None,
                        help="one seed for both sides: the plugin's `seed` and their torch.manual_seed "
                             "(default: each side's own, 2020 and 1024)")
    args, rest = parser.parse_known_args(argv)
    overrides = {}
    for item in rest:
        if not item.startswith("--") or "=" not in item:
            parser.error(f"unrecognized argument {item}")
        key, value = item[2:].split("=", 1)
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return args, overrides


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, user_overrides = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*(pin_memory|worker processes in total).*")  # their DataLoader
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise SystemExit(f"vs_official: unknown models {unknown}; choose from {ALL_MODELS}")
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="vs_official_"))
    os.makedirs(workdir, exist_ok=True)
    args.out, args.official = os.path.abspath(args.out), os.path.abspath(args.official)
    os.chdir(workdir)  # RecBole writes log/ and log_tensorboard/ into the current folder
    print(f"[vs_official] work folder {workdir}", flush=True)

    ctx = types.SimpleNamespace(stdout=sys.stdout, argv=["benchmarks/vs_official.py", *argv], epochs=args.epochs,
                                workdir=workdir, dataset=args.dataset, rows_wanted=set(models), split_signature=None,
                                official_overrides=json.loads(args.official_args),
                                official_verbose=args.official_verbose,
                                plugin_pretrained=Path(workdir) / "plugin_NFMWA_best.pth",
                                official_pretrained=Path(workdir) / "official_myNFM_best.pth")
    Clock.workers = args.official_workers
    simulated_keys = any(k.startswith("sim_") for k in user_overrides)
    shown = dict(dataset=args.dataset, train_batch_size=2048, learner="adagrad", learning_rate=0.01, embedding_size=16,
                 mlp_hidden_size=[256, 128], expert_hidden_size=[256, 128], dropout_prob=0.0, epochs=args.epochs,
                 # changed sim_* keys regenerate the dataset in place: keep such variants out of dataset/
                 data_path=str(Path(workdir) / "dataset") if simulated_keys else str(REPO_ROOT / "dataset"))
    if args.seed is not None:
        shown["seed"] = args.seed
    shown.update(user_overrides)
    ctx.plugin_overrides_shown = shown
    ctx.plugin_overrides = {**shown, "show_progress": False, "state": "WARNING",
                            "checkpoint_dir": str(Path(workdir) / "saved")}
    ctx.modules, ctx.tune = install_shims(Path(args.official), workdir, args.seed)

    order = [name for name, job in JOBS.items()
             if set(job["rows"]) & ctx.rows_wanted or (name == "NFMWA_fo" and "FairGo" in ctx.rows_wanted)]
    results = []
    for name in order:
        results += run_job(name, JOBS[name], ctx)
    results.sort(key=lambda r: r["row"] not in ctx.rows_wanted)  # FairGo's pretraining row last
    text = report(results, ctx, STARTED)
    from recbole_dcr.files import write_text

    write_text(args.out, text)
    print(text)
    print(f"[vs_official] written to {args.out}", flush=True)


if __name__ == "__main__":
    main()
