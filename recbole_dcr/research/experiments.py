"""Run several models on one dataset under one protocol and tabulate them like the paper.

Every model gets the same seed, data, split, budget and evaluator.  Each point of a small
hyper-parameter grid is trained; the point with the best validation score gives the model's test
row (the paper tunes on validation, sec. 5.1.3).  The tables follow the paper: Table 2 (metrics at
two cut-offs, RI = relative improvement of DCR-MoE over each baseline averaged over Recall, MAP and
NDCG), Table 3 (NFM-WA vs MoE vs DCR-MoE: is it the intervention or the parameters?) and the
inference-variant comparison of sec. 5.3.2 (DCR-NFM, NWGM, DCR-MoE).
"""

import itertools
import os
import time
from logging import getLogger

import pandas as pd
import torch
from recbole.utils import init_seed
from torch import nn

from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset, data_preparation
from recbole_dcr.quick_start import train
from recbole_dcr.research.reports import mean_relative_improvement, table
from recbole_dcr.trainer import DCRTrainer


def grid_points(grid):
    """Every combination of a {key: [values]} grid, as config dicts ([{}] for an empty grid)."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def run_models(models, dataset=None, config_file_list=None, config_dict=None, grid=None, command_line=()):
    """Train every model at every grid point; keep, per model, the point with the best validation score.

    ``command_line``: ``--key=value`` overrides applied to every run (above the grid point).
    """
    logger = getLogger()
    rows = []
    for model in models:
        best = None
        for point in grid_points(grid or {}):
            start = time.time()
            result = train(model, dataset, config_file_list, {**(config_dict or {}), **point},
                           command_line=list(command_line), quiet=True).result
            seconds = time.time() - start
            print(f"{model} {point}: valid {result['best_valid_score']:.4f} test {dict(result['test_result'])} "
                  f"({seconds:.0f}s)", flush=True)
            if best is None or result["best_valid_score"] > best["valid"]:
                best = {"model": model, "valid": result["best_valid_score"], "test": dict(result["test_result"]),
                        "chosen": point, "seconds": seconds}
        rows.append(best)
    logger.info(f"finished {len(rows)} models")
    return rows


class TrueMatchScore(nn.Module):
    """Scores each row by the simulator's true user-item match (``<dataset>.match``): an oracle ranking."""

    def __init__(self, dataset, match_file):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
        truth = pd.read_csv(match_file, sep="\t", dtype={0: str, 1: str})
        users = dataset.token2id(dataset.uid_field, truth.iloc[:, 0].to_numpy())
        items = dataset.token2id(dataset.iid_field, truth.iloc[:, 1].to_numpy())
        self.n_items = dataset.item_num
        keys = torch.from_numpy(users * self.n_items + items)
        order = torch.argsort(keys)
        self.keys, self.values = keys[order], torch.from_numpy(truth.iloc[:, 2].to_numpy())[order].float()

    def predict(self, interaction):
        key = interaction[self.uid_field].long() * self.n_items + interaction[self.iid_field].long()
        return self.values[torch.searchsorted(self.keys, key)]

    def other_parameter(self):
        return None


def oracle_row(dataset=None, config_file_list=None, config_dict=None, command_line=()):
    """The oracle's test metrics, or None when the dataset has no ``.match`` file."""
    config = Config(model="NFMWOA", dataset=dataset, config_file_list=config_file_list, config_dict=config_dict,
                    command_line=list(command_line))
    init_seed(config["seed"], config["reproducibility"])  # the models' split: RecBole's RS split draws from torch's RNG
    data = create_dataset(config)
    match_file = os.path.join(config["data_path"], f"{config['dataset']}.match")
    if not os.path.isfile(match_file):
        return None
    _, _, test = data_preparation(config, data)
    result = DCRTrainer(config, TrueMatchScore(data, match_file)).evaluate(test, load_best_model=False)
    return {"model": "oracle (true match)", "valid": None, "test": dict(result), "chosen": {}, "seconds": 0.0}


TABLE_METRICS = ("recall", "cappedrecall", "map", "ndcg")
TABLE_NAMES = {"recall": "Recall", "cappedrecall": "CappedRecall", "map": "MAP", "ndcg": "NDCG"}


def _table(rows, cutoffs, reference):
    shown = [m for m in TABLE_METRICS if all(f"{m}@{cutoffs[0]}" in row["test"] for row in rows)]
    header = ["model"]
    for k in cutoffs:
        header += [f"{TABLE_NAMES[m]}@{k}" for m in shown] + (["RI"] if reference else [])
    body = []
    for row in rows:
        cells = [row["model"]]
        for k in cutoffs:
            cells += [f"{row['test'][f'{m}@{k}']:.4f}" for m in shown]
            if reference:
                same = row["model"] == reference["model"] or row["model"].startswith("oracle")
                cells.append("-" if same else f"{100 * mean_relative_improvement(reference['test'], row['test'], k):.1f}%")
        body.append(cells)
    return table(header, body)


def markdown_report(rows, cutoffs, title, command, reference_model="DCRMoE"):
    """Table 2, Table 3 and the inference-variant table (those whose models were run), as Markdown."""
    by_name = {row["model"]: row for row in rows}
    reference = by_name.get(reference_model)
    lines = [f"# {title}", "", f"Command: `{command}`", ""]
    lines += ["## Overall (shaped like the paper's Table 2)", ""]
    lines += _table(rows, cutoffs, reference)
    lines += ["", "RI: relative improvement of DCR-MoE over the row's model, averaged over the paper's three metrics: "
              "CappedRecall (the paper's Recall, hits / min(#positives, K)), MAP and NDCG. Recall is RecBole's "
              "(hits / #positives).", ""]
    for heading, names in (
        ("Intervention or parameters? (Table 3)", ["NFMWA", "MoE", "DCRMoE"]),
        ("Exact, approximate and MoE backdoor adjustment (sec. 5.3.2)", ["DCRNFM", "NWGMDCR", "DCRMoE"]),
    ):
        if all(name in by_name for name in names):
            lines += [f"## {heading}", ""] + _table([by_name[n] for n in names], cutoffs, reference) + [""]
    lines += ["## Chosen on validation", "", "| model | best valid score | hyper-parameters | seconds (train+test) |",
              "|---|---|---|---|"]
    for row in rows:
        if row["valid"] is not None:
            chosen = ", ".join(f"{k}={v}" for k, v in row["chosen"].items()) or "defaults"
            lines.append(f"| {row['model']} | {row['valid']:.4f} | {chosen} | {row['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- command line
ALL_MODELS = "DCRMoE,DCRNFM,NWGMDCR,MoE,NFMWA,NFMWOA,IPW,FairGo,CR"


def main(args, overrides):
    """``recbole-dcr experiments``: every model of --models, the paper's tables, written to --out."""
    import json

    from recbole_dcr.research.reports import command_line, write_markdown

    quiet = {"show_progress": False, "state": "WARNING"}
    models = args.models.split(",")
    rows = run_models(models, args.dataset, args.config_files, quiet, json.loads(args.grid), overrides)
    oracle = oracle_row(args.dataset, args.config_files, quiet, overrides)
    if oracle:
        rows.append(oracle)
    config = Config(model=models[0], dataset=args.dataset, config_file_list=args.config_files, config_dict=quiet,
                    command_line=overrides)
    report = markdown_report(rows, config["topk"][:2], f"recbole_dcr experiments on `{config['dataset']}`",
                             command_line())
    print(report)
    write_markdown(args.out or os.path.join("results", f"experiments_{config['dataset']}.md"), report.splitlines())
    return 0
