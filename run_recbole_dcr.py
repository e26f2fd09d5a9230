"""Train and test a recbole_dcr (or RecBole context-aware) model, like RecBole's run_recbole.py.

    python run_recbole_dcr.py --model=DCRMoE                       # embedded simulated dataset
    python run_recbole_dcr.py --model=NFMWA --dataset=kwai --config_files="a.yaml b.yaml" --learning_rate=0.001
    python run_recbole_dcr.py --model=DCRMoE --nproc=2                # data-parallel: 2 GPUs, or 2 CPU processes
"""

import argparse
import warnings

from recbole_dcr.quick_start import run

if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", "-m", type=str, default="DCRMoE", help="name of models")
    parser.add_argument("--dataset", "-d", type=str, default=None, help="name of datasets (default: dcr_sim)")
    parser.add_argument("--config_files", type=str, default=None, help="config files, separated by spaces")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine (one per GPU)")
    parser.add_argument("--ip", type=str, default="localhost", help="address of the machine of rank 0")
    parser.add_argument("--port", type=str, default="5678", help="free port on the machine of rank 0")
    parser.add_argument("--world_size", type=int, default=-1, help="processes on all machines (default: nproc)")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")
    # Any other --key=value is read by RecBole's Config from the command line.
    args, _ = parser.parse_known_args()

    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    run(model=args.model, dataset=args.dataset, config_file_list=config_file_list, nproc=args.nproc,
        world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset)
