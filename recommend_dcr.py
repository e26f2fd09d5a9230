"""Write deconfounded top-N lists from a saved recbole_dcr checkpoint, in raw user and item ids.

    python recommend_dcr.py --checkpoint=saved --users=0,1,2 --topk=10 --exclude_train --output=top10.tsv

--checkpoint takes a .pth file or a folder (its newest .pth).  Candidates: every item (default), the
items listed in a file (--candidates=items.txt, one raw id a line), or each user's own rows of a split
(--candidates=split:test).  DCR models rank by P(y|u, do(x)); --conditional ranks by P(y|u, x, a).
"""

import argparse
import warnings
import glob
import os

from recbole.utils import init_logger

from recbole_dcr.recommend import load_data_and_model, recommend


def newest_checkpoint(path):
    if os.path.isdir(path):
        files = glob.glob(os.path.join(path, "*.pth"))
        if not files:
            raise SystemExit(f"no .pth checkpoint in {path}: train a model first (python run_recbole_dcr.py)")
        return max(files, key=os.path.getmtime)
    return path


def read_ids(text_or_file):
    if os.path.isfile(text_or_file):
        with open(text_or_file, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    return [token for token in text_or_file.split(",") if token]


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message="A value is trying to be set on a copy", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="saved", help="checkpoint file, or a folder (newest .pth)")
    parser.add_argument("--users", required=True, help="comma-separated raw user ids, or a file with one per line")
    parser.add_argument("--candidates", default="all", help="all | split:train|valid|test | FILE of raw item ids")
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--exclude_train", action="store_true", help="drop items the user has in training")
    parser.add_argument("--conditional", action="store_true", help="rank DCR models by P(y|u,x,a) instead")
    parser.add_argument("--output", default="recommendations.tsv", help=".tsv or .csv")
    parser.add_argument("--batch_size", type=int, default=65536, help="(user, item) pairs scored at once")
    args, _ = parser.parse_known_args()

    checkpoint = newest_checkpoint(args.checkpoint)
    config, model, dataset, train, valid, test = load_data_and_model(checkpoint, {"show_progress": True})
    init_logger(config)
    splits = {"train": train, "valid": valid, "test": test}
    if args.candidates.startswith("split:"):
        candidates, split = "split", splits[args.candidates.split(":", 1)[1]]
    else:
        candidates, split = ("all" if args.candidates == "all" else read_ids(args.candidates)), None
    lists = recommend(
        model, dataset, train, read_ids(args.users), candidates, args.topk, args.exclude_train, args.conditional,
        args.batch_size, split, show_progress=True,
    )
    separator = "," if args.output.endswith(".csv") else "\t"
    lists.to_csv(args.output + ".tmp", sep=separator, index=False)
    os.replace(args.output + ".tmp", args.output)
    print(f"{checkpoint}: top-{args.topk} of {lists['user'].nunique()} users written to {args.output}")
    print(lists.head(2 * args.topk).to_string(index=False))
