"""Is DCR-MoE's gap to CR a design or a draw? DCR-MoE built as CR, trained from its own start and from CR's.

    python benchmarks/cr_nesting.py [--settings x_causes_a,skew] [--seeds 2020,2021,2022] [--epochs 10]
        [--out results/cr_nesting.md]

With CR's side branch (``side_input: embedding``), no content dropout and its per-value MLPs held at zero
(frozen), DCR-MoE is CR's model, and the exact sum orders each user's items as CR's main branch does
(``tests/test_expert_sharing.py::test_dcrmoe_nests_cr``). For each selection setting (``sim_seed`` 2022,
the data of ``select_defaults.py``) and training seed this trains, for ``--epochs`` epochs on the same
batches: CR; that DCR-MoE from its own random start; and that DCR-MoE from CR's start (CR's weights
copied in). It reports the best validation NDCG@10 of each. Where the last equals CR and the second does
not, the gap between the models is the draw of their starting weights.
"""

import argparse
import json
import statistics

import torch

from recbole_dcr.quick_start import build_run, configure
from recbole_dcr.research.reports import machine_line, table, write_markdown
from simulated_runs import prepare_datasets, setting_config  # benchmarks/ is on the path

NESTED = {"side_input": "embedding", "confounder_content_dropout": 0.0, "residual_weight_decay": 0.0,
          "side_alpha": 1.0}


def copy_cr_into(moe, cr):
    """CR's weights into the nested DCR-MoE; its per-value MLPs zero and frozen."""
    with torch.no_grad():
        moe.token_embedding_table.load_state_dict(cr.token_embedding_table.state_dict())
        moe.first_order_linear.load_state_dict(cr.first_order_linear.state_dict())
        for i, (w, b) in enumerate(zip(cr.mlp.weights, cr.mlp.biases)):
            moe.experts.shared.weights[i].copy_(w[0])
            moe.experts.shared.biases[i].copy_(b[0])
        moe.side_mlp.load_state_dict(cr.side.state_dict())


def freeze_residual(moe):
    with torch.no_grad():
        for p in moe.experts.residual.parameters():
            p.zero_()
            p.requires_grad_(False)


def best_valid(model, config_dict, seed, from_cr=None):
    config = configure(model=model, dataset="dcr_sim", config_dict={**config_dict, "seed": seed}, command_line=[],
                       quiet=True)
    trainer, train, valid, _ = build_run(config)
    if model == "DCRMoE":
        if from_cr is not None:
            copy_cr_into(trainer.model, from_cr)
        freeze_residual(trainer.model)
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    torch.manual_seed(seed)  # the same batches for every model of this seed
    score, _ = trainer.fit(train, valid, saved=False, show_progress=False, verbose=False)
    return score, trainer.model, start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="x_causes_a,skew")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data_root", default="dataset")
    parser.add_argument("--out", default="results/cr_nesting.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings, seeds = args.settings.split(","), [int(s) for s in args.seeds.split(",")]
    prepare_datasets(setting_config(s, args.data_root) for s in settings)
    rows, gaps = [], {"own start": [], "CR's start": []}
    for setting in settings:
        for seed in seeds:
            keys = {**setting_config(setting, args.data_root), "epochs": args.epochs, "state": "WARNING"}
            cr_score, cr, cr_start = best_valid("CR", keys, seed)
            cr.load_state_dict(cr_start)  # CR as it started, not as it ended
            own, _, _ = best_valid("DCRMoE", {**keys, **NESTED}, seed)
            same, _, _ = best_valid("DCRMoE", {**keys, **NESTED}, seed, from_cr=cr)
            gaps["own start"].append(own - cr_score)
            gaps["CR's start"].append(same - cr_score)
            rows.append([setting, seed, f"{cr_score:.4f}", f"{own:.4f}", f"{same:.4f}", f"{own - cr_score:+.4f}",
                         f"{same - cr_score:+.4f}"])
            print(json.dumps(rows[-1]), flush=True)
    lines = ["# DCR-MoE built as CR: its own start against CR's", "",
             f"Command: `python benchmarks/cr_nesting.py --settings {args.settings} --seeds {args.seeds} "
             f"--epochs {args.epochs} --out {args.out}`", "", machine_line(1), "",
             f"Best validation NDCG@10 over {args.epochs} epochs, the same batches for the three runs of a seed. The "
             f"nested DCR-MoE: `{json.dumps(NESTED)}`, its per-value MLPs zero and frozen.", ""]
    lines += table(["setting", "seed", "CR", "DCR-MoE as CR, own start", "DCR-MoE as CR, CR's start",
                    "own start − CR", "CR's start − CR"], rows)
    lines += [""] + [f"- {name} − CR: mean {statistics.fmean(v):+.4f}, largest |gap| {max(map(abs, v)):.4f} "
                     f"over {len(v)} runs" for name, v in gaps.items()]
    write_markdown(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
