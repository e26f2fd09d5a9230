"""Speed and scale of recbole_dcr against stock RecBole, measured side by side in one run.

    python benchmarks/performance.py [--parts train,eval,load,inference,kwai] [--threads N]
        [--epochs 3] [--kwai_dir DIR] [--kwai_rows N --kwai_users N --kwai_items N] [--out results/performance.md]

Parts (each prints a Markdown table; ratios matter more than absolute figures on a shared machine):

* ``train``     training samples/s on ``dcr_sim`` at each of ``--batch_sizes`` (2048), embedding 16, MLP
                (256, 128): stock RecBole NFM (RecBole's loader, model and trainer) vs the plugin's
                ``--pipelines`` (NFMWA, DCRMoE, DCRMoE with ``fast_data=False``; on a GPU also DCRMoE with
                the paper's experts, without CUDA graphs, and with bf16);
* ``eval``      per-user ranking evaluation rows/s end to end (batches + scoring + ranking + RecBole's
                metrics), fast vs RecBole's batching, with a free scorer and with real models;
* ``parity``    DCRMoE trained on the GPU in fp32 and bf16 and on the CPU from the same seeds: the figures;
* ``inference`` DCRNFM vs NWGMDCR vs DCRMoE on the same test rows (instrumented passes and seconds);
* ``load``      loading Kwai-size atomic files (``--kwai_dir``, made by the ``kwai`` part or by
                ``benchmarks/convert_scale.py --keep``): RecBole's parser vs the plugin's, same tensors?
* ``kwai``      the end-to-end run at Kwai size: synthetic raw log (19.4M rows, 18k users, 422k items)
                -> converter -> load -> one DCRMoE training epoch -> test evaluation, each step timed,
                peak RSS from the kernel's accounting of the child processes.
* ``kwai_profile``  where a Kwai-size training step spends its time, per ``--kwai_modes`` mode: torch's
                profiler over ``--profile_steps`` steps on the ``kwai`` part's atomic files (``--kwai_dir``).
"""

import argparse
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from recbole.utils import init_logger, init_seed

import convert_scale  # benchmarks/ is this script's folder, hence on the import path
from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.files import write_text
from recbole_dcr.model.experts import EXPERT_SHARING
from recbole_dcr.quick_start import build_run, configure
from recbole_dcr.registry import get_model, get_trainer
from recbole_dcr.research.reports import machine_line

REPO_ROOT = Path(__file__).resolve().parent.parent

PAPER_SIZES = dict(embedding_size=16, mlp_hidden_size=[256, 128], expert_hidden_size=[256, 128], dropout_prob=0.0)
QUIET = {"show_progress": False, "state": "WARNING"}


def plugin_setup(model, overrides):
    """(config, trainer, train, valid, test) of a plugin run, model untrained."""
    config = configure(model, config_dict={**QUIET, **overrides}, command_line=[])
    return (config, *build_run(config))


def stock_recbole_setup(overrides):
    """RecBole's own NFM pipeline on the same atomic files (recbole.config / recbole.data / recbole.trainer)."""
    from recbole.config import Config as RecBoleConfig
    from recbole.data import create_dataset as recbole_create_dataset
    from recbole.data import data_preparation as recbole_data_preparation
    from recbole.model.context_aware_recommender import NFM
    from recbole.trainer import Trainer

    config = RecBoleConfig(model="NFM", dataset=overrides["dataset"], config_dict={
        **QUIET, **PAPER_SIZES,
        "data_path": overrides["data_path"], "LABEL_FIELD": "finish", "load_col": None, "unload_col": {"inter": ["like"]},
        "train_neg_sample_args": None, "eval_args": {"split": {"RS": [0.6, 0.2, 0.2]}, "group_by": "user",
                                                     "order": "RO", "mode": "labeled"},
        "train_batch_size": overrides["train_batch_size"], "learner": "adagrad", "learning_rate": 0.01,
        "metrics": ["AUC"], "valid_metric": "AUC",
    })
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = recbole_create_dataset(config)
    train, _, _ = recbole_data_preparation(config, dataset)
    model = NFM(config, train._dataset).to(config["device"])
    return config, Trainer(config, model), train


