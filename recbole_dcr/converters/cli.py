"""The converters' command line: ``recbole-dcr convert DATASET --raw DIR --out DIR ...``
(also ``python dataset_converters/DATASET.py ...``).

:func:`main` takes the dataset name first and returns the exit status; the
options every dataset shares are declared here, those of one raw format in its
module (``add_arguments``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

from recbole_dcr.converters.build import build
from recbole_dcr.converters.errors import ConversionError
from recbole_dcr.converters.read import require_dir
from recbole_dcr.converters.spec import DEFAULT_BINS, DEFAULT_SEED, DEFAULT_SPLIT, DatasetSpec, LoadedData
from recbole_dcr.converters.stats import format_table1, overlap_statistics
from recbole_dcr.converters.write import check_destination, write_all_or_nothing, write_dataset

DATASETS = ("kwai", "wechat", "kuairand")  # modules of recbole_dcr.converters, imported on demand
PROG = "recbole-dcr convert"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def build_parser(spec: DatasetSpec, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {spec.name}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw", required=True, type=Path, metavar="DIR", help="folder holding the extracted raw download")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="parent output folder; the dataset goes to DIR/<name>/ (give DIR to recbole-dcr train as --data_path)")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS, metavar="K",
                        help=f"number of equal-frequency duration bins (default {DEFAULT_BINS}, as in the paper)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the random split (default {DEFAULT_SEED})")
    parser.add_argument("--split", type=float, nargs=3, default=list(DEFAULT_SPLIT), metavar=("TRAIN", "VALID", "TEST"),
                        help="shares of the (user, item) pairs per split (default 0.6 0.2 0.2, the paper's 6:2:2)")
    parser.add_argument("--eval-label", choices=spec.eval_label_choices, default=spec.eval_label,
                        help=f"raw column used as the evaluation label (default {spec.eval_label})")
    parser.add_argument("--duplicates", choices=("merge", "keep"), default="merge",
                        help="repeated (user, item) rows: merge them into one sample whose labels are the maximum "
                             "(default), or keep every row (all rows of a pair still go to the same split)")
    parser.add_argument("--name", default=spec.name, help=f"dataset name, i.e. folder and file prefix (default {spec.name})")
    parser.add_argument("--force", action="store_true", help="replace DIR/<name>/ if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (the statistics are still printed)")
    return parser


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.bins < 2:
        parser.error("--bins must be at least 2")
    if any(share < 0 for share in args.split) or args.split[0] <= 0:
        parser.error("--split shares must be >= 0 with a positive training share")
    if not _NAME_PATTERN.match(args.name):
        parser.error("--name may only contain letters, digits, '_' and '-'")


def parse_arguments(spec: DatasetSpec, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                    argv: Sequence[str] | None) -> argparse.Namespace:
    """The shared options plus the dataset's own; a usage error exits (SystemExit 2) as argparse does."""
    parser = build_parser(spec, description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    return args


# --------------------------------------------------------------------------
# One conversion
# --------------------------------------------------------------------------


def _options(args: argparse.Namespace, loaded: LoadedData) -> dict[str, object]:
    """The options that shaped the dataset, recorded in its statistics and config."""
    return {
        "bins": args.bins,
        "seed": args.seed,
        "split": list(args.split),
        "eval_label": loaded.eval_label,
        "duplicates": args.duplicates,
        **loaded.options,
    }


def _next_command(spec: DatasetSpec, args: argparse.Namespace, loaded: LoadedData, final: Path) -> str:
    command = f"recbole-dcr train --model=DCRMoE --dataset={args.name} --data_path={args.out}"
    if args.name != spec.name or loaded.eval_label != spec.eval_label:
        # The shipped properties/dataset/<name>.yaml does not describe this variant.
        command += f" --config_files={final / (args.name + '.yaml')}"
    return command


def convert(spec: DatasetSpec, load: Callable[[argparse.Namespace], LoadedData], args: argparse.Namespace) -> dict:
    """Run one conversion; raises ConversionError on bad input. Returns the statistics."""
    started = time.perf_counter()
    check_destination(args.out, args.name, args.force)  # fail before the slow part
    require_dir(args.raw)
    loaded = load(args)
    built = build(loaded, spec, bins=args.bins, seed=args.seed, ratios=args.split, duplicates=args.duplicates,
                  quiet=args.quiet)
    options = _options(args, loaded)
    built.stats.update(overlap_statistics(built.inter, built.items, built.item_field_types))
    built.stats["dataset"] = args.name
    built.stats["options"] = options
    comments = [
        # Kept as it always was, so that converted folders stay byte-identical.
        f"Dataset config for '{args.name}', written by dataset_converters/{spec.name}.py.",
        "Options: " + ", ".join(f"{k}={v}" for k, v in options.items()),
    ]
    final = write_all_or_nothing(args.out, args.name, args.force,
                                 lambda folder: write_dataset(built, spec, folder, args.name, comments, args.quiet))
    built.stats["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(format_table1(args.name, built.stats))
    print(f"wrote {final}/")
    print(f"next: {_next_command(spec, args, loaded, final)}")
    return built.stats


def entry_points(module_name: str) -> tuple[Callable, Callable]:
    """``(convert, main)`` of a dataset module: ``convert(argv)`` parses and converts (raises ConversionError,
    returns the statistics); ``main(argv)`` is ``recbole-dcr convert <dataset> ...`` (returns the exit status)."""
    def convert_argv(argv: Sequence[str] | None = None) -> dict:
        converter = sys.modules[module_name]
        args = parse_arguments(converter.SPEC, converter.DESCRIPTION, converter.add_arguments, argv)
        return convert(converter.SPEC, converter.load, args)

    def main_argv(argv: Sequence[str] | None = None) -> int:
        return main([sys.modules[module_name].SPEC.name, *(sys.argv[1:] if argv is None else argv)])

    return convert_argv, main_argv


def run(converter: ModuleType, argv: Sequence[str]) -> int:
    """Convert with one dataset module (its SPEC, DESCRIPTION, add_arguments and load):
    exit status 0 on success, 2 with a one-line message (no traceback) on bad input."""
    args = parse_arguments(converter.SPEC, converter.DESCRIPTION, converter.add_arguments, argv)
    try:
        convert(converter.SPEC, converter.load, args)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; fix: run on a machine with more RAM or convert a subset of the raw files",
              file=sys.stderr)
        return 2
    return 0


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def dataset_module(name: str) -> ModuleType:
    """The converter of dataset ``name`` (one of DATASETS)."""
    return import_module(f"recbole_dcr.converters.{name}")


def _chooser() -> argparse.ArgumentParser:
    """The parser used when no known dataset name comes first: its help lists the datasets."""
    listed = "\n".join(f"  {name:<10} {dataset_module(name).SPEC.title}" for name in DATASETS)
    parser = argparse.ArgumentParser(
        prog=PROG, usage=f"%(prog)s [-h] {{{','.join(DATASETS)}}} --raw DIR --out DIR [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert a public raw log into RecBole atomic files for DCR.",
        epilog=f"datasets:\n{listed}\n\nOptions of one dataset: {PROG} DATASET --help")
    parser.add_argument("dataset", choices=DATASETS, help="which raw format --raw holds (comes first)")
    return parser


def _exit_status(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    return stop.code if isinstance(stop.code, int) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``main(["kwai", "--raw", RAW, "--out", OUT])``: convert and return the exit status.

    0 on success; 2 on bad input (one ``error: ...`` line on stderr) or a usage
    error (argparse's message). Without a known dataset name first, prints the
    usage listing the datasets (status 0 for --help, 2 otherwise).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] not in DATASETS:
            _chooser().parse_args(argv[:1])  # exits: help, or "invalid choice" / "required"
        return run(dataset_module(argv[0]), argv[1:])
    except SystemExit as stop:  # argparse's --help and usage errors
        return _exit_status(stop)
