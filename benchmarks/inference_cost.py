"""Inference cost of the backdoor adjustments (the paper's Table 4), instrumented, for K = 6, 12, 24.

    python benchmarks/inference_cost.py [--ks 6,12,24] [--threads 1] [--repeats 3] [--out results/inference_cost.md]

For each K a small simulated dataset with K confounder values is generated under
``--data_root`` (never the default dataset's folder). Each model scores every row of it; the models
are untrained, as cost does not depend on the weights. Counted per candidate row, by wrapping the
model's methods: backbone passes (embedding + bi-interaction, i.e. ``matching``) and MLP passes
(rows x experts through the (256, 128) MLP); timed: seconds per 1M candidates (best of
``--repeats``) and the ratio to NFM-WA's single pass.
"""

import argparse
import os
import platform
import sys
import time

import torch
from recbole.utils import init_seed

from recbole_dcr.config import Config
from recbole_dcr.model.layers import ExpertMLPs
from recbole_dcr.utils import create_dataset, get_model

MODELS = [  # (label, model, config overrides)
    ("NFM-WA (one pass, no adjustment)", "NFMWA", {}),
    ("DCR-NFM (enumerate a)", "DCRNFM", {}),
    ("NWGM-DCR (averaged a)", "NWGMDCR", {}),
    ("DCR-MoE (do)", "DCRMoE", {"inference": "do"}),
    ("MoE (condition)", "DCRMoE", {"inference": "condition"}),
]


class Counter:
    """Rows through ``matching`` (backbone) and through the MLP experts, per scored row."""

    def __init__(self, model):
        self.backbone_rows = self.mlp_rows = 0
        matching = model.matching

        def counted_matching(interaction, *args, **kwargs):
            m = matching(interaction, *args, **kwargs)
            self.backbone_rows += m.shape[0]
            return m

        model.matching = counted_matching
        for module in model.modules():
            if isinstance(module, ExpertMLPs):
                run = module._run

                def counted_run(hidden, weights, biases, run=run):
                    self.mlp_rows += hidden.shape[0] * hidden.shape[1] if hidden.dim() == 3 else hidden.shape[0]
                    return run(hidden, weights, biases)

                module._run = counted_run


def measure(model_name, overrides, k, args):
    config = Config(model=model_name, dataset="dcr_sim", config_dict={
        "data_path": os.path.join(args.data_root, f"k{k}"), "sim_confounder_values": k,
        "sim_users": args.users, "sim_rows_per_user": args.rows_per_user, "state": "WARNING", **overrides,
    })
    init_seed(config["seed"], config["reproducibility"])
    train = create_dataset(config).build()[0]
    model = get_model(model_name)(config, train).eval()
    rows = train.join(train.inter_feat[torch.arange(len(train.inter_feat))])
    batches = [rows[index] for index in torch.arange(len(rows)).split(config["eval_batch_size"])]
    counter = Counter(model)
    with torch.no_grad():
        for batch in batches:
            model.predict(batch)
        per_row = (counter.backbone_rows / len(rows), counter.mlp_rows / len(rows))
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for batch in batches:
                model.predict(batch)
            best = min(best, time.perf_counter() - start)
    return per_row, best * 1e6 / len(rows)


def write(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


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
    sys.argv = sys.argv[:1]  # the flags above are not RecBole config keys
    torch.set_num_threads(args.threads)
    lines = [
        "# Inference cost of the backdoor adjustment (paper, Table 4)", "",
        f"Command: `python benchmarks/inference_cost.py --ks {args.ks} --threads {args.threads} "
        f"--repeats {args.repeats} --users {args.users} --rows_per_user {args.rows_per_user}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} torch thread(s), torch "
        f"{torch.__version__}. Untrained models (cost does not depend on weights); every training row of the "
        f"simulated dataset scored in batches of eval_batch_size; best of {args.repeats} passes.", "",
        "Backbone passes: rows through embedding + bi-interaction per candidate. MLP passes: rows x experts "
        "through a (256, 128) MLP per candidate.", "",
        "| K | model | backbone passes | MLP passes | s / 1M candidates | x NFM-WA |", "|---|---|---|---|---|---|",
    ]
    for k in [int(v) for v in args.ks.split(",")]:
        baseline = None
        for label, model_name, overrides in MODELS:
            (backbone, mlp), seconds = measure(model_name, overrides, k, args)
            baseline = baseline or seconds
            lines.append(f"| {k} | {label} | {backbone:g} | {mlp:g} | {seconds:.2f} | {seconds / baseline:.1f} |")
            print(lines[-1], flush=True)
            write(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
