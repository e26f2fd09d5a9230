"""The ``recbole-dcr`` command: one front door for training, research runs, tuning, top-N lists and converters.

    recbole-dcr train --model=DCRMoE [--dataset=NAME] [--config_files="a.yaml b.yaml"] [--key=value ...]
    recbole-dcr train --model=DCRMoE [the same flags] --resume=saved     # continue a killed run
    recbole-dcr experiments --models=DCRMoE,NFMWA [--grid='{"learning_rate": [0.01, 0.001]}']
    recbole-dcr analysis --analysis=cost,groups,users,swap --swap_field=category
    recbole-dcr tune --model=DCRMoE --params_file=hyper/DCRMoE.hyper [--tool=ray]
    recbole-dcr recommend --checkpoint=saved --users=0,1,2 --topk=10
    recbole-dcr doctor [--dataset=NAME] [--epsilon=0.01] [--out=FILE.md]
    recbole-dcr convert kwai --raw RAW_DIR --out dataset

The argument definitions live here and the work in the modules each subcommand names, which are
imported only when that subcommand runs (``--help`` and ``convert`` start without torch).
"""

import argparse
import sys
import warnings

OVERRIDES_HELP = (
    "Any config key (RecBole's, the plugin's or the model's yaml keys; see properties/) can be given as "
    "--key=value, e.g. --epochs=20 --learning_rate=0.001 --embedding_size=32. It overrides the yaml defaults, "
    "--config_files and everything else. A key that nothing reads gets a warning with the closest known key."
)


ANALYSES_HELP = """The paper's analyses on any prepared dataset: Markdown tables and PNG plots under --output_dir.

  cost    Table 4: NFMWA, DCRNFM, NWGMDCR and DCRMoE score the test rows; backbone and MLP passes per
          candidate (counted on the real forward passes) and seconds per 1M candidates.
  groups  Fig. 7: each model's mean prediction per confounder value over the test rows, softmax-normalised,
          next to GT (the mean evaluation label), with each curve's distance to GT.
  users   Fig. 4: active users (top --active_train_share by training rows ∩ top --active_positive_share by
          positive test labels) and the other evaluated users; each model's metrics and DCR-MoE's RI.
  swap    Table 5: every model again with --swap_field (a non-confounding token feature) as A.
Models are trained once per run and shared by the analyses."""


DOCTOR_HELP = """Is the dataset's confounder A suitable for DCR's backdoor adjustment? Over the training rows:

  rho1, rho2  Pearson(A, training label), Pearson(A, evaluation label) and |rho1/rho2| (the paper's Table 1).
  P(A)        each value's share, normalised entropy and max/min ratio.
  overlap     how far P(a | content) is from P(a): 1 = A independent of the item content (the item's token
              features other than A), 0 = A set by it. DCR's sum over a scores every item with every expert,
              so low overlap means experts scored on content they never saw in training.
Ends with a verdict (good / partial / low / not measurable) and what to do."""


