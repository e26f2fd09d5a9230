"""The paper's analyses on any prepared dataset: Markdown tables and PNG plots under one folder.

    python run_dcr_analysis.py --dataset=dcr_sim --analysis=cost,groups --output_dir=results/analysis_dcr_sim
    python run_dcr_analysis.py --dataset=kwai --analysis=groups --models=DCRMoE,NFMWA,NFMWOA,IPW,CR --epochs=50

Analyses:
  cost    Table 4: for NFMWA, DCRNFM, NWGMDCR and DCRMoE on the test rows, how many backbone passes
          (embedding + bi-interaction) and MLP passes run per candidate, counted on the real forward
          passes, and the measured seconds per 1M candidates. K comes from the data.
  groups  Fig. 7: each model is trained (RecBole's fit, early stopping on validation), then its mean
          prediction per confounder value over the test rows, softmax-normalised over the values,
          next to GT (the mean evaluation label); one distance per model to GT; PNG + table.
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
    distance_to_truth,
    group_profile,
    inference_cost,
    plot_group_averages,
    prediction_groups,
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


def run_groups(args, config_files, command):
    profiles, distances, group_names, truth = {}, {}, None, None
    for name in args.models.split(","):
        config = Config(model=name, dataset=args.dataset, config_file_list=config_files,
                        config_dict={"show_progress": False})
        init_seed(config["seed"], config["reproducibility"])
        init_logger(config)
        result, trainer, test_data = train_and_test(config, verbose=False)
        test = test_data._dataset
        scores, groups, labels = prediction_groups(trainer.model, test, config["eval_batch_size"], config["device"])
        k = test.num_confounder_values
        if truth is None:
            truth = group_profile(labels, groups, k)
            group_names = [str(v) for v in test.field2id_token[test.confounder_field][1:]]
            profiles["GT"] = truth
        profiles[name] = group_profile(scores, groups, k)
        distances[name] = (distance_to_truth(profiles[name], truth), result["test_result"])
        print(f"{name}: distance to GT {distances[name][0]:.4f}", flush=True)
    png = os.path.join(args.output_dir, "group_averages.png")
    plot_group_averages(png, group_names, profiles, f"Average prediction per confounder value ({args.dataset or 'dcr_sim'})")
    valid_metric = next(iter(distances.values()))[1]
    metric = "ndcg@10" if "ndcg@10" in valid_metric else next(iter(valid_metric))
    lines = [
        f"# Group-average predictions (paper, Fig. 7) on `{args.dataset or 'dcr_sim'}`", "", f"Command: `{command}`", "",
        "Mean prediction over the test rows of each confounder value, softmax-normalised over the values; GT is the "
        "mean evaluation label. Distance: total variation between a model's curve and GT's (0 = same shape).", "",
        f"![group averages](group_averages.png)", "",
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


ANALYSES = {"cost": run_cost, "groups": run_groups}


def main():
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", "-d", default=None, help="default: dcr_sim")
    parser.add_argument("--config_files", default=None, help="config files, separated by spaces")
    parser.add_argument("--analysis", default="cost,groups", help=f"comma-separated: {', '.join(ANALYSES)}")
    parser.add_argument("--models", default=GROUP_MODELS, help="models compared by the groups analysis")
    parser.add_argument("--output_dir", default="analysis")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of the cost analysis (best kept)")
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
