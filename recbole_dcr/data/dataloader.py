"""Batches for training and for the paper's evaluation protocol (sec. 5.1.4).

Training: the batches of RecBole's ``TrainDataLoader``, gathered from tensors joined once.
Evaluation: each user's own valid/test rows ranked on ``EVAL_LABEL_FIELD``; users without a
positive row are skipped.  A batch holds whole users, so its padded score matrix (users x longest
user in the batch) stays within ``eval_batch_size`` cells and memory grows with rows, never with
users x items.
"""

import math

import numpy as np
import torch
from recbole.data.interaction import Interaction
from recbole.data.transform import construct_transform


def gather_rows(table, index):
    """Rows ``index`` (a LongTensor) of an ``Interaction``: one tensor gather per field.

    ``Interaction.__getitem__`` turns a tensor index into a Python list first, which costs more than
    the gathers themselves (about 3.5 ms for 2048 rows of six fields here, vs 0.1 ms).
    """
    return Interaction({field: values[index] for field, values in table.interaction.items()})


def joined_rows(dataset):
    """Every interaction of ``dataset`` with its user/item features joined, once, for ``gather_rows``."""
    return dataset.join(Interaction(dict(dataset.inter_feat.interaction)))  # join() adds columns in place: join a copy


def check_no_negative_sampling(config):
    neg_sampling = config["train_neg_sample_args"] or {}
    if neg_sampling.get("distribution", "none") != "none":
        raise ValueError(
            "recbole_dcr trains on the observed training label: set train_neg_sample_args to None "
            f"(got {config['train_neg_sample_args']})."
        )


