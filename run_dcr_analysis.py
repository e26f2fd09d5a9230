"""The paper's analyses on any prepared dataset: Markdown tables and PNG plots under one folder.

    python run_dcr_analysis.py --dataset=dcr_sim --analysis=cost,groups,users --output_dir=results/analysis_dcr_sim
    python run_dcr_analysis.py --dataset=kwai --analysis=groups --models=DCRMoE,NFMWA,NFMWOA,IPW,CR --epochs=50

Analyses:
  cost    Table 4: for NFMWA, DCRNFM, NWGMDCR and DCRMoE on the test rows, how many backbone passes
          (embedding + bi-interaction) and MLP passes run per candidate, counted on the real forward
          passes, and the measured seconds per 1M candidates. K comes from the data.
  groups  Fig. 7: each model is trained (RecBole's fit, early stopping on validation), then its mean
          prediction per confounder value over the test rows, softmax-normalised over the values,
          next to GT (the mean evaluation label); one distance per model to GT; PNG + table.
  users   Fig. 4: active users (top --active_train_share by training rows ∩ top --active_positive_share
          by positive test labels; Kwai's 0.4 and 0.5 by default) and the other evaluated users; each
          model's metrics on both groups and the RI of DCR-MoE; PNG bar chart + table.
  swap    Table 5: every model again with --swap_field (a non-confounding token feature) as A; RI of
          DCR-MoE in both cases.
Other --key=value flags reach RecBole's Config (e.g. --epochs=20, --learning_rate=0.01).
"""

import argparse
import os
import platform
import sys
import warnings

import numpy as np
import torch
from recbole.utils import init_logger, init_seed

from recbole_dcr.analysis import (
    COST_MODELS,
    active_users,
    distance_to_truth,
    evaluate_users,
    group_profile,
    inference_cost,
    plot_group_averages,
    plot_user_groups,
    prediction_groups,
    relative_improvement,
    write_markdown,
)
from recbole_dcr.config import Config
from recbole_dcr.quick_start import train_and_test
from recbole_dcr.utils import create_dataset

GROUP_MODELS = "DCRMoE,NFMWA,NFMWOA,IPW,CR"


def run_cost(args, config_files, command):
    make_config = lambda name: Config(model=name, dataset=args.dataset, config_file_list=config_files)  # noqa: E731
    config = make_config(COST_MODELS[0])
    init_seed(config["seed"], config["reproducibility"])
    train, _, test = create_dataset(config).build()
    rows = inference_cost(make_config, train, test, COST_MODELS, repeats=args.repeats)
    baseline = rows[0]["seconds_per_1M"]
    lines = [
        f"# Inference cost (paper, Table 4) on `{config['dataset']}`", "", f"Command: `{command}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), torch "
        f"{torch.__version__}. K = {rows[0]['K']}; candidates: the {rows[0]['candidates']} test rows, scored in "
        f"batches of eval_batch_size; untrained models; best of {args.repeats} passes.", "",
        "| model | backbone passes / candidate | MLP passes / candidate | s / 1M candidates | x NFMWA |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['model']} | {row['backbone_passes']:g} | {row['mlp_passes']:g} | "
                     f"{row['seconds_per_1M']:.2f} | {row['seconds_per_1M'] / baseline:.1f} |")
    path = os.path.join(args.output_dir, "cost.md")
    write_markdown(path, lines)
    return [path]


_TRAINED = {}


def trained(name, args, config_files, confounder=None):
    """(config, result, trainer, test dataset) of ``name``, trained once for all analyses of a run.

    ``confounder``: another CONFOUNDER_FIELD than the configured one (the feature swap).
    """
    key = (name, confounder)
    if key not in _TRAINED:
        config_dict = {"show_progress": False, **({"CONFOUNDER_FIELD": confounder} if confounder else {})}
        config = Config(model=name, dataset=args.dataset, config_file_list=config_files, config_dict=config_dict)
        init_seed(config["seed"], config["reproducibility"])
        init_logger(config)
        result, trainer, test_data = train_and_test(config, verbose=False)
        print(f"{name} (A = {config['CONFOUNDER_FIELD']}): test {dict(result['test_result'])}", flush=True)
        _TRAINED[key] = (config, result, trainer, test_data._dataset)
    return _TRAINED[key]


