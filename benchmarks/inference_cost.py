"""Inference cost of the backdoor adjustments (the paper's Table 4), instrumented, for K = 6, 12, 24.

    python benchmarks/inference_cost.py [--ks 6,12,24] [--threads 1] [--repeats 3] [--out results/inference_cost.md]

For each K a small simulated dataset with K confounder values is generated under
``--data_root`` (never the default dataset's folder), and :func:`recbole_dcr.analysis.inference_cost`
(the ``cost`` analysis of ``run_dcr_analysis.py``) scores its training rows with NFMWA, DCRNFM,
NWGMDCR and DCRMoE: backbone and MLP passes per candidate, counted on the real forward passes, and
seconds per 1M candidates (best of ``--repeats``), with the ratio to NFMWA's single pass.
"""

import argparse
import os

import torch
from recbole.utils import init_seed

from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset
from recbole_dcr.files import write_text
from recbole_dcr.research.analysis import COST_MODELS, inference_cost
from recbole_dcr.research.reports import machine_line


def measure(k, args):
    """inference_cost rows for the models of COST_MODELS on a simulated dataset with K = k."""
    settings = {"data_path": os.path.join(args.data_root, f"k{k}"), "sim_confounder_values": k,
                "sim_users": args.users, "sim_rows_per_user": args.rows_per_user, "state": "WARNING"}
    make_config = lambda name: Config(model=name, dataset="dcr_sim", config_dict=settings, command_line=[])  # noqa: E731
    config = make_config(COST_MODELS[0])
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = create_dataset(config).build()
    return inference_cost(make_config, train, train, COST_MODELS, repeats=args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="6,12,24")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rows_per_user", type=int, default=100)
    parser.add_argument("--data_root", default="dataset/inference_cost")
    parser.add_argument("--out", default="results/inference_cost.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "# Inference cost of the backdoor adjustment (paper, Table 4)", "",
        f"Command: `python benchmarks/inference_cost.py --ks {args.ks} --threads {args.threads} "
        f"--repeats {args.repeats} --users {args.users} --rows_per_user {args.rows_per_user}`", "",
        f"{machine_line(args.threads)} Untrained models (cost does not depend on weights); every training row of the "
        f"simulated dataset scored in batches of eval_batch_size; best of {args.repeats} passes.", "",
        "Backbone passes: rows through embedding + bi-interaction per candidate. MLP passes: the expert blocks' "
        "multiply-adds per candidate in passes of one (256, 128) MLP (K for the paper's experts).", "",
        "| K | model | backbone passes | MLP passes | expert multiply-adds / candidate | s / 1M candidates | x NFMWA |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in [int(v) for v in args.ks.split(",")]:
        rows = measure(k, args)
        for row in rows:
            lines.append(f"| {k} | {row['model']} | {row['backbone_passes']:g} | {row['mlp_passes']:.3g} | "
                         f"{row['multiply_adds']:,.0f} | "
                         f"{row['seconds_per_1M']:.2f} | {row['seconds_per_1M'] / rows[0]['seconds_per_1M']:.1f} |")
        print("\n".join(lines[-len(rows):]), flush=True)
        write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