class DCRTrainDataLoader:
    """The same batches, in the same order, as RecBole's ``TrainDataLoader`` for a seed, only faster.

    RecBole indexes the interaction table and joins the item/user features anew for every batch; here
    that join is done once for all training rows and a batch is one tensor gather per field. The
    shuffle replays the random draws of RecBole's loader (torch ``DataLoader`` with a seeded
    generator), so results do not depend on which loader trained a model.

    Under data-parallel training every rank draws the same permutation and takes its contiguous share
    of each global batch of ``train_batch_size`` rows; ``global_batch_rows`` is the size of the batch
    the current share belongs to, which the trainer uses to weight the rank's loss. (A last batch with
    fewer rows than ranks joins the one before it, the only way W processes may differ from one.)

    On a GPU (``to(device)``, called by the trainer) the joined rows stay on the device and each batch
    is gathered there: an epoch's permutation is drawn with the same seeded generator on the CPU and
    copied once, so the batches are the CPU's, row for row, with no per-batch host work. The same
    code runs on a CPU, where ``to`` changes nothing.
    """

    def __init__(self, config, dataset, shuffle=True):
        check_no_negative_sampling(config)
        self.config = config
        self._dataset = dataset
        self.shuffle = shuffle
        self.batch_size = int(config["train_batch_size"])
        self.transform = construct_transform(config)
        self.generator = torch.Generator()
        self.generator.manual_seed(config["seed"])
        distributed = not config["single_spec"]
        self.world_size = int(config["world_size"]) if distributed else 1
        self.rank = int(config["local_rank"] + config["offset"]) if distributed else 0
        self.global_batch_rows = 0
        self._rows = joined_rows(dataset)
        self.device = torch.device("cpu")
        self.sampler = self  # RecBole's trainer calls train_data.sampler.set_epoch under DDP

    def to(self, device):
        """Keep the joined training rows on ``device``, where every batch is then gathered."""
        device = torch.device(device)
        if device != self.device:
            self._rows = self._rows.to(device)
            self.device = device
        return self

    def set_epoch(self, epoch):
        """Nothing to do: every rank's generator advances in lockstep, one permutation per epoch."""

    def state_dict(self):
        """What the coming epochs' order depends on (a tensor): saved between epochs by the trainer for resume."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        """Continue from :meth:`state_dict`: the next epochs draw the orders an uninterrupted run would."""
        self.generator.set_state(state["generator"])

    def _global_batches(self, order):
        batches = list(order.split(self.batch_size))
        if self.world_size > 1 and len(batches) > 1 and len(batches[-1]) < self.world_size:
            # Every rank needs a row (BatchNorm's statistics are gathered): a last batch too short to
            # split joins the one before it.
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def __len__(self):
        rows = len(self._rows)
        batches = math.ceil(rows / self.batch_size)
        if self.world_size > 1 and batches > 1 and rows - (batches - 1) * self.batch_size < self.world_size:
            batches -= 1
        return batches

    def _epoch_order(self):
        n = len(self._rows)
        # torch's DataLoader draws a worker base seed first; RandomSampler then draws a permutation, and
        # one more (unused) when it runs out at the end of the epoch.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        if not self.shuffle:
            return torch.arange(n)
        order = torch.randperm(n, generator=self.generator)
        torch.randperm(n, generator=self.generator)
        return order

    def index_batches(self):
        """This epoch's batches as row indices on the loader's device (this rank's share of each)."""
        order = self._epoch_order().to(self.device)
        for batch in self._global_batches(order):
            self.global_batch_rows = len(batch)
            yield batch.tensor_split(self.world_size)[self.rank] if self.world_size > 1 else batch

    def batch(self, index):
        """The training batch of rows ``index`` (a tensor on the loader's device)."""
        return self.transform(self._dataset, gather_rows(self._rows, index))

    def __iter__(self):
        for index in self.index_batches():
            yield self.batch(index)


class UserRankingEvalDataLoader:
    """Yields ``(interaction, row_user, row_col, positive_u, positive_i, shape)`` per batch of whole users.

    ``row_user``/``row_col`` place each scored row in a padded ``shape = (n_users, width)`` matrix, row
    order inside a user being the split's row order (which also breaks score ties); ``positive_u``/
    ``positive_i`` are the cells whose evaluation label is 1, in the form RecBole's ``Collector`` takes.
    """

    def __init__(self, config, dataset, shuffle=False):
        self.config = config
        self._dataset = dataset
        self.shuffle = False  # ranking metrics do not depend on batch order
        self.min_width = max(config["topk"])
        users = dataset.inter_feat[dataset.uid_field].numpy()
        relevance = dataset.inter_feat[dataset.eval_label_field].numpy()

        rows_by_user = np.argsort(users, kind="stable")
        _, starts, counts = np.unique(users[rows_by_user], return_index=True, return_counts=True)
        positives = np.add.reduceat(relevance[rows_by_user], starts) if len(starts) else np.zeros(0)
        kept = np.flatnonzero(positives > 0)
        self.num_users = len(kept)
        self.num_skipped_users = len(starts) - len(kept)
        # Users of similar length share a batch, so padding wastes little.
        kept = kept[np.argsort(counts[kept], kind="stable")]

        budget = max(int(config["eval_batch_size"]), self.min_width)
        self._batches = []
        first = 0
        while first < len(kept):
            last = first + 1
            while last < len(kept) and (last + 1 - first) * max(counts[kept[last]], self.min_width) <= budget:
                last += 1
            self._batches.append(self._make_batch(kept[first:last], starts, counts, rows_by_user, relevance))
            first = last
        self.num_rows = int(sum(len(b[0]) for b in self._batches))
        # Fast path: the item/user features are joined once, and a batch is one tensor gather per field
        # (RecBole's ``dataset[rows]`` indexes the table and joins the features anew for every batch).
        self._rows = joined_rows(dataset) if config["fast_data"] else None
        self.device = torch.device("cpu")

    def to(self, device):
        """Keep the joined rows and every batch's indices on ``device`` (fast_data), gathered there."""
        device = torch.device(device)
        if device == self.device or self._rows is None:
            return self
        self._rows = self._rows.to(device)
        self._batches = [tuple(part.to(device) if torch.is_tensor(part) else part for part in batch)
                         for batch in self._batches]
        self.device = device
        return self

    @staticmethod
    def _make_batch(user_slots, starts, counts, rows_by_user, relevance):
        lengths = counts[user_slots]
        row_user = np.repeat(np.arange(len(user_slots)), lengths)
        offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
        row_col = np.arange(lengths.sum()) - offsets
        rows = rows_by_user[np.repeat(starts[user_slots], lengths) + row_col]
        positive = relevance[rows] > 0
        return (
            torch.from_numpy(rows),
            torch.from_numpy(row_user),
            torch.from_numpy(row_col),
            torch.from_numpy(row_user[positive]),
            torch.from_numpy(row_col[positive]),
            int(lengths.max()),
            len(user_slots),
        )

    def _own_batches(self):
        """All batches; under data-parallel evaluation, every W-th one (the trainer gathers the users)."""
        if self.config["single_spec"]:
            return self._batches
        return self._batches[self.config["local_rank"] + self.config["offset"]::self.config["world_size"]]

    def __len__(self):
        return len(self._own_batches())

    def __bool__(self):
        # RecBole's fit() skips validation for a falsy loader; a rank without users of its own must
        # still take part in gathering the others'.
        return True

    def __iter__(self):
        for rows, row_user, row_col, positive_u, positive_i, longest, users in self._own_batches():
            interaction = self._dataset[rows] if self._rows is None else gather_rows(self._rows, rows)
            shape = (users, max(longest, self.min_width))
            yield interaction, row_user, row_col, positive_u, positive_i, shape


def scatter_scores(scores, row_user, row_col, shape):
    """Place flat row scores into a (users x width) matrix padded with -inf."""
    padded = torch.full(shape, -math.inf, dtype=torch.float32, device=scores.device)
    padded[row_user, row_col] = scores.float()
    return padded


def strict_ranking_scores(padded):
    """Replace scores by -rank, ties broken by column order, so any top-k reads one fixed ranking."""
    order = torch.sort(padded, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(padded.shape[1], device=padded.device).expand_as(order))
    strict = -ranks.float()
    strict[torch.isinf(padded) & (padded < 0)] = -math.inf
    return strict
