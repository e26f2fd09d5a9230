"""Choose the NFM-family defaults on validation: several layer/loss variants, models, simulator settings, seeds.

    python benchmarks/select_defaults.py [--variants old,authors,...] [--models DCRMoE,NFMWA]
        [--settings hidden_z,independent,...] [--seeds 2020,2021,2022] [--workers 2] [--epochs 50]
        [--extra '{"backbone": "xDeepFM"}'] [--out results/defaults_selection.md]

Every (variant, model, simulator setting, seed) is trained with early stopping on validation NDCG@10
(patience ``stopping_step``) and its best validation score and the test metrics at that point are
recorded; the table ranks the variants by their mean validation NDCG@10 over every model, setting and
seed, which is what the defaults are chosen on. Test figures are shown, never used to choose.
``--extra`` adds config keys to every run (a backbone, smaller simulator settings); the variants'
keys are applied after it, so they are what differs between the rows.
Runs go to ``--workers`` processes with one torch thread each; finished runs are kept in
``<out>.json``, so an interrupted selection resumes where it stopped.
"""

import argparse
import json
import statistics
import sys

from recbole_dcr.files import write_text
from recbole_dcr.research.reports import machine_line, table
from simulated_runs import add_run_arguments, parse_run_arguments, prepare_datasets, run_jobs, setting_config  # noqa: E501 (benchmarks/ is on the path)

AUTHORS = {"matching_batch_norm": False, "embedding_init_std": 1e-4, "first_order_input": True, "mlp_init": "uniform",
           "loss_reduction": "sum", "weight_decay": 0.0, "embedding_weight_decay": 0.0}
