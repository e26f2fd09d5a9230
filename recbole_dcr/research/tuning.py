"""Hyper-parameter search for recbole_dcr models: RecBole's HyperTuning (hyperopt) or Ray Tune.

Both read RecBole's params files (``name choice [..]``, ``name uniform low,high``,
``name quniform low,high,q``, ``name loguniform low,high``; see ``hyper/``) and write a report that
lists every trial and the best one by the validation metric.

The Ray path fixes what breaks in RecBole's ``run_hyper.py --tool=Ray``: trials get the resources
given on the command line (CPU-only allowed) and their GPU ids from Ray rather than ``gpu_id``;
data and config paths are absolute (Ray runs each trial in its own working directory); each trial
saves its checkpoint in its own folder; results are reported every epoch, so ASHA stops poor trials
early (the paper, sec. 5.1.3, tunes with Ray's ASHA scheduler and a patience of 10 epochs).
"""

import ast
import math
import os
import re

from recbole.trainer import HyperTuning
from recbole.utils import dict2str

from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset
from recbole_dcr.quick_start import train
from recbole_dcr.research.reports import write_markdown as _write


# ---------------------------------------------------------------------------- hyperopt (RecBole)
def _header(command):
    return [f"Command: `{command}`", ""] if command else []


def hyperopt_report(tuner, output_file, command=None):
    """Every trial's valid and test results, then the best trial; written atomically."""
    lines = _header(command)
    for params, result in tuner.params2result.items():
        lines += [params, "Valid result:", dict2str(result["best_valid_result"]), "Test result:",
                  dict2str(result["test_result"]), ""]
    best = tuner.params2str(tuner.best_params)
    lines += ["Best (by validation):", best, "Valid result:", dict2str(tuner.params2result[best]["best_valid_result"]),
              "Test result:", dict2str(tuner.params2result[best]["test_result"])]
    _write(output_file, lines)


def hyperopt_search(model, dataset, config_files, params_file, output_file, algo="exhaustive", max_evals=100,
                    command=None, overrides=()):
    """RecBole's ``HyperTuning`` over the plugin's training run; returns the tuner.

    ``overrides``: ``--key=value`` arguments applied to every trial, below the trial's own parameters.
    """
    fixed = {"model": model, "show_progress": False, **Config.parse_command_line(overrides)}
    if dataset:
        fixed["dataset"] = dataset

    def objective(params, config_file_list):
        run = train(config_dict={**fixed, **params}, config_file_list=config_file_list, command_line=[], quiet=True)
        return {"model": model, **run.result}

    tuner = HyperTuning(objective, algo=algo, params_file=params_file, fixed_config_file_list=config_files,
                        max_evals=max_evals, early_stop=10)
    tuner.run()
    hyperopt_report(tuner, output_file, command)
    return tuner


# ---------------------------------------------------------------------------- Ray Tune
def read_params_file(params_file):
    """``[(name, kind, values)]`` from a RecBole params file, with a clear error for a bad line."""
    params = []
    with open(params_file, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.strip().split(" ", 2)
            if len(parts) != 3 or parts[1] not in ("choice", "uniform", "quniform", "loguniform"):
                raise ValueError(
                    f"{params_file}, line {number}: expected 'name choice [v1,v2,...]' or 'name "
                    f"uniform|quniform|loguniform low,high[,q]', got {line.strip()!r}"
                )
            name, kind, text = parts
            if kind == "choice":
                values = ast.literal_eval(text.strip())
            else:
                values = [float(v) for v in text.strip().split(",")]
            params.append((name, kind, values))
    return params


def ray_search_space(params_file):
    """Ray Tune's space for a params file: a ``choice`` is a grid axis (the paper's grid search)."""
    from ray import tune

    space = {}
    for name, kind, values in read_params_file(params_file):
        if kind == "choice":
            space[name] = tune.grid_search(list(values))
        elif kind == "uniform":
            space[name] = tune.uniform(values[0], values[1])
        elif kind == "quniform":
            space[name] = tune.quniform(values[0], values[1], values[2])
        else:  # hyperopt's convention, which RecBole's files follow: bounds are logarithms
            space[name] = tune.loguniform(math.exp(values[0]), math.exp(values[1]))
    return space


def _ray_trial(params, fixed, config_files, cpus, gpus):
    """One Ray trial: train with ``params``, reporting the validation score after every epoch."""
    import ray
    import torch
    from ray.air import session

    torch.set_num_threads(max(1, int(cpus)))
    config_dict = {
        **fixed,
        **params,
        "checkpoint_dir": os.path.join(session.get_trial_dir(), "saved"),
        # RecBole would set CUDA_VISIBLE_DEVICES from gpu_id and so put every trial on GPU 0.
        "gpu_id": ",".join(str(i) for i in ray.get_gpu_ids()) if gpus else "",
    }

    def report_epoch(epoch, valid_score):
        session.report({"valid_score": valid_score, "epoch": epoch})

    # A Ray worker's own command line is Ray's: the driver's overrides are in ``fixed``.
    result = train(config_dict=config_dict, config_file_list=config_files, command_line=[], quiet=True,
                   callback_fn=report_epoch).result
    session.report({
        "valid_score": result["best_valid_score"],
        **{f"valid/{k}": v for k, v in result["best_valid_result"].items()},
        **{f"test/{k}": v for k, v in result["test_result"].items()},
    })


def ray_search(model, dataset, config_files, params_file, output_file, cpus_per_trial=1, gpus_per_trial=0,
               num_samples=1, address=None, num_cpus=None, storage_path="ray_results", grace_period=None,
               reduction_factor=2, command=None, overrides=()):
    """Search with Ray Tune and ASHA; returns Ray's ``ResultGrid`` after writing the report.

    ``address``: a running Ray cluster (``auto`` or ``host:port``); without it a local Ray starts
    with ``num_cpus`` CPUs. ASHA compares trials on the validation metric after ``grace_period``
    epochs (default: ``stopping_step``, the early-stopping patience), then at multiples of
    ``reduction_factor``.
    """
    import ray
    from ray import air, tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    config_files = [os.path.abspath(path) for path in config_files or []]
    fixed = {"model": model, "show_progress": False, "state": "WARNING"}
    if dataset:
        fixed["dataset"] = dataset
    config = Config(config_dict=fixed, config_file_list=config_files, command_line=list(overrides))
    # Trials run in Ray workers, whose command line is Ray's: they get this one's --key=value flags here.
    fixed = {**config.cmd_config_dict, **fixed}
    # RecBole's final data_path is <data_path>/<dataset>; trials need the parent, absolute.
    fixed.update(dataset=config["dataset"], data_path=os.path.abspath(os.path.dirname(os.path.normpath(config["data_path"]))))
    create_dataset(config)  # once, before trials start (a simulated dataset is generated here)

    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False)
    trainable = tune.with_resources(
        tune.with_parameters(_ray_trial, fixed=fixed, config_files=config_files, cpus=cpus_per_trial,
                             gpus=gpus_per_trial),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=config["epochs"] + 1,  # one report per epoch, then the final one with the test result
        grace_period=min(grace_period or config["stopping_step"], config["epochs"] + 1),
        reduction_factor=reduction_factor,
    )
    tuner = tune.Tuner(
        trainable,
        param_space=ray_search_space(params_file),
        tune_config=tune.TuneConfig(
            metric="valid_score",
            mode="max" if config["valid_metric_bigger"] else "min",
            scheduler=scheduler,
            num_samples=num_samples,
            search_alg=BasicVariantGenerator(random_state=config["seed"]),
        ),
        run_config=air.RunConfig(name=f"{model}-{config['dataset']}", storage_path=os.path.abspath(storage_path),
                                 verbose=1),
    )
    results = tuner.fit()
    ray_report(results, params_file, config, output_file, command)
    return results