def interleaved_rates(pipelines, rounds):
    """Median samples/s of each (label, trainer, train) over ``rounds`` epochs, taken in turns.

    Pipelines take turns epoch by epoch, so a burst of load from other jobs on a shared machine hits
    all of them rather than whichever happened to run at that moment.
    """
    seconds = {label: [] for label, _, _ in pipelines}
    for label, trainer, train in pipelines:
        trainer._train_epoch(train, 0)  # warm-up: allocator, first touch of the tables
    for epoch in range(1, rounds + 1):
        for label, trainer, train in pipelines:
            start = time.perf_counter()
            trainer._train_epoch(train, epoch)
            seconds[label].append(time.perf_counter() - start)
    return {label: len(train._dataset) / statistics.median(seconds[label]) for label, _, train in pipelines}


# Training pipelines of the ``train`` part: --pipelines picks among them (stock RecBole NFM is always first).
TRAIN_PIPELINES = {
    "NFMWA": ("recbole_dcr NFMWA", "NFMWA", {}),
    "DCRMoE_recbole_loader": ("recbole_dcr DCRMoE, fast_data=False (RecBole's loader)", "DCRMoE", {"fast_data": False}),
    "DCRMoE": ("recbole_dcr DCRMoE", "DCRMoE", {}),
    "DCRMoE_eager": ("recbole_dcr DCRMoE, cuda_graphs=False (eager loop)", "DCRMoE", {"cuda_graphs": False}),
    "DCRMoE_bf16": ("recbole_dcr DCRMoE, train_precision=bf16", "DCRMoE", {"train_precision": "bf16"}),
    # separate: the paper's DCR-MoE; embedded already feeds the intervened A to the backbone
    **{f"DCRMoE_{sharing}": (f"recbole_dcr DCRMoE, expert_sharing={sharing}", "DCRMoE",
                             {"expert_sharing": sharing, **({"confounder_as_content": False}
                                                            if sharing in ("separate", "embedded") else {})})
       for sharing in EXPERT_SHARING},
    # where today's default step spends more than NFMWA's: its content dropout, and the item's own A as content
    "DCRMoE_content_dropout_0": ("recbole_dcr DCRMoE, confounder_content_dropout=0", "DCRMoE",
                                 {"confounder_content_dropout": 0.0}),
    "DCRMoE_no_content": ("recbole_dcr DCRMoE, confounder_as_content=False", "DCRMoE", {"confounder_as_content": False}),
}


def plugin_pipeline(model, overrides, train):
    """(trainer, train) of a plugin model on an already prepared training loader (one dataset load per batch size)."""
    config = configure(model, config_dict={**QUIET, **overrides}, command_line=[], quiet=True)
    network = get_model(model)(config, train._dataset).to(config["device"])
    return get_trainer(config["MODEL_TYPE"], model)(config, network), train


def part_train(args):
    lines = []
    for batch_size in map(int, args.batch_sizes.split(",")):
        common = dict(dataset="dcr_sim", data_path=str(REPO_ROOT / "dataset"), train_batch_size=batch_size)
        pipelines = [("stock RecBole NFM (RecBole loader, model, trainer)", *stock_recbole_setup(common)[1:])]
        shared_train = None
        for name in args.pipelines.split(","):
            label, model, extra = TRAIN_PIPELINES[name]
            if "fast_data" in extra or shared_train is None:  # a loader of its own
                _, trainer, train, _, _ = plugin_setup(model, {**common, **PAPER_SIZES, **extra})
                shared_train = shared_train or (train if "fast_data" not in extra else None)
            else:
                trainer, train = plugin_pipeline(model, {**common, **PAPER_SIZES, **extra}, shared_train)
            pipelines.append((label, trainer, train))
        rates = interleaved_rates(pipelines, args.epochs)
        stock = rates[pipelines[0][0]]
        lines += [f"### Training samples/s (`dcr_sim`, {len(pipelines[0][2]._dataset):,} training rows, batch "
                  f"{batch_size}, embedding 16, MLP (256, 128); median of {args.epochs} epochs taken in turns after a "
                  "warm-up epoch)", "", "| pipeline | samples/s | ratio to stock RecBole NFM |", "|---|---|---|"]
        lines += [f"| {label} | {rate:,.0f} | {rate / stock:.2f} |" for label, rate in rates.items()]
        lines.append("")
        print("\n".join(lines[-len(rates) - 5:]), flush=True)
        del pipelines
    return lines