VARIANTS = {
    # the plugin before issue #15: BatchNorm on m, Xavier everywhere, first order added, mean BCE, weight decay 1e-4
    "old": {"matching_batch_norm": True, "embedding_init_std": None, "first_order_input": False,
            "mlp_init": "xavier_normal", "loss_reduction": "mean", "weight_decay": 1e-4,
            "embedding_weight_decay": 1e-4},
    "authors": AUTHORS,  # the DCR authors' layers, no L2
    "authors_l2_1e-4": {**AUTHORS, "weight_decay": 1e-4, "embedding_weight_decay": 1e-4},
    "authors_l2_kwai": {**AUTHORS, "weight_decay": 1e-2, "embedding_weight_decay": 1e-6},  # their Kwai defaults
    # as strong as the old weight decay 1e-4 on the mean loss: λ = 1e-4 · batch 1024 / 2
    "authors_l2_as_old": {**AUTHORS, "weight_decay": 0.05, "embedding_weight_decay": 0.05},
    "authors_first_order_added": {**AUTHORS, "first_order_input": False},
    "authors_first_order_added_l2_1e-4": {**AUTHORS, "first_order_input": False, "weight_decay": 1e-4,
                                          "embedding_weight_decay": 1e-4},
    "authors_batch_norm": {**AUTHORS, "matching_batch_norm": True},
    "yaml_defaults": {},  # each model as its yaml files set it: a reference row (e.g. --models CR)
    # issue #17: the chosen defaults (yaml) with dense or sparse embedding tables
    "defaults_dense": {"sparse_embeddings": False},
    "defaults_sparse": {"sparse_embeddings": True},
    "authors_xavier": {**AUTHORS, "embedding_init_std": None, "mlp_init": "xavier_normal"},
    # the yaml defaults with RecBole's Xavier embeddings (results/backbones_init.md: a backbone's init)
    "defaults_xavier_embeddings": {"embedding_init_std": None},
    # issue #22: what DCR-MoE's K experts share (properties/model/DCRMoE.yaml, expert_sharing), over the
    # paper's backbone that never reads A (as they were chosen, before confounder_as_content)
    "sharing_separate": {"confounder_as_content": False, "expert_sharing": "separate"},
    "sharing_heads": {"confounder_as_content": False, "expert_sharing": "heads"},
    "sharing_residual": {"confounder_as_content": False, "expert_sharing": "residual", "residual_weight_decay": 1e-3},
    "sharing_residual_l2_1e-3": {"confounder_as_content": False, "expert_sharing": "residual",
                                 "residual_weight_decay": 1e-3},
    "sharing_residual_l2_0": {"confounder_as_content": False, "expert_sharing": "residual",
                              "residual_weight_decay": 0.0},
    "sharing_residual_64_l2_1e-3": {"confounder_as_content": False, "expert_sharing": "residual",
                                    "residual_weight_decay": 1e-3, "residual_hidden_size": [64]},
    "sharing_conditioned": {"confounder_as_content": False, "expert_sharing": "conditioned"},
    "sharing_pull_0.1": {"confounder_as_content": False, "expert_sharing": "pull", "expert_pull": 0.1},
    "sharing_pull_1": {"confounder_as_content": False, "expert_sharing": "pull", "expert_pull": 1.0},
    "sharing_pull_10": {"confounder_as_content": False, "expert_sharing": "pull", "expert_pull": 10.0},
    "sharing_embedded": {"confounder_as_content": False, "expert_sharing": "embedded"},
    # the item's own A as content in the backbone, the intervened A in the experts and a side logit (the
    # residual L2 pinned at 1e-3, the default when these ran)
    "content": {"confounder_as_content": True, "residual_weight_decay": 1e-3},
    "content_alpha_0": {"confounder_as_content": True, "side_alpha": 0.0, "residual_weight_decay": 1e-3},
    "content_no_first_order": {"confounder_as_content": True, "confounder_first_order": False,
                               "residual_weight_decay": 1e-3},
    "content_identity": {"confounder_as_content": True, "side_activation": "identity", "residual_weight_decay": 1e-3},
    "content_residual_l2_1e-2": {"confounder_as_content": True, "residual_weight_decay": 1e-2},
    "content_heads": {"confounder_as_content": True, "expert_sharing": "heads"},
    # stronger L2 on the per-value MLPs: toward one shared MLP, i.e. CR's main branch under the exact sum
    "content_residual_l2_1e-1": {"confounder_as_content": True, "residual_weight_decay": 1e-1},
    "content_residual_l2_1": {"confounder_as_content": True, "residual_weight_decay": 1.0},
    "content_residual_l2_10": {"confounder_as_content": True, "residual_weight_decay": 10.0},
    "content_residual_l2_100": {"confounder_as_content": True, "residual_weight_decay": 100.0},
    "content_residual_l2_10_gain": {"confounder_as_content": True, "residual_weight_decay": 10.0, "residual_gain": True},
    # the item's own A left out of the backbone for a share of training rows (0: content, 1: no content)
    "content_dropout_0.1": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                            "confounder_content_dropout": 0.1},
    "content_dropout_0.3": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                            "confounder_content_dropout": 0.3},
    "content_dropout_0.2": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                            "confounder_content_dropout": 0.2},
    "content_dropout_0.5": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                            "confounder_content_dropout": 0.5},
    "content_dropout_0.5_gain": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                                 "confounder_content_dropout": 0.5, "residual_gain": True},
    # the item's own A through its pairwise products only, beside the MLPs (confounder_content_form: additive)
    "content_additive": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                         "confounder_content_dropout": 0.2, "confounder_content_form": "additive"},
    "content_additive_dropout_0": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                                   "confounder_content_dropout": 0.0, "confounder_content_form": "additive"},
    "content_additive_gain": {"confounder_as_content": True, "residual_weight_decay": 10.0, "residual_gain": True,
                              "confounder_content_dropout": 0.2, "confounder_content_form": "additive"},
    "content_additive_l2_1": {"confounder_as_content": True, "residual_weight_decay": 1.0,
                              "confounder_content_dropout": 0.2, "confounder_content_form": "additive"},
    # s_a from A's embedding row through an MLP, as CR's side branch (side_input: embedding)
    "content_side_embedding": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                               "confounder_content_dropout": 0.2, "side_input": "embedding"},
    "content_side_embedding_dropout_0": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                                         "confounder_content_dropout": 0.0, "side_input": "embedding"},
    # the item's own A set to the intervened value at inference as well (confounder_content_inference: do)
    "content_do": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                   "confounder_content_dropout": 0.2, "confounder_content_inference": "do"},
    "content_do_dropout_0": {"confounder_as_content": True, "residual_weight_decay": 10.0,
                             "confounder_content_dropout": 0.0, "confounder_content_inference": "do"},
    # the paper's separate experts (free, or pulled toward their mean) over the backbone that reads the item's own A
    "content_separate": {"confounder_as_content": True, "expert_sharing": "separate", "confounder_content_dropout": 0.2},
    "content_pull_0.1": {"confounder_as_content": True, "expert_sharing": "pull", "expert_pull": 0.1,
                         "confounder_content_dropout": 0.2},
    "content_pull_1": {"confounder_as_content": True, "expert_sharing": "pull", "expert_pull": 1.0,
                       "confounder_content_dropout": 0.2},
    # more rows without the item's own A and freer per-value MLPs: the experts, not a_x, to carry what of A's
    # effect depends on the match
    "content_dropout_0.5_l2_1e-2": {"confounder_as_content": True, "residual_weight_decay": 1e-2,
                                    "confounder_content_dropout": 0.5},
    "content_dropout_0.3_l2_1": {"confounder_as_content": True, "residual_weight_decay": 1.0,
                                 "confounder_content_dropout": 0.3},
    # the per-value MLPs held at zero (L2 1e6): with side_input embedding and no content dropout, CR's model
    # ranked by the exact sum (which orders items as CR's main branch does)
    "content_residual_l2_1e6_dropout_0": {"confounder_as_content": True, "residual_weight_decay": 1e6,
                                          "confounder_content_dropout": 0.0},
    "content_as_cr": {"confounder_as_content": True, "residual_weight_decay": 1e6, "confounder_content_dropout": 0.0,
                      "side_input": "embedding"},
    "content_identity_no_first_order": {"confounder_as_content": True, "side_activation": "identity",
                                        "confounder_first_order": False, "residual_weight_decay": 1e-3},
    # today's defaults with more capacity or a larger step: the gaps to CR are small on five settings,
    # and no default of the shared layers was chosen since the experts began to share (still within
    # Table 4's cost: a (512, 256) shared MLP plus K (64) residuals is below the paper's K (256, 128) experts)
    "capacity_embedding_32": {"embedding_size": 32},
    "capacity_mlp_512_256": {"expert_hidden_size": [512, 256]},
    "capacity_lr_0.02": {"learning_rate": 0.02},
    "capacity_lr_0.005": {"learning_rate": 0.005},
    # where A scales the match's effect, today's adjusted score still has a slope on the match that grows
    # with the item's own A (0.20 at the shortest level to 1.17 at the longest; the paper's experts 0.50 to
    # 0.59): a per-value gain on the shared logit, free to move (residual L2 1e-3), lets the intervened A carry it
    "content_gain_l2_1e-3": {"confounder_as_content": True, "residual_weight_decay": 1e-3, "residual_gain": True,
                             "confounder_content_dropout": 0.2},
    "content_gain_l2_1e-3_do": {"confounder_as_content": True, "residual_weight_decay": 1e-3, "residual_gain": True,
                                "confounder_content_dropout": 0.2, "confounder_content_inference": "do"},
    "content_gain_l2_1e-3_dropout_0.5": {"confounder_as_content": True, "residual_weight_decay": 1e-3,
                                         "residual_gain": True, "confounder_content_dropout": 0.5},
}
# the variants that ran before the default content dropout of 0.2 ran without one
for _keys in VARIANTS.values():
    if _keys.get("confounder_as_content"):
        _keys.setdefault("confounder_content_dropout", 0.0)


