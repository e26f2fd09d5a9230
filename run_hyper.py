"""Hyper-parameter search for recbole_dcr models with RecBole's HyperTuning (hyperopt), like RecBole's run_hyper.py.

    pip install -e ".[hyper]"     # hyperopt==0.2.5, the version RecBole's exhaustive search works with
    python run_hyper.py --model=DCRMoE --params_file=hyper/DCRMoE.hyper --output_file=results/hyper_DCRMoE.txt

Every point of the params file is one training run (objective_function); the output file lists every
trial with its valid and test results, then the best one by the validation metric.
Other --key=value flags reach RecBole's Config as usual (e.g. --epochs=20).
"""

import argparse
import warnings
import os

from recbole.trainer import HyperTuning
from recbole.utils import dict2str

from recbole_dcr.quick_start import objective_function


def write_report(tuner, output_file):
    """Every trial's valid and test results, then the best trial; written atomically."""
    lines = []
    for params, result in tuner.params2result.items():
        lines += [params, "Valid result:", dict2str(result["best_valid_result"]), "Test result:",
                  dict2str(result["test_result"]), ""]
    best = tuner.params2str(tuner.best_params)
    lines += ["Best (by validation):", best, "Valid result:", dict2str(tuner.params2result[best]["best_valid_result"]),
              "Test result:", dict2str(tuner.params2result[best]["test_result"]), ""]
    os.makedirs(os.path.dirname(output_file) or ".", exist_ok=True)
    with open(output_file + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.replace(output_file + ".tmp", output_file)


def tune(model, dataset, config_files, params_file, output_file, algo="exhaustive", max_evals=100):
    fixed = {"model": model, "show_progress": False}
    if dataset:
        fixed["dataset"] = dataset

    def objective(params, config_file_list):
        return objective_function({**fixed, **params}, config_file_list)

    tuner = HyperTuning(objective, algo=algo, params_file=params_file, fixed_config_file_list=config_files,
                        max_evals=max_evals, early_stop=10)
    tuner.run()
    write_report(tuner, output_file)
    return tuner


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", default="DCRMoE")
    parser.add_argument("--dataset", "-d", default=None, help="default: dcr_sim")
    parser.add_argument("--config_files", default=None, help="fixed config files, separated by spaces")
    parser.add_argument("--params_file", default="hyper/DCRMoE.hyper")
    parser.add_argument("--output_file", default="hyper_result.txt")
    parser.add_argument("--algo", default="exhaustive", help="exhaustive (grid), random or bayes")
    parser.add_argument("--max_evals", type=int, default=100, help="trials for random / bayes")
    args, _ = parser.parse_known_args()
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    tuner = tune(args.model, args.dataset, config_files, args.params_file, args.output_file, args.algo, args.max_evals)
    print("best params:", tuner.best_params)
    print("best result:", tuner.params2result[tuner.params2str(tuner.best_params)])
