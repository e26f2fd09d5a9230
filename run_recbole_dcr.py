"""Train and test a recbole_dcr (or RecBole context-aware) model, like RecBole's run_recbole.py.

    python run_recbole_dcr.py --model=DCRMoE                       # embedded simulated dataset
    python run_recbole_dcr.py --model=NFMWA --dataset=kwai --config_files="a.yaml b.yaml" --learning_rate=0.001
"""

import argparse
import warnings

from recbole_dcr.quick_start import run_recbole_dcr

if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", "-m", type=str, default="DCRMoE", help="name of models")
    parser.add_argument("--dataset", "-d", type=str, default=None, help="name of datasets (default: dcr_sim)")
    parser.add_argument("--config_files", type=str, default=None, help="config files, separated by spaces")
    # Any other --key=value is read by RecBole's Config from the command line.
    args, _ = parser.parse_known_args()

    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    run_recbole_dcr(model=args.model, dataset=args.dataset, config_file_list=config_file_list)
