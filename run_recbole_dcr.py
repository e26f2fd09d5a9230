"""Train and test a recbole_dcr (or RecBole context-aware) model, like RecBole's run_recbole.py.

    python run_recbole_dcr.py --model=DCRMoE                       # embedded simulated dataset
    python run_recbole_dcr.py --model=NFMWA --dataset=kwai --config_files="a.yaml b.yaml" --learning_rate=0.001
    python run_recbole_dcr.py --model=DCRMoE --nproc=2                # data-parallel: 2 GPUs, or 2 CPU processes

The same as ``recbole-dcr train ...``; any config key can be given as --key=value.
"""

import sys

from recbole_dcr.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
