"""DCR-MoE vs NFM-WA vs NFM-WOA on the four X-A structures of the paper (Fig. 1, Fig. 3 a-c).

    python benchmarks/structures.py [--models DCRMoE,NFMWA,NFMWOA] [--reuse] [--out results/structures.md]

For each ``sim_structure`` it runs ``recbole-dcr experiments`` on a simulated dataset of its own
(``dataset/sim_<structure>``), which writes ``results/structure_<structure>.md``, then gathers the
overall tables into one summary. ``--reuse`` summarises result files that already exist instead of
training again. Extra ``--key=value`` flags go to every run.
"""

import argparse
import os
import re
import subprocess
import sys

from recbole_dcr.data.simulator import STRUCTURES
from recbole_dcr.files import write_text

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MEANING = {
    "hidden_z": "hidden creator Z sets X and A (Fig. 1, the default)",
    "a_causes_x": "A -> X (Fig. 3a)",
    "x_causes_a": "X -> A (Fig. 3b)",
    "independent": "A independent of X (Fig. 3c)",
}


def overall_rows(path):
    """{model: {column: cell}} of the first table of a ``recbole-dcr experiments`` file (the first RI is @10)."""
    header, rows = None, {}
    for line in open(path, encoding="utf-8").read().split("## Overall", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None and cells[0] == "model":
            header = cells
        elif header and len(cells) == len(header) and re.match(r"^\d", cells[1]):
            row = {}
            for column, cell in zip(header, cells):
                row.setdefault(column, cell)  # the first RI column is the @10 one
            rows[cells[0]] = row
        elif rows and not line.startswith("|"):
            break
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="DCRMoE,NFMWA,NFMWOA")
    parser.add_argument("--reuse", action="store_true", help="summarise existing results/structure_*.md")
    parser.add_argument("--out", default="results/structures.md")
    args, extra = parser.parse_known_args()
    files = {}
    for structure in STRUCTURES:
        files[structure] = os.path.join("results", f"structure_{structure}.md")
        if args.reuse and os.path.isfile(os.path.join(REPO_ROOT, files[structure])):
            continue
        subprocess.run([sys.executable, "-m", "recbole_dcr", "experiments", f"--models={args.models}",
                        f"--sim_structure={structure}", f"--data_path=dataset/sim_{structure}",
                        f"--out={files[structure]}", *extra], cwd=REPO_ROOT, check=True)
    models = args.models.split(",") + ["oracle (true match)"]
    lines = ["# DCR-MoE across the X-A structures of the paper (simulated data)", "",
             f"Command: `python {' '.join(sys.argv)}`; per-structure details (and each run's command) in "
             + ", ".join(f"`{path}`" for path in files.values()) + ".", "",
             "NDCG@10 on the test split (RI: DCR-MoE's relative improvement over the model, averaged over "
             "the paper's CappedRecall@10, MAP@10 and NDCG@10).", "",
             "| structure | " + " | ".join(models) + " | " + " | ".join(f"RI vs {m}" for m in models[1:-1]) + " |",
             "|---|" + "---|" * (2 * len(models) - 2)]
    for structure, path in files.items():
        rows = overall_rows(os.path.join(REPO_ROOT, path))
        lines.append(f"| {MEANING[structure]} | " + " | ".join(rows[m]["NDCG@10"] for m in models) + " | "
                     + " | ".join(rows[m]["RI"] for m in models[1:-1]) + " |")
    write_text(os.path.join(REPO_ROOT, args.out), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
