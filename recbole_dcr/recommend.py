"""Top-N lists from a saved model, in the raw ids the user knows.

:func:`load_data_and_model` rebuilds the Config, the dataset's id mappings and the model from a
recbole_dcr checkpoint (``torch.load(weights_only=True)``) and refuses a checkpoint whose data or
model version differ.  :func:`recommend` scores (user, candidate) pairs in batches of whole users
(and, for long candidate lists, of item chunks) and keeps a running top-N per user, so memory does
not grow with users × items.  DCR models rank by the deconfounded score P(y|u, do(x)) unless
``conditional=True`` asks for P(y|u, x, a).
"""

import json
import sys
from logging import getLogger

import numpy as np
import pandas as pd
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_seed
from tqdm import tqdm

from recbole_dcr.checkpoint import load_checkpoint
from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset
from recbole_dcr.data.dataset import dataset_fingerprint
from recbole_dcr.model.layers import ConfounderAwareRecommender
from recbole_dcr.registry import get_model, refused_settings


def load_data_and_model(model_file, config_dict=None):
    """(config, model, dataset, train, valid, test) of a saved recbole_dcr checkpoint, model in eval mode."""
    checkpoint = load_checkpoint(model_file)
    overrides = json.loads(checkpoint["external_config"])
    overrides.update(config_dict or {})
    config = Config(model=checkpoint["model"], dataset=checkpoint["dataset"], config_dict=overrides, command_line=[])
    init_seed(config["seed"], config["reproducibility"])  # the same split as in training
    dataset = create_dataset(config)
    train, valid, test = dataset.build()

    saved, current = checkpoint["dataset_fingerprint"], dataset_fingerprint(train)
    changed = sorted(f for f in set(saved) | set(current) if saved.get(f) != current.get(f))
    if changed:
        raise ValueError(
            f"{model_file} was trained on other data than {config['data_path']} holds now: the id mappings of "
            f"{changed} differ (e.g. {changed[0]}: {saved.get(changed[0], ['absent'])[0]} tokens then, "
            f"{current.get(changed[0], ['absent'])[0]} now). Point data_path at the training data."
        )
    with refused_settings(config["model"]):
        model = get_model(config["model"])(config, train).to(config["device"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise ValueError(
            f"{model_file}: its {checkpoint['model']} weights (recbole_dcr {checkpoint['recbole_dcr_version']}) do "
            f"not fit this version's {config['model']}: {str(error).splitlines()[0]}"
        ) from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model.eval()
    return config, model, dataset, train, valid, test


def _known_ids(dataset, field, raw_ids, what):
    """Internal ids of the raw ids that exist; one warning lists the unknown ones."""
    mapping = dataset.field2token_id[field]
    raw_ids = [str(r) for r in raw_ids]
    unknown = [r for r in raw_ids if r not in mapping]
    if unknown:
        getLogger().warning(
            f"{len(unknown)} unknown {what} id(s) skipped: {unknown[:20]}{' ...' if len(unknown) > 20 else ''}"
        )
    return np.array([mapping[r] for r in raw_ids if r in mapping], dtype=np.int64)


def _items_by_user(split, users):
    """{internal user id: array of internal item ids} of a split's rows."""
    frame = pd.DataFrame(
        {"u": split.inter_feat[split.uid_field].numpy(), "i": split.inter_feat[split.iid_field].numpy()}
    )
    frame = frame[frame.u.isin(users)]
    return {u: group.to_numpy() for u, group in frame.groupby("u")["i"]}


def _score(model, dataset, users, items, conditional):
    interaction = dataset.join(Interaction({dataset.uid_field: users, dataset.iid_field: items}))
    interaction = interaction.to(next(model.parameters()).device)
    if conditional and isinstance(model, ConfounderAwareRecommender):
        return torch.sigmoid(model.forward(interaction))  # P(y|u, x, a) with the item's observed a
    return model.predict(interaction)


@torch.no_grad()
def recommend(model, dataset, train, users, candidates="all", topk=10, exclude_train=False, conditional=False,
              batch_size=65536, split=None, show_progress=False):
    """Top-``topk`` items per user as a DataFrame ``user, rank, item, score`` in raw ids.

    ``candidates``: ``"all"`` (every item), a list of raw item ids, or ``"split"`` with ``split`` a built
    split (each user's own rows there).  ``exclude_train`` drops the items a user has in ``train``.
    """
    uid, iid = dataset.uid_field, dataset.iid_field
    user_ids = np.array(list(dict.fromkeys(_known_ids(dataset, uid, users, "user").tolist())), dtype=np.int64)
    if isinstance(candidates, str) and candidates == "split":
        per_user = _items_by_user(split, set(user_ids.tolist()))
        shared = None
    else:
        shared = (
            np.arange(1, dataset.item_num) if isinstance(candidates, str) and candidates == "all"
            else np.unique(_known_ids(dataset, iid, candidates, "item"))
        )
    seen = _items_by_user(train, set(user_ids.tolist())) if exclude_train else {}

    def segments():
        """(user, item chunk, is the user's last chunk) pieces of at most batch_size pairs, user after user."""
        for user in user_ids.tolist():
            items = shared if shared is not None else per_user.get(user, np.zeros(0, dtype=np.int64))
            if user in seen:
                items = items[~np.isin(items, seen[user])]
            starts = range(0, len(items), batch_size)
            for start in starts:
                yield user, items[start : start + batch_size], start == starts[-1]

    best = {}  # user -> (scores, items) of its running top-k

    def score_batch(batch):
        users = np.concatenate([np.full(len(items), user) for user, items, _ in batch])
        items = np.concatenate([items for _, items, _ in batch])
        scores = _score(model, dataset, torch.from_numpy(users), torch.from_numpy(items), conditional).float().cpu()
        offset = 0
        for user, chunk, _ in batch:
            chunk_scores = scores[offset : offset + len(chunk)]
            offset += len(chunk)
            old_scores, old_items = best.get(user, (torch.zeros(0), torch.zeros(0, dtype=torch.long)))
            merged_scores = torch.cat([old_scores, chunk_scores])
            merged_items = torch.cat([old_items, torch.from_numpy(chunk)])
            keep = torch.topk(merged_scores, min(topk, len(merged_scores))).indices
            best[user] = (merged_scores[keep], merged_items[keep])

    batch, pairs = [], 0
    progress = tqdm(total=len(user_ids), desc="Recommend", ncols=100, disable=not show_progress)
    for segment in segments():
        if pairs + len(segment[1]) > batch_size and batch:
            score_batch(batch)
            progress.update(sum(last for _, _, last in batch))
            batch, pairs = [], 0
        batch.append(segment)
        pairs += len(segment[1])
    if batch:
        score_batch(batch)
        progress.update(sum(last for _, _, last in batch))
    progress.close()

    results = []
    for user in user_ids.tolist():
        if user not in best:
            continue
        scores, items = best[user]
        order = np.lexsort((items.numpy(), -scores.numpy()))  # higher score first, ties by lower internal id
        results += [(user, rank, int(items[p]), float(scores[p])) for rank, p in enumerate(order, start=1)]

    frame = pd.DataFrame(results, columns=["user", "rank", "item", "score"])
    frame["user"] = dataset.id2token(uid, frame["user"].to_numpy()) if len(frame) else []
    frame["item"] = dataset.id2token(iid, frame["item"].to_numpy()) if len(frame) else []
    return frame


# ---------------------------------------------------------------------------- command line
class RecommendError(ValueError):
    """A checkpoint or request the recommend command cannot serve; the message says why and what to do."""


def _load(path):
    """A model checkpoint, or :class:`RecommendError` naming the file, why it cannot be used and the fix."""
    import os

    fix = "fix: give a .pth file written by recbole-dcr train, or its folder (default saved/)"
    if not os.path.isfile(path):
        raise RecommendError(f"--checkpoint={path}: no such file or folder (working directory {os.getcwd()}); {fix}")
    try:
        return load_checkpoint(path)
    except ValueError as error:  # read, but not a model checkpoint of ours (a training state, RecBole's own)
        raise RecommendError(str(error)) from None
    except Exception as error:  # noqa: BLE001  (torch.load fails on a foreign file in many ways, KeyError among them)
        reason = f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__
        raise RecommendError(f"--checkpoint={path} is not a file torch can load ({reason}); {fix}") from None


def choose_checkpoint(path, dataset=None):
    """(file, checkpoint) to recommend from: ``path`` itself, or the newest ``.pth`` in a folder.

    With ``dataset``, a folder's newest checkpoint *of that dataset* is taken, and a file of another
    dataset is refused: a model scores only the ids it was trained with.
    """
    import glob
    import os

    if not os.path.isdir(path):
        checkpoint = _load(path)
        if dataset and checkpoint["dataset"] != dataset:
            raise RecommendError(f"{path} holds {checkpoint['model']} trained on '{checkpoint['dataset']}', not on "
                                 f"--dataset={dataset}; pass a checkpoint of {dataset}, or drop --dataset")
        return path, checkpoint
    files = sorted(glob.glob(os.path.join(path, "*.pth")), key=os.path.getmtime, reverse=True)
    if not files:
        raise RecommendError(f"no .pth checkpoint in {path}: train a model first (recbole-dcr train --model=DCRMoE)")
    seen = []
    for file in files:
        checkpoint = _load(file)
        if not dataset or checkpoint["dataset"] == dataset:
            return file, checkpoint
        seen.append(checkpoint["dataset"])
    raise RecommendError(f"no checkpoint of --dataset={dataset} in {path} (it holds checkpoints of "
                         f"{sorted(set(seen))}); train one first, or pass another --dataset")


def read_ids(text_or_file):
    """Raw ids from a comma-separated list, or from a file with one id a line."""
    import os

    if os.path.isfile(text_or_file):
        with open(text_or_file, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    return [token for token in text_or_file.split(",") if token]


def main(args, overrides):
    """``recbole-dcr recommend``: top-N lists in raw ids, written to --output; exit 1 if no user got a list."""
    import os

    from recbole.utils import init_logger

    from recbole_dcr.files import atomic_path

    try:
        checkpoint_file, checkpoint = choose_checkpoint(args.checkpoint, args.dataset)
    except RecommendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{checkpoint_file}: {checkpoint['model']} trained on dataset '{checkpoint['dataset']}'")
    config_dict = {"show_progress": sys.stderr.isatty(), **Config.parse_command_line(overrides)}
    config, model, dataset, train, valid, test = load_data_and_model(checkpoint_file, config_dict)
    init_logger(config)
    splits = {"train": train, "valid": valid, "test": test}
    if args.candidates.startswith("split:"):
        candidates, split = "split", splits[args.candidates.split(":", 1)[1]]
    else:
        candidates, split = ("all" if args.candidates == "all" else read_ids(args.candidates)), None
    lists = recommend(model, dataset, train, read_ids(args.users), candidates, args.topk, args.exclude_train,
                      args.conditional, args.batch_size, split, show_progress=config["show_progress"])
    if lists.empty:
        print(f"error: no list written: none of the users {args.users!r} has a candidate in dataset "
              f"'{checkpoint['dataset']}' (unknown ids are listed above); nothing was written to {args.output}",
              file=sys.stderr)
        return 1
    separator = "," if args.output.endswith(".csv") else "\t"
    with atomic_path(args.output, suffix=os.path.splitext(args.output)[1]) as tmp_path:
        lists.to_csv(tmp_path, sep=separator, index=False)
    print(f"top-{args.topk} of {lists['user'].nunique()} users written to {args.output}")
    print(lists.head(2 * args.topk).to_string(index=False))
    return 0
