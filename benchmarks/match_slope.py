"""Does the ranked score still depend on A?  Its slope on the simulator's true match, per value of A.

    python benchmarks/match_slope.py [--variants yaml_defaults,sharing_separate,...] [--setting match_interaction]
        [--seed 2020] [--model DCRMoE] [--workers 2] [--epochs 50] [--extra '{...}'] [--out results/match_slope.md]

Each variant (a name of ``select_defaults.py``) is trained with early stopping on validation, as there;
then its ranked score (``inference`` as configured: the backdoor sum by default) is computed on every test
row, and the logit of that score is regressed on the row's true match M (known to the simulator) within
each value of the item's A.  The like label depends on M alone, so a deconfounded score has one slope for
every value of A; a slope that grows with A is A's effect on the training label, left in the ranking (where
A scales the match's effect on the training label, ``sim_confounder_match_interaction``).
"""

import argparse
import sys
import tempfile
from multiprocessing import get_context

from recbole_dcr.files import write_text
from recbole_dcr.research.reports import machine_line, table
from select_defaults import VARIANTS  # noqa: E402 (benchmarks/ is on the path)
from simulated_runs import add_run_arguments, parse_run_arguments, prepare_datasets, setting_config


def slopes(job):
    """Train one variant; (name, valid, test NDCG@10, [(level, slope)])."""
    import numpy as np
    import torch

    from recbole_dcr.data.simulator import simulate, simulator_params
    from recbole_dcr.quick_start import train

    torch.set_num_threads(1)
    name, model_name, config_dict = job
    with tempfile.TemporaryDirectory() as saved:
        config_dict = {**config_dict, "show_progress": False, "state": "ERROR", "checkpoint_dir": saved}
        run = train(model_name, "dcr_sim", config_dict=config_dict, command_line=[], quiet=True)
    model, config = run.trainer.model.eval(), run.config
    dataset = run.test_data._dataset
    inter, item, match, _ = simulate(simulator_params(config))  # the same draws as the dataset's files
    true_match = dict(zip(zip(inter["user_id:token"].astype(str), inter["item_id:token"].astype(str)), match))
    rows = dataset.inter_feat
    users = dataset.id2token(config["USER_ID_FIELD"], rows[config["USER_ID_FIELD"]].numpy())
    items = dataset.id2token(config["ITEM_ID_FIELD"], rows[config["ITEM_ID_FIELD"]].numpy())
    m = np.array([true_match[pair] for pair in zip(users, items)])
    with torch.no_grad():
        score = torch.cat([model.predict(dataset.join(rows[s:s + 20000]).to(model.device))
                           for s in range(0, len(rows), 20000)]).clamp(1e-6, 1 - 1e-6)
    logit = torch.logit(score).cpu().numpy()
    level = item.set_index("item_id:token")["duration_level:token"].reindex(items.astype(int)).to_numpy()
    per_level = []
    for a in sorted(set(level.tolist())):
        on = level == a
        per_level.append((a, float(np.polyfit(m[on], logit[on], 1)[0])))
    print(f"{name}: " + " ".join(f"{slope:.3f}" for _, slope in per_level), flush=True)
    return name, run.result["best_valid_score"], run.result["test_result"]["ndcg@10"], per_level


def spread(values):
    """(largest − smallest) / mean: 0 where every value of A gets the same slope."""
    return (max(values) - min(values)) / (sum(values) / len(values))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(parser)
    parser.set_defaults(settings="match_interaction")
    parser.add_argument("--variants", default="yaml_defaults,sharing_separate")
    parser.add_argument("--model", default="DCRMoE")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", default="results/match_slope.md")
    args = parser.parse_args(argv)
    parse_run_arguments(parser, args, {"variants": VARIANTS})
    jobs = []
    for setting in args.settings:
        data = setting_config(setting, args.data_root, args.extra)
        prepare_datasets([data])
        jobs += [(f"{variant} / {setting}", args.model,
                  {**data, **VARIANTS[variant], "seed": args.seed, "epochs": args.epochs}) for variant in args.variants]
    with get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(slopes, jobs)
    levels = [a for a, _ in results[0][3]]
    rows = [[name, f"{valid:.4f}", f"{test:.4f}", *(f"{slope:.3f}" for _, slope in per),
             f"{spread([slope for _, slope in per]):.2f}"]
            for name, valid, test, per in results]
    lines = [
        "# Does the ranked score still depend on A? Its slope on the true match, per value of A", "",
        f"Command: `python {' '.join(sys.argv)}`", "",
        machine_line(1) + f" {args.workers} runs at a time.", "",
        f"{args.model} at each variant of `benchmarks/select_defaults.py` (keys there), trained with seed {args.seed} "
        "and early stopping on validation NDCG@10; on every test row, the logit of the ranked score regressed on "
        "the simulator's true match M within each value of the item's A (0: shortest). The like label depends on M "
        "alone: a deconfounded score has one slope for every value; the last column is the largest slope less the "
        "smallest over their mean (0: no trace of A).", "",
        *table(["variant / setting", "valid NDCG@10", "test NDCG@10", *(f"slope at A={a}" for a in levels),
                "spread"], rows), "",
    ]
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