def ray_report(results, params_file, config, output_file, command=None):
    """Every trial (finished, or stopped early by ASHA), then the best finished one by validation."""
    names = [name for name, _, _ in read_params_file(params_file)]
    valid_metric = config["valid_metric"].lower()
    finished, lines = [], _header(command) + [f"Ray Tune + ASHA on {config['model']} / {config['dataset']}; "
                           f"valid metric {valid_metric}", ""]
    for result in results:
        metrics, params = result.metrics or {}, {name: result.config.get(name) for name in names}
        label = ", ".join(f"{name}:{value}" for name, value in params.items())
        if result.error is not None:
            lines += [label, "  failed: " + re.sub(r"\x1b\[[0-9;]*m", "", str(result.error)), ""]
        elif any(key.startswith("test/") for key in metrics):
            finished.append((metrics["valid_score"], label, metrics))
            lines += [label, f"  finished after {metrics['training_iteration'] - 1} epochs",
                      "  Valid result: " + _metrics_text(metrics, "valid/"),
                      "  Test result: " + _metrics_text(metrics, "test/"), ""]
        else:
            lines += [label, f"  stopped by ASHA after {metrics.get('training_iteration', 0)} epochs; "
                             f"last {valid_metric} {metrics.get('valid_score', float('nan')):.4f}", ""]
    if finished:
        finished.sort(key=lambda item: item[0], reverse=config["valid_metric_bigger"])
        _, label, metrics = finished[0]
        lines += ["Best (by validation):", label, "  Valid result: " + _metrics_text(metrics, "valid/"),
                  "  Test result: " + _metrics_text(metrics, "test/")]
    else:
        lines += ["No trial finished."]
    _write(output_file, lines)


def _metrics_text(metrics, prefix):
    return "  ".join(f"{key[len(prefix):]} : {value}" for key, value in metrics.items() if key.startswith(prefix))


# ---------------------------------------------------------------------------- command line
def main(args, overrides):
    """``recbole-dcr tune``: every trial of --params_file, then the best one by validation, in --output_file."""
    from recbole_dcr.research.reports import command_line

    if args.tool == "hyperopt":
        tuner = hyperopt_search(args.model, args.dataset, args.config_files, args.params_file, args.output_file,
                                args.algo, args.max_evals, command_line(), overrides)
        print("best params:", tuner.best_params)
        print("best result:", tuner.params2result[tuner.params2str(tuner.best_params)])
    else:
        ray_search(args.model, args.dataset, args.config_files, args.params_file, args.output_file,
                   args.cpus_per_trial, args.gpus_per_trial, args.num_samples, args.address, args.num_cpus,
                   args.storage_path, args.grace_period, args.reduction_factor, command_line(), overrides)
    with open(args.output_file, encoding="utf-8") as f:
        print(f.read())
    return 0
