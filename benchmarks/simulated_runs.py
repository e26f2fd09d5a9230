"""Training runs on the simulator's settings, shared by ``select_defaults.py`` and ``ranking.py``.

A job is one training run (a model and its config keys on one simulator setting, one seed) with early
stopping on validation; its best validation score and the test metrics at that point are kept in a
JSON store beside the report, so an interrupted benchmark resumes where it stopped. Jobs run in
``workers`` processes with one torch thread each, so a benchmark uses every core it is given.
"""

import json
import os
import tempfile
import time
from multiprocessing import get_context

from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset
from recbole_dcr.files import write_text

# The simulator's settings (properties/dataset/dcr_sim.yaml): the paper's four X-A structures, a long-tailed
# P(A) and an A that scales the match's effect on the training label (not additive).
SETTINGS = {
    "hidden_z": {},
    "independent": {"sim_structure": "independent"},
    "a_causes_x": {"sim_structure": "a_causes_x"},
    "x_causes_a": {"sim_structure": "x_causes_a"},
    "skew": {"sim_confounder_skew": 0.5},
    "match_interaction": {"sim_confounder_match_interaction": 1.0},
}
MEANING = {
    "hidden_z": "hidden Z sets X and A (Fig. 1)",
    "independent": "A independent of X (Fig. 3c)",
    "a_causes_x": "A → X (Fig. 3a)",
    "x_causes_a": "X → A (Fig. 3b)",
    "skew": "hidden Z, long-tailed P(A) (skew 0.5)",
    "match_interaction": "hidden Z, A scales the match's effect (not additive)",
}


def add_run_arguments(parser):
    """The arguments every simulated-run benchmark takes."""
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"from {', '.join(SETTINGS)}")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one process and torch thread each")
    parser.add_argument("--epochs", type=int, default=50, help="at most; early stopping on validation NDCG@10")
    parser.add_argument("--data_root", default="dataset", help="parent folder of the simulated datasets")
    parser.add_argument("--extra", default="{}", help="JSON of config keys for every run (a backbone, a smaller simulator)")


def parse_run_arguments(parser, args, lists):
    """Splits ``--settings`` and each of ``lists`` {attribute: known names} into lists, checking every name
    (one error with "did you mean"), and parses ``--extra``."""
    from recbole_dcr.registry import did_you_mean

    try:
        args.extra = json.loads(args.extra)
    except json.JSONDecodeError as error:
        parser.error(f"--extra is not JSON ({error}); e.g. --extra='{{\"backbone\": \"xDeepFM\"}}'")
    for attribute, known in {"settings": SETTINGS, **lists}.items():
        names = getattr(args, attribute).split(",")
        for name in names:
            if name not in known:
                parser.error(f"--{attribute}: unknown {name!r}{did_you_mean(name, known)}; choose from {', '.join(known)}")
        setattr(args, attribute, names)


def setting_config(setting, data_root, extra=None, sim_seed=None):
    """Config keys of a simulator setting; each (setting, data seed) has a data folder of its own."""
    folder = f"select_{setting}" if sim_seed is None else f"sim_{setting}_{sim_seed}"
    config = {**(extra or {}), "data_path": os.path.join(data_root, folder), **SETTINGS[setting]}
    if sim_seed is not None:
        config["sim_seed"] = sim_seed
    return config


def prepare_datasets(data_configs):
    """Generate each simulated dataset once, before the workers would race to write it."""
    for config_dict in data_configs:
        create_dataset(Config(model="NFMWA", dataset="dcr_sim", config_dict=config_dict, command_line=[]))


def run_one(job):
    """One training run in a worker process: (key, result dict)."""
    import torch

    from recbole_dcr.quick_start import train

    torch.set_num_threads(1)
    key, model, config_dict = job
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as saved:
        config_dict = {**config_dict, "show_progress": False, "state": "ERROR", "checkpoint_dir": saved}
        run = train(model, "dcr_sim", config_dict=config_dict, command_line=[], quiet=True)
    result = {"valid": run.result["best_valid_score"], "test": dict(run.result["test_result"]),
              "seconds": time.perf_counter() - start}
    print(f"{key}: valid {result['valid']:.4f} test ndcg@10 {result['test']['ndcg@10']:.4f} "
          f"({result['seconds']:.0f} s)", flush=True)
    return key, result


def run_jobs(jobs, store, workers):
    """Results of ``jobs`` [(key, model, config_dict)], from ``store`` (JSON) where kept, else trained."""
    results = json.load(open(store, encoding="utf-8")) if os.path.isfile(store) else {}
    todo = [job for job in jobs if job[0] not in results]
    if todo:
        with get_context("spawn").Pool(workers) as pool:
            for key, result in pool.imap_unordered(run_one, todo):
                results[key] = result
                write_text(store, json.dumps(results, indent=1))
    return results
