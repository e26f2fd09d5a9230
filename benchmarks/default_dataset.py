"""Test metrics of the spine's models on the embedded dataset dcr_sim, next to an oracle ranking.

    python benchmarks/default_dataset.py [--models DCRMoE,NFMWA,NFMWOA,FM] [--out results/default_dataset.md]
        [--grid '{"embedding_weight_decay": [1e-5, 1e-4]}']

Each model is trained once per point of ``--grid`` (the paper tunes its two L2 coefficients on the
validation set, sec. 5.1.3); the point with the best validation score gives the model's test row.
The oracle ranks each user's test rows by the simulator's true match score (written to
dcr_sim.match): the ceiling any model can reach on the evaluation label.  Every model uses the
same seed, split and evaluator; hyper-parameters are the yaml defaults unless given as
``--key=value`` (passed on to RecBole's Config).
"""

import argparse
import itertools
import json
import os
import platform
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from recbole_dcr import run_recbole_dcr
from recbole_dcr.config import Config
from recbole_dcr.trainer import DCRTrainer
from recbole_dcr.utils import create_dataset, data_preparation


class OracleScore(nn.Module):
    """Scores a row by its true match, looked up by (user id, item id)."""

    def __init__(self, dataset, match_file):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        truth = pd.read_csv(match_file, sep="\t", dtype={0: str, 1: str})
        users = dataset.token2id(dataset.uid_field, truth.iloc[:, 0].to_numpy())
        items = dataset.token2id(dataset.iid_field, truth.iloc[:, 1].to_numpy())
        self.n_items = dataset.item_num
        self.keys = torch.from_numpy(users * self.n_items + items)
        order = torch.argsort(self.keys)
        self.keys, self.values = self.keys[order], torch.from_numpy(truth.iloc[:, 2].to_numpy())[order]

    def predict(self, interaction):
        key = interaction["user_id"].long() * self.n_items + interaction["item_id"].long()
        return self.values[torch.searchsorted(self.keys, key)].float()

    def other_parameter(self):
        return None


def oracle_result(config_dict):
    config = Config(model="NFMWOA", dataset="dcr_sim", config_dict=config_dict)
    dataset = create_dataset(config)
    _, _, test = data_preparation(config, dataset)
    oracle = OracleScore(dataset, os.path.join(config["data_path"], "dcr_sim.match"))
    return DCRTrainer(config, oracle).evaluate(test, load_best_model=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="DCRMoE,NFMWA,NFMWOA,FM")
    parser.add_argument("--out", default="results/default_dataset.md")
    parser.add_argument("--grid", default='{"embedding_weight_decay": [1e-5, 1e-4]}', help="JSON: key -> values")
    args, _ = parser.parse_known_args()
    config_dict = {"show_progress": False, "state": "WARNING"}

    grid = json.loads(args.grid)
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    rows = []
    for model in args.models.split(","):
        best = None
        for point in points:
            start = time.time()
            result = run_recbole_dcr(model=model, config_dict={**config_dict, **point})
            seconds = time.time() - start
            print(f"{model} {point}: valid {result['best_valid_score']:.4f}, test {dict(result['test_result'])} "
                  f"({seconds:.0f}s)", flush=True)
            if best is None or result["best_valid_score"] > best[0]:
                best = (result["best_valid_score"], point, dict(result["test_result"]), seconds)
        rows.append((model, best[2], best[3], best[1]))
    rows.append(("oracle (true match)", dict(oracle_result(config_dict)), 0.0, {}))

    metrics = list(rows[0][1])
    command = "python " + " ".join(sys.argv)
    lines = [
        "# Test metrics on the default simulated dataset `dcr_sim`",
        "",
        f"Command: `{command}` (yaml defaults, seed 2020; relevance = `like`, training label = `finish`).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}.",
        "",
        "| model | " + " | ".join(metrics) + " | chosen on valid | train+test time (s) |",
        "|---|" + "---|" * (len(metrics) + 2),
    ]
    for model, result, seconds, point in rows:
        chosen = ", ".join(f"{k}={v}" for k, v in point.items()) or "-"
        lines.append(
            f"| {model} | " + " | ".join(f"{result[m]:.4f}" for m in metrics) + f" | {chosen} | {seconds:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