def report(results, args, jobs):
    by_variant = {}
    for key, variant, model, setting, seed in jobs:
        if key in results:
            by_variant.setdefault(variant, []).append((model, setting, seed, results[key]))
    means = {}  # (variant, model, setting) -> mean valid NDCG@10 over the seeds run
    for variant, runs in by_variant.items():
        for model in args.models:
            for setting in args.settings:
                valid = [r["valid"] for m, s, _, r in runs if m == model and s == setting]
                if valid:
                    means[variant, model, setting] = statistics.mean(valid)
    best = {}  # (model, setting) -> the best variant's mean there
    for (variant, model, setting), value in means.items():
        best[model, setting] = max(best.get((model, setting), value), value)
    rows = []
    for variant, runs in by_variant.items():
        cells = [f"{means[variant, m, s]:.4f}" if (variant, m, s) in means else "-"
                 for m in args.models for s in args.settings]
        worst = min((means[key] / best[key[1:]] - 1, key[2]) for key in means if key[0] == variant)
        mean_valid = statistics.mean(r["valid"] for *_, r in runs)
        mean_test = statistics.mean(r["test"]["ndcg@10"] for *_, r in runs)
        rows.append((mean_valid, [variant, f"{mean_valid:.4f}", f"{worst[0]:+.1%} ({worst[1]})", *cells,
                                  f"{mean_test:.4f}", len(runs)]))
    rows.sort(key=lambda row: -row[0])
    header = ["variant", "mean valid NDCG@10", "worst setting: vs the best variant there"]
    header += [f"valid {m} / {s}" for m in args.models for s in args.settings]
    header += ["mean test NDCG@10 (not used to choose)", "runs"]
    lines = ["# Choosing the NFM-family defaults on validation", "",
             f"Command: `python {' '.join(sys.argv)}`", "", machine_line(1) + f" {args.workers} runs at a time.", "",
             f"Models {', '.join(args.models)}; simulator settings {', '.join(args.settings)} (`dcr_sim`, and with "
             f"`sim_structure` changed); training seeds {', '.join(map(str, args.seeds))}; at most {args.epochs} epochs, "
             "early stopping on validation NDCG@10."
             + (f" Every run also with `{json.dumps(args.extra)}`." if args.extra else "") + " Variants:", ""]
    lines += [f"- `{name}`: `{json.dumps(VARIANTS[name])}`" for name in args.variants]
    lines += [""] + table(header, [row for _, row in rows])
    lines += ["", "Per run (valid NDCG@10 / test NDCG@10, CappedRecall@10):", ""]
    lines += table(["variant", "model", "setting", "seed", "valid", "test NDCG@10", "test CappedRecall@10"],
                   [[v, m, s, seed, f"{results[k]['valid']:.4f}", f"{results[k]['test']['ndcg@10']:.4f}",
                     f"{results[k]['test'].get('cappedrecall@10', float('nan')):.4f}"]
                    for k, v, m, s, seed in jobs if k in results])
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines[: len(lines)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--models", default="DCRMoE,NFMWA")
    parser.add_argument("--seeds", default="2020,2021,2022")
    parser.add_argument("--out", default="results/defaults_selection.md")
    add_run_arguments(parser)
    args = parser.parse_args()
    parse_run_arguments(parser, args, {"variants": VARIANTS})
    args.models, args.seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    prepare_datasets(setting_config(setting, args.data_root, args.extra) for setting in args.settings)
    tag = f"|{json.dumps(args.extra, sort_keys=True)}" if args.extra else ""  # a resumed store never mixes extras
    jobs = [(f"{v}|{m}|{s}|{seed}{tag}", v, m, s, seed)
            for seed in args.seeds for s in args.settings for m in args.models for v in args.variants]
    runs = [(key, m, {**setting_config(s, args.data_root, args.extra), **VARIANTS[v], "seed": seed, "epochs": args.epochs})
            for key, v, m, s, seed in jobs]
    results = run_jobs(runs, args.out + ".json", args.workers)
    report(results, args, jobs)


if __name__ == "__main__":
    main()