def _parser(subparsers, name, help_text, description=None):
    parser = subparsers.add_parser(name, help=help_text, description=description or help_text, epilog=OVERRIDES_HELP,
                                   allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def _data_arguments(parser, model_default="DCRMoE"):
    if model_default is not None:
        parser.add_argument("--model", "-m", default=model_default, help=f"model name (default {model_default})")
    parser.add_argument("--dataset", "-d", default=None, help="dataset name (default: dcr_sim, the embedded simulator)")
    parser.add_argument("--config_files", default=None, help="config files, separated by spaces")


def version_text():
    """``recbole-dcr X (recbole Y, torch Z, Python W)``: what a bug report needs, read without importing torch."""
    from importlib.metadata import PackageNotFoundError, version

    from recbole_dcr.version import __version__

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"recbole-dcr {__version__} (recbole {installed('recbole')}, torch {installed('torch')}, "
            f"Python {sys.version.split()[0]})")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="recbole-dcr", description="Deconfounding Causal Recommendation (DCR) for RecBole.",
        epilog=OVERRIDES_HELP, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = _parser(subparsers, "train", "train and test one model (RecBole's run_recbole.py)")
    _data_arguments(train)
    train.add_argument("--list-models", action="store_true", help="list the model names and exit")
    train.add_argument("--nproc", type=int, default=1, help="processes on this machine (one per GPU, or CPU/gloo)")
    train.add_argument("--ip", default="localhost", help="address of the machine of rank 0")
    train.add_argument("--port", default="5678", help="free port on the machine of rank 0")
    train.add_argument("--world_size", type=int, default=-1, help="processes on all machines (default: nproc)")
    train.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")
    train.add_argument("--resume", default=None, metavar="PATH",
                       help="continue a killed run, given the same flags: its training state file "
                            "(<model file>.state.pt) or a checkpoint folder (its newest unfinished state of this "
                            "model and dataset)")

    experiments = _parser(subparsers, "experiments", "several models, one protocol, the paper's Table 2/3 shapes")
    _data_arguments(experiments, model_default=None)
    experiments.add_argument("--models", default="DCRMoE,DCRNFM,NWGMDCR,MoE,NFMWA,NFMWOA,IPW,FairGo,CR",
                             help="comma-separated model names")
    experiments.add_argument("--grid", default="{}", help='JSON {"key": [values]} tuned on validation per model')
    experiments.add_argument("--out", default=None, help="Markdown output (default: results/experiments_<dataset>.md)")

    analysis = _parser(subparsers, "analysis", "the paper's analyses: inference cost, group averages, user groups, "
                       "feature swap", description=ANALYSES_HELP)
    _data_arguments(analysis, model_default=None)
    analysis.add_argument("--analysis", default="cost,groups", help="comma-separated: cost, groups, users, swap")
    analysis.add_argument("--models", default="DCRMoE,NFMWA,NFMWOA,IPW,CR",
                          help="models compared by the groups, users and swap analyses")
    analysis.add_argument("--output_dir", default="analysis")
    analysis.add_argument("--repeats", type=int, default=3, help="timed passes of the cost analysis (best kept)")
    analysis.add_argument("--active_train_share", type=float, default=0.4, help="users: top share by training rows")
    analysis.add_argument("--active_positive_share", type=float, default=0.5,
                          help="users: top share by positive test labels")
    analysis.add_argument("--swap_field", default=None, help="swap: the non-confounding feature put in A's place")

    tune = _parser(subparsers, "tune", "hyper-parameter search: RecBole's HyperTuning, or Ray Tune + ASHA")
    _data_arguments(tune)
    tune.add_argument("--params_file", default="hyper/DCRMoE.hyper", help="RecBole params file (see hyper/)")
    tune.add_argument("--output_file", default="hyper_result.txt")
    tune.add_argument("--tool", default="hyperopt", choices=["hyperopt", "ray"])
    hyperopt = tune.add_argument_group("hyperopt")
    hyperopt.add_argument("--algo", default="exhaustive", help="exhaustive (grid), random or bayes")
    hyperopt.add_argument("--max_evals", type=int, default=100, help="trials for random / bayes")
    ray = tune.add_argument_group("ray")
    ray.add_argument("--cpus_per_trial", type=float, default=1)
    ray.add_argument("--gpus_per_trial", type=float, default=0)
    ray.add_argument("--num_samples", type=int, default=1, help="samples of the space (the grid is repeated)")
    ray.add_argument("--address", default=None, help="a running Ray cluster: auto or host:port")
    ray.add_argument("--num_cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    ray.add_argument("--storage_path", default="ray_results", help="where Ray keeps trial folders")
    ray.add_argument("--grace_period", type=int, default=None, help="ASHA's first rung (default: stopping_step)")
    ray.add_argument("--reduction_factor", type=int, default=2, help="ASHA's reduction factor")

    recommend = _parser(subparsers, "recommend", "top-N lists in raw ids from a saved model")
    recommend.add_argument("--checkpoint", default="saved", help="checkpoint file, or a folder (its newest .pth)")
    recommend.add_argument("--dataset", "-d", default=None,
                           help="refuse a checkpoint of another dataset (in a folder: take the newest of this one)")
    recommend.add_argument("--users", required=True, help="comma-separated raw user ids, or a file with one per line")
    recommend.add_argument("--candidates", default="all", help="all | split:train|valid|test | FILE of raw item ids")
    recommend.add_argument("--topk", type=int, default=10)
    recommend.add_argument("--exclude_train", action="store_true", help="drop items the user has in training")
    recommend.add_argument("--conditional", action="store_true", help="rank DCR models by P(y|u,x,a) instead")
    recommend.add_argument("--output", default="recommendations.tsv", help=".tsv or .csv")
    recommend.add_argument("--batch_size", type=int, default=65536, help="(user, item) pairs scored at once")

    doctor = _parser(subparsers, "doctor", "is the confounder suitable for DCR? Table 1's rho1/rho2, P(A), and the "
                     "overlap of A given the item content, with a verdict", description=DOCTOR_HELP)
    _data_arguments(doctor, model_default=None)
    doctor.add_argument("--epsilon", type=float, default=0.01,
                        help="a value a with P(a) >= epsilon is lacking for content x when P(a|x) < epsilon")
    doctor.add_argument("--out", default=None, help="also write the report as Markdown to this file")

    convert = subparsers.add_parser("convert", help="raw Kwai / Wechat / KuaiRand logs -> RecBole atomic files",
                                    add_help=False)
    convert.add_argument("converter_args", nargs=argparse.REMAINDER)
    return parser


def _split_files(args):
    if getattr(args, "config_files", None):
        args.config_files = args.config_files.strip().split(" ")
    return args


def _train(args, overrides):
    from recbole_dcr.checkpoint import ResumeError
    from recbole_dcr.quick_start import run
    from recbole_dcr.registry import PLUGIN_MODELS, RECBOLE_MODELS

    if args.list_models:
        print("plugin models:", ", ".join(PLUGIN_MODELS))
        print("RecBole context-aware models:", ", ".join(RECBOLE_MODELS))
        return 0
    try:
        run(model=args.model, dataset=args.dataset, config_file_list=args.config_files, nproc=args.nproc,
            world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset,
            command_line=overrides, resume=args.resume)
    except ResumeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _delegate(module_name):
    def handler(args, overrides):
        from importlib import import_module

        return import_module(module_name).main(args, overrides)

    return handler


HANDLERS = {
    "train": _train,
    "experiments": _delegate("recbole_dcr.research.experiments"),
    "analysis": _delegate("recbole_dcr.research.analysis"),
    "tune": _delegate("recbole_dcr.research.tuning"),
    "recommend": _delegate("recbole_dcr.recommend"),
    "doctor": _delegate("recbole_dcr.research.doctor"),
}


def quiet_known_warnings():
    """Warnings that say nothing to a user of this command."""
    # RecBole 1.2.1 fills NaN with chained inplace calls; harmless on pandas < 3 (pinned).
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"`torch.cuda.amp.GradScaler", category=FutureWarning)


def main(argv=None):
    """Run one subcommand; returns the exit status (2 for a bad name or bad input, with one line on stderr)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "convert":
        from recbole_dcr.converters.cli import main as convert

        return convert(args.converter_args + rest)
    not_overrides = [arg for arg in rest if not (arg.startswith("--") and "=" in arg)]
    if not_overrides:
        parser.error(f"unrecognized arguments: {' '.join(not_overrides)} (config overrides look like --key=value)")
    quiet_known_warnings()
    from recbole_dcr.config import ConfigError
    from recbole_dcr.data.dataset import DatasetError
    from recbole_dcr.registry import SettingError, UnknownModelError

    try:
        return HANDLERS[args.command](_split_files(args), rest)
    except (UnknownModelError, SettingError, DatasetError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
