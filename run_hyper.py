"""Hyper-parameter search for recbole_dcr models, like RecBole's run_hyper.py.

    pip install -e ".[hyper]"     # hyperopt==0.2.5 (the version RecBole's grid search works with), pyarrow

    # RecBole's HyperTuning (hyperopt): one training run per point of the grid, one after another
    python run_hyper.py --model=DCRMoE --params_file=hyper/DCRMoE.hyper --output_file=results/hyper_DCRMoE.txt

    # Ray Tune + ASHA: trials in parallel on this machine (--num_cpus) or on a cluster (--address=auto)
    python run_hyper.py --tool=ray --model=DCRMoE --params_file=hyper/DCRMoE.hyper --cpus_per_trial=2 \\
        --gpus_per_trial=0 --output_file=results/ray_DCRMoE.txt

The output file lists every trial with its valid and test results, then the best one by the
validation metric. Other --key=value flags reach RecBole's Config as usual (e.g. --epochs=20).
"""

import argparse
import sys
import warnings

from recbole_dcr.tuning import hyperopt_search, ray_search

if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", default="DCRMoE")
    parser.add_argument("--dataset", "-d", default=None, help="default: dcr_sim")
    parser.add_argument("--config_files", default=None, help="fixed config files, separated by spaces")
    parser.add_argument("--params_file", default="hyper/DCRMoE.hyper")
    parser.add_argument("--output_file", default="hyper_result.txt")
    parser.add_argument("--tool", default="hyperopt", choices=["hyperopt", "ray"])
    hyperopt = parser.add_argument_group("hyperopt")
    hyperopt.add_argument("--algo", default="exhaustive", help="exhaustive (grid), random or bayes")
    hyperopt.add_argument("--max_evals", type=int, default=100, help="trials for random / bayes")
    ray = parser.add_argument_group("ray")
    ray.add_argument("--cpus_per_trial", type=float, default=1)
    ray.add_argument("--gpus_per_trial", type=float, default=0)
    ray.add_argument("--num_samples", type=int, default=1, help="samples of the space (the grid is repeated)")
    ray.add_argument("--address", default=None, help="a running Ray cluster: auto or host:port")
    ray.add_argument("--num_cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    ray.add_argument("--storage_path", default="ray_results", help="where Ray keeps trial folders")
    ray.add_argument("--grace_period", type=int, default=None, help="ASHA's first rung (default: stopping_step)")
    ray.add_argument("--reduction_factor", type=int, default=2, help="ASHA's reduction factor")
    args, _ = parser.parse_known_args()
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    command = "python " + " ".join(sys.argv)
    if args.tool == "hyperopt":
        tuner = hyperopt_search(args.model, args.dataset, config_files, args.params_file, args.output_file,
                                args.algo, args.max_evals, command)
        print("best params:", tuner.best_params)
        print("best result:", tuner.params2result[tuner.params2str(tuner.best_params)])
    else:
        ray_search(args.model, args.dataset, config_files, args.params_file, args.output_file, args.cpus_per_trial,
                   args.gpus_per_trial, args.num_samples, args.address, args.num_cpus, args.storage_path,
                   args.grace_period, args.reduction_factor, command)
    print(open(args.output_file, encoding="utf-8").read())