def run_groups(args, config_files, command):
    profiles, distances, group_names, truth = {}, {}, None, None
    for name in args.models.split(","):
        config, result, trainer, test = trained(name, args, config_files)
        scores, groups, labels = prediction_groups(trainer.model, test, config["eval_batch_size"], config["device"])
        k = test.num_confounder_values
        if truth is None:
            tokens = list(test.field2id_token[test.confounder_field][1:])
            order = sorted(range(k), key=lambda g: _natural_key(tokens[g]))  # RecBole numbers tokens as met
            group_names = [str(tokens[g]) for g in order]
            truth = group_profile(labels, groups, k)[order]
            profiles["GT"] = truth
        profiles[name] = group_profile(scores, groups, k)[order]
        distances[name] = (distance_to_truth(profiles[name], truth), result["test_result"])
    dataset = args.dataset or "dcr_sim"
    png = os.path.join(args.output_dir, "group_averages.png")
    plot_group_averages(png, group_names, profiles, f"Average prediction per confounder value ({dataset})")
    metric = _headline_metric(next(iter(distances.values()))[1])
    lines = [
        f"# Group-average predictions (paper, Fig. 7) on `{dataset}`", "", f"Command: `{command}`", "",
        "Mean prediction over the test rows of each confounder value, softmax-normalised over the values; GT is the "
        "mean evaluation label. Distance: total variation between a model's curve and GT's (0 = same shape).", "",
        "![group averages](group_averages.png)", "",
        "| curve | " + " | ".join(group_names) + f" | distance to GT | test {metric} |",
        "|---|" + "---|" * (len(group_names) + 2),
    ]
    for name, profile in profiles.items():
        cells = " | ".join(f"{v:.4f}" for v in np.nan_to_num(profile, nan=0.0))
        tail = "| - | - |" if name == "GT" else f"| {distances[name][0]:.4f} | {distances[name][1][metric]:.4f} |"
        lines.append(f"| {name} | {cells} {tail}")
    path = os.path.join(args.output_dir, "group_averages.md")
    write_markdown(path, lines)
    return [path, png]


def run_users(args, config_files, command):
    names = args.models.split(",")
    if names[0] != "DCRMoE":
        names = ["DCRMoE"] + [name for name in names if name != "DCRMoE"]
    _, _, trainer, test = trained(names[0], args, config_files)
    train_dataset = trainer.train_dataset  # every model of the run was trained on this same split

    active = active_users(train_dataset, test, args.active_train_share, args.active_positive_share)
    evaluated = active_users(train_dataset, test, 1.0, 1.0)  # every user with a positive test label
    groups = {"active": active, "inactive": evaluated & ~active}
    results = {group: {} for group in groups}
    for name in names:
        model_config, _, trainer, _ = trained(name, args, config_files)
        for group, mask in groups.items():
            results[group][name] = evaluate_users(trainer, model_config, test, mask)
    metric = _headline_metric(results["active"][names[0]])
    improvements = {group: {name: relative_improvement(by_model[names[0]][metric], by_model[name][metric])
                            for name in names[1:]} for group, by_model in results.items()}
    png = os.path.join(args.output_dir, "user_groups.png")
    plot_user_groups(png, improvements, metric)
    metric_names = list(results["active"][names[0]])
    lines = [
        f"# Active and inactive users (paper, sec. 5.2.2, Fig. 4) on `{args.dataset or 'dcr_sim'}`", "",
        f"Command: `{command}`", "",
        f"Active: top {args.active_train_share:.0%} of the evaluated users by training rows ∩ top "
        f"{args.active_positive_share:.0%} by positive test labels ({int(active.sum())} users); inactive: the other "
        f"{int(groups['inactive'].sum())} evaluated users. RI: relative improvement of DCR-MoE on {metric}.", "",
        "![user groups](user_groups.png)", "",
        "| group | model | " + " | ".join(metric_names) + f" | RI ({metric}) |",
        "|---|---|" + "---|" * (len(metric_names) + 1),
    ]
    for group, by_model in results.items():
        for name in names:
            ri = "-" if name == names[0] else f"{100 * improvements[group][name]:.1f}%"
            lines.append(f"| {group} | {name} | " + " | ".join(f"{by_model[name][m]:.4f}" for m in metric_names)
                         + f" | {ri} |")
    path = os.path.join(args.output_dir, "user_groups.md")
    write_markdown(path, lines)
    return [path, png]


