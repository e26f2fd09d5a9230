"""Which model should a user pick? Every method of Table 2, each simulator setting, several seeds, with errors.

    python benchmarks/ranking.py [--methods DCRMoE,DCRNFM,...] [--settings hidden_z,...] [--seeds 1,2,3]
        [--workers 2] [--epochs 50] [--out results/ranking.md]

Every method runs with its yaml defaults and early stopping on validation NDCG@10 (patience
``stopping_step``, 10), at most ``--epochs`` epochs, and is tested at its best validation epoch. Seed i
draws a dataset of its own (``sim_seed`` 3000 + i: data that no default was chosen on; the selection of
``select_defaults.py`` uses ``sim_seed`` 2022) and trains with seed 2019 + i. Runs go to ``--workers``
processes (one torch thread each); finished runs are kept in ``<out>.json``.

The report gives, per setting, each method's test mean ± standard error over the seeds, its rank by
mean NDCG@10, DCR-MoE's paired gap to the first (per-seed differences, same data and seed) with its
standard error, and DCR-MoE's RI (the paper's: mean relative gain over CappedRecall, MAP and NDCG at 10).
"""

import argparse
import json
import math
import statistics
import sys

from recbole_dcr.model.experts import PAPER_EXPERTS
from recbole_dcr.research.reports import machine_line, mean_relative_improvement, table, write_markdown
from simulated_runs import (  # benchmarks/ is on the path
    MEANING, add_run_arguments, parse_run_arguments, prepare_datasets, run_jobs, setting_config)

# method name -> (model, config keys on top of its yaml defaults)
METHODS = {
    "DCRMoE": ("DCRMoE", {}),
    "DCRMoE-dropout_0": ("DCRMoE", {"confounder_content_dropout": 0.0}),  # the default before the content dropout
    "DCRMoE-l2_1e-3": ("DCRMoE", {"residual_weight_decay": 1e-3, "confounder_content_dropout": 0.0}),  # the default
    # before the residual L2 of 10
    "DCRMoE-residual": ("DCRMoE", {"confounder_as_content": False, "residual_weight_decay": 1e-3}),  # the default
    # before confounder_as_content
    "DCRMoE-paper": ("DCRMoE", PAPER_EXPERTS),  # the paper's separate experts
    "DCRNFM": ("DCRNFM", {}),
    "NWGMDCR": ("NWGMDCR", {}),
    "NFMWA": ("NFMWA", {}),
    "NFMWOA": ("NFMWOA", {}),
    "IPW": ("IPW", {}),
    "FairGo": ("FairGo", {}),
    "CR": ("CR", {}),
}
FLAGSHIP = "DCRMoE"
# DCR-MoE as its earlier defaults were: rows to show what each default moved, not methods to pick from
ABLATIONS = ("DCRMoE-dropout_0", "DCRMoE-l2_1e-3", "DCRMoE-residual")
METRICS = ("ndcg@10", "cappedrecall@10", "map@10")
DATA_SEED_BASE, TRAIN_SEED_BASE = 3000, 2019