class ItemIdScorer(torch.nn.Module):
    """Scores a row by its item id: a scorer that costs nothing, to time the evaluation pipeline itself."""

    def __init__(self, item_field):
        super().__init__()
        self.item_field = item_field

    def predict(self, interaction):
        return interaction[self.item_field].float()

    def other_parameter(self):
        return None


def evaluation_rate(trainer, eval_data, rounds):
    """Median rows/s of ``trainer.evaluate`` (batches, scoring, ranking, RecBole's metrics) over ``rounds``."""
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        trainer.evaluate(eval_data, load_best_model=False)
        seconds.append(time.perf_counter() - start)
    return eval_data.num_rows / statistics.median(seconds)


def part_eval(args):
    common = dict(dataset="dcr_sim", data_path=str(REPO_ROOT / "dataset"), **PAPER_SIZES)
    lines = ["### Per-user ranking evaluation rows/s (`dcr_sim` test split; batches + scoring + ranking + "
             f"RecBole's metrics; median of {args.epochs} runs; untrained weights, which cost the same)", "",
             "| scorer | batches | rows | rows/s |", "|---|---|---|---|"]
    for fast_data in (True, False):
        batching = "plugin (gathered once-joined tensors)" if fast_data else "RecBole's `dataset[rows]`"
        for model in ("item id (free)", "NFMWA", "DCRMoE"):
            _, trainer, _, _, test = plugin_setup("NFMWA" if model.startswith("item") else model,
                                                  {**common, "fast_data": fast_data})
            if model.startswith("item"):
                trainer.model = ItemIdScorer(test._dataset.iid_field)
            rate = evaluation_rate(trainer, test, args.epochs)
            lines.append(f"| {model} | {batching} | {test.num_rows:,} | {rate:,.0f} |")
            print(lines[-1], flush=True)
    return lines


# ---------------------------------------------------------------- Kwai size: child processes, so that
# each step's peak RSS is its own (the kernel's ru_maxrss of the child)
def run_child(arguments):
    """(JSON the child printed last, wall seconds, peak RSS in GB) of ``performance.py --child ...``."""
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # in the caller's folder (log/ goes there)
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {os.waitstatus_to_exitcode(status)})")
    return json.loads(stdout.strip().splitlines()[-1]), time.perf_counter() - started, usage.ru_maxrss / 1024**2


def kwai_settings(kwai_dir, fast_data=True, **extra):
    return {**QUIET, "data_path": str(kwai_dir), "fast_data": fast_data, "train_batch_size": 2048,
            "checkpoint_dir": str(Path(kwai_dir) / "saved"), **extra}  # nothing is saved; RecBole wants the folder


def tensor_digest(dataset):
    """sha1 over every column of the split tables and every token list: equal digests, equal data."""
    digest = hashlib.sha1()
    for field in sorted(dataset.field2id_token):
        digest.update("\n".join(map(str, dataset.field2id_token[field])).encode())
    for table in (dataset.inter_feat, dataset.item_feat):
        for column in sorted(table.columns):
            digest.update(column.encode() + table[column].numpy().tobytes())
    return digest.hexdigest()


def child_load(kwai_dir, fast_data):
    config = Config(model="DCRMoE", dataset="kwai", config_dict=kwai_settings(kwai_dir, bool(int(fast_data))),
                    command_line=[])
    start = time.perf_counter()
    dataset = create_dataset(config)
    loaded = time.perf_counter()
    dataset._change_feat_format()  # the DataFrame -> tensor step build() starts with, timed with the load
    return {"load_s": time.perf_counter() - start, "parse_and_process_s": loaded - start,
            "rows": len(dataset.inter_feat), "digest": tensor_digest(dataset)}


