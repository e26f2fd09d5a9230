"""Run a list of models on one dataset with one protocol and write the paper-shaped tables.

    python run_dcr_experiments.py --models=DCRMoE,DCRNFM,NWGMDCR,MoE,NFMWA,NFMWOA,IPW,FairGo,CR \\
        --grid='{"embedding_weight_decay": [1e-5, 1e-4]}' --out=results/experiments_dcr_sim.md

Without --dataset the embedded simulated dataset dcr_sim is used, and an oracle row (ranking by the
simulator's true match) is added.  Other --key=value flags reach RecBole's Config as usual.
"""

import argparse
import warnings
import json
import os
import sys

from recbole_dcr.config import Config
from recbole_dcr.experiments import markdown_report, oracle_row, run_models
from recbole_dcr.utils import write_text_atomic

ALL_MODELS = "DCRMoE,DCRNFM,NWGMDCR,MoE,NFMWA,NFMWOA,IPW,FairGo,CR"

if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=ALL_MODELS, help="comma-separated model names")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default: dcr_sim)")
    parser.add_argument("--config_files", default=None, help="config files, separated by spaces")
    parser.add_argument("--grid", default="{}", help='JSON {"key": [values]} tuned on validation per model')
    parser.add_argument("--out", default=None, help="Markdown output (default: results/experiments_<dataset>.md)")
    args, _ = parser.parse_known_args()

    config_files = args.config_files.strip().split(" ") if args.config_files else None
    quiet = {"show_progress": False, "state": "WARNING"}
    rows = run_models(args.models.split(","), args.dataset, config_files, quiet, json.loads(args.grid))
    oracle = oracle_row(args.dataset, config_files, quiet)
    if oracle:
        rows.append(oracle)
    config = Config(model=rows[0]["model"], dataset=args.dataset, config_file_list=config_files, config_dict=quiet)
    cutoffs = config["topk"][:2]
    command = "python " + " ".join(sys.argv)
    report = markdown_report(rows, cutoffs, f"recbole_dcr experiments on `{config['dataset']}`", command)
    print(report)
    out = args.out or os.path.join("results", f"experiments_{config['dataset']}.md")
    write_text_atomic(out, report)