def run_swap(args, config_files, command):
    if not args.swap_field:
        raise SystemExit("--analysis=swap needs --swap_field=<a token feature that is not a confounder>, e.g. category")
    names = ["DCRMoE"] + [name for name in args.models.split(",") if name != "DCRMoE"]
    cases = {}
    for confounder in (None, args.swap_field):
        runs = {name: trained(name, args, config_files, confounder) for name in names}
        field = runs[names[0]][0]["CONFOUNDER_FIELD"]
        cases[field] = {name: run[1]["test_result"] for name, run in runs.items()}
    metric_names = list(next(iter(next(iter(cases.values())).values())))
    lines = [
        f"# Feature swap (paper, Table 5) on `{args.dataset or 'dcr_sim'}`", "", f"Command: `{command}`", "",
        f"Every model trained twice: with the configured confounder and with `{args.swap_field}` in its place. "
        "RI: relative improvement of DCR-MoE over the row's model, averaged over the metrics. DCR should gain "
        "with the confounder and gain little or nothing with a feature that does not confound.", "",
        "| A | model | " + " | ".join(metric_names) + " | RI |", "|---|---|" + "---|" * (len(metric_names) + 1),
    ]
    for field, by_model in cases.items():
        for name in names:
            ri = "-" if name == names[0] else "{:.1f}%".format(100 * np.mean(
                [relative_improvement(by_model[names[0]][m], by_model[name][m]) for m in metric_names]))
            lines.append(f"| {field} | {name} | " + " | ".join(f"{by_model[name][m]:.4f}" for m in metric_names)
                         + f" | {ri} |")
    path = os.path.join(args.output_dir, "feature_swap.md")
    write_markdown(path, lines)
    return [path]


def _natural_key(token):
    return (0, float(token), "") if str(token).lstrip("-").replace(".", "", 1).isdigit() else (1, 0.0, str(token))


def _headline_metric(result):
    return "ndcg@10" if "ndcg@10" in result else next(iter(result))


ANALYSES = {"cost": run_cost, "groups": run_groups, "users": run_users, "swap": run_swap}


def main():
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", "-d", default=None, help="default: dcr_sim")
    parser.add_argument("--config_files", default=None, help="config files, separated by spaces")
    parser.add_argument("--analysis", default="cost,groups", help=f"comma-separated: {', '.join(ANALYSES)}")
    parser.add_argument("--models", default=GROUP_MODELS, help="models compared by the groups analysis")
    parser.add_argument("--output_dir", default="analysis")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of the cost analysis (best kept)")
    parser.add_argument("--active_train_share", type=float, default=0.4, help="users: top share by training rows")
    parser.add_argument("--active_positive_share", type=float, default=0.5, help="users: top share by positive labels")
    parser.add_argument("--swap_field", default=None, help="swap: the non-confounding feature put in A's place")
    args, _ = parser.parse_known_args()
    unknown = [name for name in args.analysis.split(",") if name not in ANALYSES]
    if unknown:
        parser.error(f"unknown analysis {unknown}; choose from {', '.join(ANALYSES)}")
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    command = "python " + " ".join(sys.argv)
    written = []
    for name in args.analysis.split(","):
        written += ANALYSES[name](args, config_files, command)
    print("written:\n" + "\n".join(f"  {path}" for path in written))


if __name__ == "__main__":
    main()