def child_end_to_end(kwai_dir, sparse="0"):
    steps = {}
    settings = kwai_settings(kwai_dir, eval_batch_size=262144, sparse_embeddings=bool(int(sparse)))
    config = configure("DCRMoE", "kwai", config_dict=settings, command_line=[])
    start = time.perf_counter()
    dataset = create_dataset(config)
    steps["load atomic files"] = time.perf_counter() - start
    start = time.perf_counter()
    train, _, test = data_preparation(config, dataset)
    model = get_model("DCRMoE")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "DCRMoE")(config, model)
    steps["split, batches, model"] = time.perf_counter() - start
    start = time.perf_counter()
    trainer._train_epoch(train, 0)
    steps[f"one DCRMoE training epoch ({len(train._dataset):,} rows)"] = time.perf_counter() - start
    start = time.perf_counter()
    result = trainer.evaluate(test, load_best_model=False)
    steps[f"test evaluation ({test.num_rows:,} rows, {test.num_users:,} users)"] = time.perf_counter() - start
    return {"steps": steps, "test_result": {k: float(v) for k, v in result.items()},
            "train_rows": len(train._dataset), "test_rows": test.num_rows}


def child_profile(kwai_dir, sparse, steps):
    """Self CPU time per op over ``steps`` DCRMoE training steps at Kwai size (after 20 warm-up steps)."""
    from torch.profiler import ProfilerActivity, profile

    settings = kwai_settings(kwai_dir, sparse_embeddings=bool(int(sparse)))
    config = configure("DCRMoE", "kwai", config_dict=settings, command_line=[])
    train, _, _ = data_preparation(config, create_dataset(config))
    trainer = get_trainer(config["MODEL_TYPE"], "DCRMoE")(config, get_model("DCRMoE")(config, train._dataset))
    take = iter([20, int(steps)])
    trainer._progress = lambda data, epoch, show: itertools.islice(data, next(take))  # a part of an epoch
    trainer._train_epoch(train, 0)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer._train_epoch(train, 1)
    wall = time.perf_counter() - start
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    steps_run = min(int(steps), len(train))
    return {"wall_s": wall, "steps": steps_run, "rows_per_s": steps_run * config["train_batch_size"] / wall,
            "ops": [(e.key, e.self_cpu_time_total / total, e.count) for e in events[:12]]}


def part_kwai_profile(args):
    kwai_dir = kwai_atomic_dir(args)
    lines = [f"### Where a Kwai-size DCRMoE training step spends its time ({args.profile_steps} steps of 2048 rows, "
             "torch profiler, self CPU time; the profiler itself slows the steps)", ""]
    for mode in args.kwai_modes.split(","):
        report, _, _ = run_child(["--child", "profile", str(kwai_dir), sparse_flag(mode), str(args.profile_steps)])
        lines += [f"Embedding tables **{mode}**: {report['rows_per_s']:,.0f} rows/s under the profiler "
                  f"({report['steps']} steps in {report['wall_s']:.1f} s).", "",
                  "| op | share of self CPU time | calls |", "|---|---|---|"]
        lines += [f"| `{key}` | {share:.1%} | {count:,} |" for key, share, count in report["ops"]]
        lines.append("")
    return lines


def default_kwai_dir(args):
    return Path(args.kwai_dir) if args.kwai_dir else Path(tempfile.gettempdir()) / "recbole-dcr-kwai-scale"