def mean_se(values):
    """(mean, standard error of the mean); the error is NaN for one value."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan"))


def summarise(results, methods, seeds, setting):
    """Per method: mean ± SE of each metric, and the per-seed NDCG@10 (for paired gaps), on one setting."""
    summary = {}
    for method in methods:
        runs = [results.get(run_key(method, setting, seed)) for seed in seeds]
        runs = [run["test"] for run in runs if run is not None]
        if runs:
            summary[method] = {"n": len(runs), "per_seed": [r["ndcg@10"] for r in runs],
                               **{m: mean_se([r[m] for r in runs]) for m in METRICS}}
    return summary


def paired_gap(ours, theirs):
    """Mean and SE of the per-seed difference ours − theirs (the seeds' data and training are the same)."""
    return mean_se([a - b for a, b in zip(ours, theirs)])


def setting_lines(setting, summary):
    ranked = sorted(summary, key=lambda method: -summary[method]["ndcg@10"][0])
    first = ranked[0]
    flagship = summary.get(FLAGSHIP)
    lines = [f"### {MEANING[setting]} (`{setting}`)", ""]
    rows = []
    for rank, method in enumerate(ranked, 1):
        cells = [f"{summary[method][m][0]:.4f} ± {summary[method][m][1]:.4f}" for m in METRICS]
        ri = "-"
        if flagship and method != FLAGSHIP:
            means = {m: summary[FLAGSHIP][m][0] for m in METRICS}
            theirs = {m: summary[method][m][0] for m in METRICS}
            ri = f"{mean_relative_improvement(means, theirs, 10):+.1%}"
        rows.append([rank, f"**{method}**" if method == FLAGSHIP else method, *cells, ri, summary[method]["n"]])
    lines += table(["rank", "method", "NDCG@10", "CappedRecall@10", "MAP@10", f"RI of {FLAGSHIP}", "seeds"], rows)
    if flagship:
        gap, se = paired_gap(flagship["per_seed"], summary[first]["per_seed"]) if first != FLAGSHIP else (0.0, 0.0)
        lines += ["", f"{FLAGSHIP}: rank {ranked.index(FLAGSHIP) + 1} of {len(ranked)}; NDCG@10 gap to the first "
                      f"({first}) {gap:+.4f} ± {se:.4f} (paired over seeds)."]
    return lines + [""], ranked, first


def verdict(summary, ranked, first):
    """(rank, first, gap, SE, within one SE of first?, above NFMWA?) of the flagship on one setting."""
    flagship = summary[FLAGSHIP]
    gap, se = paired_gap(flagship["per_seed"], summary[first]["per_seed"]) if first != FLAGSHIP else (0.0, 0.0)
    above_nfmwa = "NFMWA" not in summary or flagship["ndcg@10"][0] > summary["NFMWA"]["ndcg@10"][0]
    return ranked.index(FLAGSHIP) + 1, first, gap, se, first == FLAGSHIP or -gap <= se, above_nfmwa


def first_method(ranked):
    """The best row that is a method to pick (the paper's DCR-MoE included), not an earlier default."""
    return next(method for method in ranked if method not in ABLATIONS)


def overall_lines(results, methods, seeds, settings):
    """Per method, the mean NDCG@10 over every setting, mean ± SE over the seeds (a seed counts where the
    method ran every setting on it), and the flagship's paired gap to each."""
    per_seed = {}
    for method in methods:
        means = [statistics.fmean(results[run_key(method, s, seed)]["test"]["ndcg@10"] for s in settings)
                 for seed in seeds if all(run_key(method, s, seed) in results for s in settings)]
        if means:
            per_seed[method] = means
    if len(settings) < 2 or not per_seed:
        return []
    ranked = sorted(per_seed, key=lambda method: -statistics.fmean(per_seed[method]))
    rows = []
    for rank, method in enumerate(ranked, 1):
        mean, se = mean_se(per_seed[method])
        gap = "-"
        if FLAGSHIP in per_seed and method != FLAGSHIP and len(per_seed[method]) == len(per_seed[FLAGSHIP]):
            gap = "{:+.4f} ± {:.4f}".format(*paired_gap(per_seed[FLAGSHIP], per_seed[method]))
        rows.append([rank, f"**{method}**" if method == FLAGSHIP else method, f"{mean:.4f} ± {se:.4f}", gap,
                     len(per_seed[method])])
    return (["## Over every setting", "", f"Test NDCG@10 averaged over the {len(settings)} settings, mean ± "
             f"standard error over the seeds.", ""]
            + table(["rank", "method", "mean NDCG@10", f"{FLAGSHIP} − method (paired)", "seeds"], rows) + [""])


def report(results, args):
    lines = ["# Which model to pick: every method, every simulator setting, several seeds", "",
             f"Command: `python {' '.join(sys.argv)}`", "", machine_line(1) + f" {args.workers} runs at a time.", "",
             "Each method at its yaml defaults (" + "; ".join(
                 f"`{name}`: {model} with " + ", ".join(f"`{k}: {v}`" for k, v in keys.items())
                 for name, (model, keys) in METHODS.items() if keys and name in args.methods) + "), "
             f"early stopping on validation NDCG@10 (patience 10, at most {args.epochs} epochs), tested at its best "
             f"validation epoch. Seeds {', '.join(map(str, args.seeds))}: seed i draws its own dataset (`sim_seed` "
             f"{DATA_SEED_BASE} + i, data no default was chosen on) and trains with seed {TRAIN_SEED_BASE} + i. Test "
             "figures: mean ± standard error over the seeds. RI: the paper's, the mean relative gain of "
             f"{FLAGSHIP} over CappedRecall@10, MAP@10 and NDCG@10.", ""]
    summary_rows, sections = [], []
    for setting in args.settings:
        summary = summarise(results, args.methods, args.seeds, setting)
        if not summary:
            continue
        section, ranked, first = setting_lines(setting, summary)
        sections += section
        if FLAGSHIP in summary:
            rank, first, gap, se, within, above = verdict(summary, ranked, first)
            _, best, method_gap, method_se, method_within, _ = verdict(summary, ranked, first_method(ranked))
            summary_rows.append([MEANING[setting], f"{rank} of {len(ranked)}", first, f"{gap:+.4f} ± {se:.4f}",
                                 "yes" if within else "**no**", best, f"{method_gap:+.4f} ± {method_se:.4f}",
                                 "yes" if method_within else "**no**", "yes" if above else "**no**"])
    if summary_rows:
        lines += ["## Summary", "", f"The first row of all, and the first method to pick: every row but {FLAGSHIP} as "
                  f"its earlier defaults were ({', '.join(f'`{m}`' for m in ABLATIONS if m in args.methods)}).", ""]
        lines += table(["setting", f"rank of {FLAGSHIP}", "first", "NDCG@10 gap to the first (paired)",
                        "first or within one SE", "first method", "gap to it (paired)", "first or within one SE of it",
                        "above NFMWA"], summary_rows)
        lines.append("")
    lines += overall_lines(results, args.methods, args.seeds, args.settings)
    lines += ["## Per setting", ""] + sections
    write_markdown(args.out, lines)
    print("\n".join(lines))


def run_key(method, setting, seed):
    return f"{method}|{setting}|{seed}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"from {', '.join(METHODS)}")
    parser.add_argument("--seeds", default="1,2,3", help="seed i: data seed 3000 + i, training seed 2019 + i")
    parser.add_argument("--reuse", action="store_true", help="only re-write the report from the stored runs")
    parser.add_argument("--out", default="results/ranking.md")
    add_run_arguments(parser)
    args = parser.parse_args()
    parse_run_arguments(parser, args, {"methods": METHODS})
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError as error:
        parser.error(f"--seeds takes integers separated by commas ({error})")
    data = {(s, seed): setting_config(s, args.data_root, args.extra, sim_seed=DATA_SEED_BASE + seed)
            for s in args.settings for seed in args.seeds}
    jobs = [(run_key(method, s, seed), METHODS[method][0],
             {**data[s, seed], **METHODS[method][1], "seed": TRAIN_SEED_BASE + seed, "epochs": args.epochs})
            for seed in args.seeds for s in args.settings for method in args.methods]
    store = args.out + ".json"
    if args.reuse:
        results = json.load(open(store, encoding="utf-8"))
    else:
        prepare_datasets(data.values())
        results = run_jobs(jobs, store, args.workers)
    report(results, args)


if __name__ == "__main__":
    main()
