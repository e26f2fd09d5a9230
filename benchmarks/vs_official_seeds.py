"""Seed spread of vs_official: several reports of ``benchmarks/vs_official.py`` merged per model.

    python benchmarks/vs_official_seeds.py REPORT.md [REPORT.md ...] [--out=results/vs_official_seeds.md]

Each report is one run (one ``--seed``, or each side's own seed when none was given). For every model
row found in the reports this prints the test NDCG@10 and CappedRecall@10 of both sides per run, then
their means over the runs and the gap of the means: a gap smaller than the runs' own spread is noise.
"""

import argparse
import re
import statistics
import sys
from pathlib import Path

METRICS = ("NDCG@10", "CappedRecall@10")


def read_report(path):
    """(seed label, {model: {metric: (plugin, official)}}) from one vs_official report's @10 table."""
    text = Path(path).read_text()
    command = re.search(r"Command: `([^`]*)`", text)
    if command is None or "vs_official.py" not in command.group(1):
        raise SystemExit(f"vs_official_seeds: {path} is not a report of benchmarks/vs_official.py (no Command line)")
    seed = re.search(r"--seed=(\d+)", command.group(1))
    label = seed.group(1) if seed else "each side's own (2020 / 1024)"
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 12 and re.fullmatch(r"\d\.\d{4}", cells[1]):  # the @10 table: 12 columns
            rows[cells[0]] = {"NDCG@10": (float(cells[1]), float(cells[2])),
                              "CappedRecall@10": (float(cells[4]), float(cells[5]))}
    if not rows:
        raise SystemExit(f"vs_official_seeds: {path} has no @10 table")
    return label, rows


def gap(plugin, official):
    return f"{100 * (plugin / official - 1):+.1f}%"


def report(runs, argv):
    models = list(dict.fromkeys(m for _, rows in runs for m in rows))
    lines = ["# vs_official over several seeds", "", f"Command: `python {' '.join(argv)}`", "",
             "Test metrics of each run (plugin / official, gap), then the means over the runs that have the row. "
             "A run's seed is the one both sides used (`--seed`), or each side's own default.", ""]
    for model in models:
        have = [(label, rows[model]) for label, rows in runs if model in rows]
        lines += [f"## {model}", "", "| seed | NDCG@10 plugin / official | gap | CappedRecall@10 plugin / official | gap |",
                  "|---|---|---|---|---|"]
        for label, row in have:
            cells = [f"{row[m][0]:.4f} / {row[m][1]:.4f} | {gap(*row[m])}" for m in METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        means = {m: tuple(statistics.fmean(row[m][side] for _, row in have) for side in (0, 1)) for m in METRICS}
        below = {m: sum(row[m][0] < row[m][1] for _, row in have) for m in METRICS}
        cells = [f"**{means[m][0]:.4f} / {means[m][1]:.4f}** | **{gap(*means[m])}** ({below[m]} of {len(have)} below)"
                 for m in METRICS]
        lines.append(f"| mean of {len(have)} | " + " | ".join(cells) + " |")
        if len(have) > 1:
            spread = [f"{m} sd over runs: plugin {statistics.stdev(r[m][0] for _, r in have):.4f}, official "
                      f"{statistics.stdev(r[m][1] for _, r in have):.4f}" for m in METRICS]
            lines += ["", "; ".join(spread) + "."]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", help="reports written by benchmarks/vs_official.py")
    parser.add_argument("--out", default=None, help="also write the table here (markdown)")
    args = parser.parse_args(argv)
    text = report([read_report(p) for p in args.reports], ["benchmarks/vs_official_seeds.py", *argv])
    print(text)
    if args.out:
        from recbole_dcr.files import write_text

        write_text(args.out, text)


if __name__ == "__main__":
    main()
