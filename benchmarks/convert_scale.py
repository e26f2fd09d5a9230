"""Full-scale check of the Kwai converter: time and peak memory.

Generates a synthetic ``train/train_interaction.txt`` in the challenge's exact
format (tab-separated, no header, 8 integer columns) at the size of the paper's
Kwai data set (19,429,358 rows, 18,019 users, 422,144 photos), then runs

    python dataset_converters/kwai.py --raw RAW --out OUT

as a child process and reports its wall time and peak resident memory (from
the kernel's accounting of that child). Targets: <= 5 min and <= 8 GB.

    nice python benchmarks/convert_scale.py            # full scale, ~1 GB of raw text in a temp folder
    python benchmarks/convert_scale.py --rows 1000000  # quicker look
    python benchmarks/convert_scale.py --rows 400000 --users 3000 --items 20000 --faces --workdir DIR --keep
                                                       # a small converted Kwai-format dataset with face_count

The synthetic log has heavy-tailed user activity and photo popularity, some
repeated (user, photo) rows, 0.1% photos without a duration, and finishing
that falls with the duration, so the output statistics look plausible; they
say nothing about the real data.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
PAPER_ROWS, PAPER_USERS, PAPER_ITEMS = 19_429_358, 18_019, 422_144
TIME_LIMIT_S, MEMORY_LIMIT_GB = 300, 8.0
CHUNK_ROWS = 2_000_000


def generate_kwai(path: Path, rows: int, users: int, items: int, seed: int, faces: Path | None = None) -> None:
    """Write a train_interaction.txt with ``rows`` lines, chunk by chunk (and a train_face.txt if ``faces``)."""
    rng = np.random.default_rng(seed)
    # Sparse raw ids, as in the real files, and skewed activity / popularity.
    user_ids = np.sort(rng.choice(max(users * 3, 100), users, replace=False))
    photo_ids = np.sort(rng.choice(max(items * 10, 1000), items, replace=False))
    if faces is not None:
        write_faces(faces, photo_ids, seed)
    user_weight = rng.lognormal(0.0, 1.0, users)
    photo_weight = rng.lognormal(0.0, 1.2, items)
    user_cdf = np.cumsum(user_weight / user_weight.sum())
    photo_cdf = np.cumsum(photo_weight / photo_weight.sum())
    duration = np.clip(np.round(rng.lognormal(np.log(12.0), 0.8, items)), 1, 300).astype(np.int64)
    duration[rng.random(items) < 0.001] = 0  # missing durations, which the converter drops
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        while written < rows:
            n = min(CHUNK_ROWS, rows - written)
            user = np.minimum(np.searchsorted(user_cdf, rng.random(n)), users - 1)
            photo = np.minimum(np.searchsorted(photo_cdf, rng.random(n)), items - 1)
            length = duration[photo]
            click = rng.random(n) < 0.25
            # Long photos are finished less often: the confounding the paper is about.
            finishes = rng.random(n) < 1.0 / (1.0 + np.exp(-(1.0 - 0.06 * length)))
            watched = np.where(finishes, length + rng.integers(0, 3, n), np.floor(rng.random(n) * length))
            playing_time = np.where(click, watched, 0).astype(np.int64)
            like = click & (rng.random(n) < 0.04)
            follow = click & (rng.random(n) < 0.002)
            frame = pd.DataFrame({
                "user_id": user_ids[user], "photo_id": photo_ids[photo], "click": click.astype(np.int8),
                "like": like.astype(np.int8), "follow": follow.astype(np.int8),
                "time": 1_525_000_000 + rng.integers(0, 30 * 86_400, n), "playing_time": playing_time,
                "duration_time": length,
            })
            frame.to_csv(handle, sep="\t", header=False, index=False, lineterminator="\n")
            written += n
            print(f"  generated {written:,}/{rows:,} rows", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def write_faces(path: Path, photo_ids: np.ndarray, seed: int) -> None:
    """train_face.txt: 0-3 faces per photo, drawn on a stream of their own and tied to nothing else.

    The converter's ``--faces`` turns it into ``face_count``, a feature that confounds nothing (the
    paper's feature swap, Table 5); the interaction draws are those of a run without faces.
    """
    count = np.random.default_rng([seed, 1]).integers(0, 4, len(photo_ids))
    face = "[0.02, 1, 25, 60]"
    lines = [f"{photo}\t[{', '.join([face] * n)}]" for photo, n in zip(photo_ids, count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def machine_description() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {memory_gb:.1f} GB RAM, {cpu}; "
            f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}; "
            f"niceness {os.nice(0)}")


def run_converter(raw: Path, out: Path, *extra: str) -> tuple[int, float, float, str]:
    """(exit status, wall seconds, peak RSS in GB, stdout) of one conversion."""
    command = [sys.executable, str(REPO_ROOT / "dataset_converters" / "kwai.py"), "--raw", str(raw), "--out", str(out),
               "--force", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, elapsed, usage.ru_maxrss / 1024**2, stdout  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=PAPER_ROWS)
    parser.add_argument("--users", type=int, default=PAPER_USERS)
    parser.add_argument("--items", type=int, default=PAPER_ITEMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where raw and converted files go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated and converted files")
    parser.add_argument("--reuse", action="store_true", help="reuse a raw file already in --workdir")
    parser.add_argument("--faces", action="store_true", help="also write train_face.txt and convert with --faces")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="recbole-dcr-convert-scale-"))
    raw = workdir / "raw"
    raw_file = raw / "train" / "train_interaction.txt"
    try:
        print(f"machine: {machine_description()}")
        if not (args.reuse and raw_file.exists()):
            raw_file.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            generate_kwai(raw_file, args.rows, args.users, args.items, args.seed,
                          faces=raw_file.parent / "train_face.txt" if args.faces else None)
            print(f"generated {raw_file} ({args.rows:,} rows, {raw_file.stat().st_size / 1024**3:.2f} GB) "
                  f"in {time.perf_counter() - started:.0f} s")
        status, elapsed, peak_gb, stdout = run_converter(raw, workdir / "out", *(["--faces"] if args.faces else []))
        print(stdout.rstrip())
        print(f"converter exit status: {status}")
        print(f"conversion wall time: {elapsed:.1f} s (target <= {TIME_LIMIT_S} s)")
        print(f"conversion peak RSS: {peak_gb:.2f} GB (target <= {MEMORY_LIMIT_GB:g} GB)")
        within = status == 0 and elapsed <= TIME_LIMIT_S and peak_gb <= MEMORY_LIMIT_GB
        print("result: " + ("within both targets" if within else "TARGET MISSED"))
        return 0 if within else 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
