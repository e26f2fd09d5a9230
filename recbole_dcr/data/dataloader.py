"""Evaluation batches for the paper's protocol (sec. 5.1.4): rank each user's own valid/test rows.

Relevance is ``EVAL_LABEL_FIELD``; users without a positive row are skipped.  A batch holds whole
users, so its padded score matrix (users x longest user in the batch) stays within
``eval_batch_size`` cells and memory grows with rows, never with users x items.
"""

import math

import numpy as np
import torch


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
        )

    def __len__(self):
        return len(self._batches)

    def __iter__(self):
        for rows, row_user, row_col, positive_u, positive_i, longest in self._batches:
            interaction = self._dataset[rows]
            shape = (int(row_user[-1]) + 1, max(longest, self.min_width))
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
