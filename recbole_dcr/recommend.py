"""Top-N lists from a saved model, in the raw ids the user knows.

:func:`load_data_and_model` rebuilds the Config, the dataset's id mappings and the model from a
recbole_dcr checkpoint (``torch.load(weights_only=True)``) and refuses a checkpoint whose data or
model version differ.  :func:`recommend` scores (user, candidate) pairs in batches of whole users
(and, for long candidate lists, of item chunks) and keeps a running top-N per user, so memory does
not grow with users × items.  DCR models rank by the deconfounded score P(y|u, do(x)) unless
``conditional=True`` asks for P(y|u, x, a).
"""

import json
from logging import getLogger

import numpy as np
import pandas as pd
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_seed
from tqdm import tqdm

from recbole_dcr.config import Config
from recbole_dcr.data.dataset import dataset_fingerprint
from recbole_dcr.model.layers import ConfounderAwareRecommender
from recbole_dcr.trainer import load_checkpoint
from recbole_dcr.utils import create_dataset, get_model


def load_data_and_model(model_file, config_dict=None):
    """(config, model, dataset, train, valid, test) of a saved recbole_dcr checkpoint, model in eval mode."""
    checkpoint = load_checkpoint(model_file)
    overrides = json.loads(checkpoint["external_config"])
    overrides.update(config_dict or {})
    config = Config(model=checkpoint["model"], dataset=checkpoint["dataset"], config_dict=overrides)
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