def part_kwai(args):
    workdir = default_kwai_dir(args)
    raw_file = workdir / "raw" / "train" / "train_interaction.txt"
    reused = args.kwai_reuse and (workdir / "out" / "kwai").is_dir()
    if not reused:
        raw_file.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        convert_scale.generate_kwai(raw_file, args.kwai_rows, args.kwai_users, args.kwai_items, seed=0)
        generated = time.perf_counter() - start
        status, convert_s, convert_gb, _ = convert_scale.run_converter(workdir / "raw", workdir / "out")
        if status != 0:
            raise RuntimeError(f"the Kwai converter failed (exit {status})")
    lines = [f"### Kwai size end to end (synthetic log: {args.kwai_rows:,} rows, "
             f"{args.kwai_users:,} users, {args.kwai_items:,} items; files in `{workdir}`"
             + ("; the atomic files of an earlier run of this part, `--kwai_reuse`" if reused else "") + ")", ""]
    for mode in args.kwai_modes.split(","):
        report, child_s, child_gb = run_child(["--child", "end_to_end", str(workdir / "out"), sparse_flag(mode)])
        lines += [f"Embedding tables: **{mode}** (`sparse_embeddings: {mode == 'sparse'}`).", "",
                  "| step | seconds | peak RSS of the process (GB) |", "|---|---|---|"]
        if not reused:
            lines += [f"| (input) generate the raw log | {generated:.0f} | |",
                      f"| converter `dataset_converters/kwai.py` | {convert_s:.0f} | {convert_gb:.2f} |"]
        lines += [f"| {step} | {seconds:.0f} | |" for step, seconds in report["steps"].items()]
        lines.append(f"| load + train + test, whole child process (incl. start-up) | {child_s:.0f} | {child_gb:.2f} |")
        if not reused:
            total = convert_s + child_s
            lines.append(f"| **total, converter to test metrics** | **{total:.0f}** ({total / 60:.1f} min; target <= 30 "
                         f"min) | **{max(convert_gb, child_gb):.2f}** (target <= 12 GB) |")
        lines += ["", "Test metrics after one epoch (synthetic data; says nothing about the real Kwai log): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in report["test_result"].items()), ""]
    return lines


def kwai_atomic_dir(args):
    """The folder holding the ``kwai`` part's atomic files; stops with the fix when they are missing."""
    kwai_dir = default_kwai_dir(args) / "out"
    if not (kwai_dir / "kwai").is_dir():
        raise SystemExit(f"{kwai_dir}/kwai: no atomic files; run the kwai part first (or pass --kwai_dir)")
    return kwai_dir


def sparse_flag(mode):
    """A ``--kwai_modes`` entry as the child processes' argument."""
    return "1" if mode == "sparse" else "0"


def part_load(args):
    kwai_dir = kwai_atomic_dir(args)
    fast, fast_s, fast_gb = run_child(["--child", "load", str(kwai_dir), "1"])
    slow, slow_s, slow_gb = run_child(["--child", "load", str(kwai_dir), "0"])
    return [f"### Loading Kwai-size atomic files ({fast['rows']:,} rows; `{kwai_dir}/kwai`)", "",
            "| parser | parse + RecBole processing (s) | + tensors (s) | peak RSS (GB) | sha1 of every tensor and token list |",
            "|---|---|---|---|---|",
            f"| RecBole (`engine=\"python\"`) | {slow['parse_and_process_s']:.1f} | {slow['load_s']:.1f} | {slow_gb:.2f} | `{slow['digest'][:12]}` |",
            f"| recbole_dcr (`fast_data`, C parser) | {fast['parse_and_process_s']:.1f} | {fast['load_s']:.1f} | {fast_gb:.2f} | `{fast['digest'][:12]}` |",
            "", f"Speed-up {slow['load_s'] / fast['load_s']:.1f}x; identical data: "
            + ("**yes**" if fast["digest"] == slow["digest"] else "**NO**")]


def part_inference(args):
    from recbole_dcr.research.analysis import inference_cost

    common = dict(dataset="dcr_sim", data_path=str(REPO_ROOT / "dataset"), **QUIET, **PAPER_SIZES)

    def make_config(model):
        return Config(model=model, config_dict=common, command_line=[])

    config = make_config("DCRMoE")
    init_logger(config)
    train, _, test = create_dataset(config).build()
    results = inference_cost(make_config, train, test, ["DCRNFM", "NWGMDCR", "DCRMoE-paper", "DCRMoE"],
                             repeats=args.epochs)
    seconds = {r["model"]: r["seconds_per_1M"] for r in results}
    lines = [f"### Inference on the same {results[0]['candidates']:,} test rows (`dcr_sim`, K = {results[0]['K']}; "
             "passes counted by instrumentation, best of repeats)", "",
             "| model | backbone passes / row | MLP passes / row | expert multiply-adds / row | s per 1M candidates | "
             "time relative to DCRMoE |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['backbone_passes']:g} | {r['mlp_passes']:.3g} | {r['multiply_adds']:,.0f} | "
              f"{r['seconds_per_1M']:.2f} | "
              f"{r['seconds_per_1M'] / seconds['DCRMoE']:.2f} |" for r in results]
    return lines


def part_parity(args):
    """DCRMoE trained on the GPU (fp32 and bf16) and on the CPU from the same seed: the same figures?"""
    from recbole_dcr.quick_start import train

    common = dict(dataset="dcr_sim", data_path=str(REPO_ROOT / "dataset"), **QUIET, epochs=args.parity_epochs,
                  stopping_step=args.parity_epochs)
    runs = [("GPU", "fp32", seed) for seed in args.parity_seeds] + [("GPU", "bf16", seed) for seed in args.parity_seeds]
    runs += [("CPU", "fp32", args.parity_seeds[0])]
    lines = [f"### The same training on the GPU and on the CPU (`dcr_sim`, DCRMoE yaml defaults, {args.parity_epochs} "
             "epochs, best validation epoch; figures of one seed differ only by float rounding order)", "",
             "| device | precision | seed | valid NDCG@10 | test NDCG@10 | test CappedRecall@10 | training s |",
             "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as saved:
        for device, precision, seed in runs:
            config = {**common, "train_precision": precision, "seed": seed, "checkpoint_dir": saved,
                      "gpu_id": "0" if device == "GPU" else ""}
            start = time.perf_counter()
            run = train("DCRMoE", config_dict=config, command_line=[], quiet=True)
            seconds = time.perf_counter() - start
            test = run.result["test_result"]
            lines.append(f"| {device} | {precision} | {seed} | {run.result['best_valid_score']:.4f} | "
                         f"{test['ndcg@10']:.4f} | {test['cappedrecall@10']:.4f} | {seconds:.0f} |")
            print(lines[-1], flush=True)
    return lines


PARTS = {"train": part_train, "parity": part_parity, "eval": part_eval, "inference": part_inference, "load": part_load, "kwai": part_kwai,
         "kwai_profile": part_kwai_profile}
CHILDREN = {"load": child_load, "end_to_end": child_end_to_end, "profile": child_profile}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="train,eval,inference,load,kwai")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--kwai_dir", help="folder for the kwai part's raw log and atomic files (default: a temp folder)")
    parser.add_argument("--kwai_rows", type=int, default=convert_scale.PAPER_ROWS, help="kwai part: raw log rows (the paper's Kwai)")
    parser.add_argument("--kwai_users", type=int, default=convert_scale.PAPER_USERS)
    parser.add_argument("--kwai_items", type=int, default=convert_scale.PAPER_ITEMS)
    parser.add_argument("--kwai_modes", default="dense,sparse", help="kwai part: embedding modes to time, in turn")
    parser.add_argument("--kwai_reuse", action="store_true",
                        help="kwai part: use the atomic files an earlier run left in --kwai_dir (no new log, no converter)")
    parser.add_argument("--profile_steps", type=int, default=200, help="kwai_profile part: training steps profiled")
    parser.add_argument("--batch_sizes", default="2048", help="train part: training batch sizes, comma-separated")
    parser.add_argument("--pipelines", default="NFMWA,DCRMoE_recbole_loader,DCRMoE",
                        help=f"train part: pipelines beside stock RecBole NFM, from {','.join(TRAIN_PIPELINES)}")
    parser.add_argument("--parity_epochs", type=int, default=10, help="parity part: epochs per run")
    parser.add_argument("--parity_seeds", default="2020,2021", help="parity part: seeds of the GPU runs")
    parser.add_argument("--out", default="results/performance.md")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # internal: one step in its own process
    args = parser.parse_args()
    args.parity_seeds = [int(seed) for seed in args.parity_seeds.split(",")]
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return
    lines = ["# recbole_dcr performance", "", f"Command: `python {' '.join(sys.argv)}`", "", machine_line(args.threads), ""]
    for part in args.parts.split(","):
        lines += PARTS[part](args) + [""]
        print("\n".join(lines), flush=True)
        write_text(str(REPO_ROOT / args.out), "\n".join(lines))


if __name__ == "__main__":
    main()
