"""Report writers shared by the experiments, analyses, tuning and benchmarks: Markdown, PNG, RI.

Every report is written atomically (:mod:`recbole_dcr.files`) and starts with the command that made it.
"""

import os
import platform
import sys

import numpy as np

from recbole_dcr.files import atomic_path, write_text

# The paper's three metrics (Table 2): its Recall is hits / min(#positives, K), RecBole's CappedRecall.
PAPER_METRICS = ("cappedrecall", "map", "ndcg")


def command_line():
    """The command that is running, as a user would type it again."""
    program = os.path.basename(sys.argv[0])
    if program in ("__main__.py", "-m"):
        program = "python -m recbole_dcr"
    elif program.endswith(".py"):
        program = f"python {os.path.relpath(sys.argv[0])}"
    return " ".join([program, *sys.argv[1:]])


def machine_line(threads=None):
    """One line on where a timing was made."""
    import torch

    threads = threads or torch.get_num_threads()
    cpu = platform.processor() or platform.machine()
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return (f"Machine: {os.cpu_count()} cores ({cpu}), {memory_gb:.1f} GB RAM, {threads} torch thread(s), "
            f"Python {platform.python_version()}, torch {torch.__version__}.")


def write_markdown(path, lines):
    """``lines`` joined into a Markdown file, written atomically."""
    write_text(path, "\n".join(lines) + "\n")


def table(header, rows):
    """Markdown table lines from a header list and rows of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows
    ]


def relative_improvement(ours, theirs):
    """(ours − theirs) / theirs, the paper's RI of one metric (NaN when theirs is 0)."""
    return (ours - theirs) / theirs if theirs else float("nan")


def mean_relative_improvement(ours, theirs, k, metrics=PAPER_METRICS):
    """The paper's RI at cut-off k (Table 2): the mean RI over its Recall (capped), MAP and NDCG of two result dicts."""
    return float(np.mean([relative_improvement(ours[f"{m}@{k}"], theirs[f"{m}@{k}"]) for m in metrics]))


def save_figure(figure, path):
    """Write a matplotlib figure as a PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".png") as tmp_path:
        figure.savefig(tmp_path, dpi=120, format="png")
    plt.close(figure)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (the analyses' extra: pip install -e '.[analysis]')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
