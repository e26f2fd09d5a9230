"""Hyper-parameter search for recbole_dcr models, like RecBole's run_hyper.py.

    pip install -e ".[hyper]"     # hyperopt==0.2.5 (the version RecBole's grid search works with), pyarrow
    python run_hyper.py --model=DCRMoE --params_file=hyper/DCRMoE.hyper --output_file=results/hyper_DCRMoE.txt
    python run_hyper.py --tool=ray --model=DCRMoE --params_file=hyper/DCRMoE.hyper --cpus_per_trial=2 \\
        --gpus_per_trial=0 --output_file=results/ray_DCRMoE.txt

The same as ``recbole-dcr tune ...``; other --key=value flags reach every trial's Config.
"""

import sys

from recbole_dcr.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
