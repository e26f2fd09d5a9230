"""The paper's analyses as functions: inference cost (Table 4) and group-average predictions (Fig. 7).

Each analysis returns plain rows (dicts) and writes Markdown (and a PNG where the paper has a plot)
through :func:`write_markdown` / :func:`plot_group_averages`; ``run_dcr_analysis.py`` is the CLI.
"""

import os
import time

import numpy as np
import torch

from recbole_dcr.model.layers import ExpertMLPs
from recbole_dcr.utils import get_model, write_text_atomic

COST_MODELS = ["NFMWA", "DCRNFM", "NWGMDCR", "DCRMoE"]


class PassCounter:
    """Counts, on a live model, rows through the backbone (``matching``) and through MLP experts.

    Wraps the model's real methods, so the counts are those of the forward passes that ran.
    """

    def __init__(self, model):
        self.backbone_rows = self.mlp_rows = 0
        matching = model.matching

        def counted_matching(*args, **kwargs):
            m = matching(*args, **kwargs)
            self.backbone_rows += m.shape[0]
            return m

        model.matching = counted_matching
        for module in model.modules():
            if isinstance(module, ExpertMLPs):
                run = module._run

                def counted_run(hidden, weights, biases, run=run):
                    # a 3-D input is every expert on every row
                    self.mlp_rows += hidden.shape[0] * hidden.shape[1] if hidden.dim() == 3 else hidden.shape[0]
                    return run(hidden, weights, biases)

                module._run = counted_run


def scoring_batches(dataset, batch_size):
    """Every row of a (split) dataset with its item/user features joined, in batches."""
    index = torch.arange(len(dataset.inter_feat))
    return [dataset.join(dataset.inter_feat[part]) for part in index.split(batch_size)]


def inference_cost(make_config, train_dataset, rows_dataset, model_names=COST_MODELS, repeats=3):
    """Per model: backbone and MLP passes per candidate (counted) and seconds per 1M candidates (timed).

    ``make_config(model_name)`` gives each model its Config; ``rows_dataset``'s rows are the
    candidates (e.g. the test split). Models are built untrained on ``train_dataset`` (cost does
    not depend on the weights). Seconds: best of ``repeats`` passes over all rows.
    """
    results = []
    for name in model_names:
        config = make_config(name)
        batches = scoring_batches(rows_dataset, config["eval_batch_size"])
        n_rows = sum(len(batch) for batch in batches)
        model = get_model(name)(config, train_dataset).to(config["device"]).eval()
        counter = PassCounter(model)
        with torch.no_grad():
            for batch in batches:
                model.predict(batch.to(config["device"]))
            counts = (counter.backbone_rows / n_rows, counter.mlp_rows / n_rows)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for batch in batches:
                    model.predict(batch.to(config["device"]))
                best = min(best, time.perf_counter() - start)
        results.append({"model": name, "K": train_dataset.num_confounder_values, "candidates": n_rows,
                        "backbone_passes": counts[0], "mlp_passes": counts[1], "seconds_per_1M": best * 1e6 / n_rows})
    return results


def softmax(values):
    values = np.asarray(values, dtype=float)
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def group_averages(scores, groups, num_groups):
    """Mean of ``scores`` per group 0..num_groups-1 (NaN for an empty group)."""
    scores, groups = np.asarray(scores, dtype=float), np.asarray(groups)
    counts = np.bincount(groups, minlength=num_groups).astype(float)
    sums = np.bincount(groups, weights=scores, minlength=num_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def group_profile(scores, groups, num_groups):
    """The paper's Fig. 7 curve: per-group mean score, softmax-normalised over the non-empty groups."""
    means = group_averages(scores, groups, num_groups)
    present = ~np.isnan(means)
    profile = np.full(num_groups, np.nan)
    profile[present] = softmax(means[present])
    return profile


def distance_to_truth(profile, truth):
    """Total variation distance between a model's curve and GT's (0: same shape, 1: disjoint)."""
    present = ~np.isnan(truth)
    return 0.5 * float(np.abs(profile[present] - truth[present]).sum())


def prediction_groups(model, dataset, batch_size, device):
    """(scores, confounder group 0..K-1, evaluation label) of every row of ``dataset``."""
    model.eval()
    scores = []
    with torch.no_grad():
        for batch in scoring_batches(dataset, batch_size):
            scores.append(model.predict(batch.to(device)).float().cpu())
    groups = dataset.confounder_values().numpy() - 1
    labels = dataset.inter_feat[dataset.eval_label_field].numpy()
    return torch.cat(scores).numpy(), groups, labels


def write_markdown(path, lines):
    write_text_atomic(path, "\n".join(lines) + "\n")


def _save_figure(figure, path):
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp_path = path + ".tmp.png"
    figure.savefig(tmp_path, dpi=120)
    plt.close(figure)
    os.replace(tmp_path, path)


def plot_group_averages(path, group_names, profiles, title):
    """Line plot of each curve over the confounder's values (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, profile in profiles.items():
        style = dict(color="black", linestyle="--", linewidth=2) if name == "GT" else dict(marker="o")
        axes.plot(range(len(group_names)), profile, label=name, **style)
    axes.set_xticks(range(len(group_names)))
    axes.set_xticklabels(group_names, rotation=30)
    axes.set_xlabel("confounder value")
    axes.set_ylabel("Avg. pre. (softmax over groups)")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)


def active_users(train_dataset, test_dataset, train_share, positive_share):
    """Active users as in sec. 5.2.2: top ``train_share`` by training rows ∩ top ``positive_share`` by
    positive evaluation labels in the test split, both ranked among the users evaluated on the test
    split (those with a positive). Returns a boolean mask over user ids."""
    uid, label = test_dataset.uid_field, test_dataset.eval_label_field
    n_users = train_dataset.user_num
    train_rows = np.bincount(train_dataset.inter_feat[uid].numpy(), minlength=n_users)
    positives = np.bincount(test_dataset.inter_feat[uid].numpy(),
                            weights=test_dataset.inter_feat[label].numpy(), minlength=n_users)
    evaluated = np.flatnonzero(positives > 0)

    def top(counts, share):
        order = evaluated[np.argsort(-counts[evaluated], kind="stable")]
        chosen = np.zeros(n_users, dtype=bool)
        chosen[order[: int(round(share * len(evaluated)))]] = True
        return chosen

    return top(train_rows, train_share) & top(positives, positive_share)


def evaluate_users(trainer, config, test_dataset, user_mask):
    """The trainer's metrics over the test rows of the users in ``user_mask`` only."""
    from recbole_dcr.data.dataloader import UserRankingEvalDataLoader

    keep = torch.from_numpy(user_mask)[test_dataset.inter_feat[test_dataset.uid_field]]
    subset = test_dataset.copy(test_dataset.inter_feat[torch.nonzero(keep).squeeze(1)])
    return trainer.evaluate(UserRankingEvalDataLoader(config, subset), load_best_model=False)


def relative_improvement(ours, theirs):
    """(ours − theirs) / theirs, the paper's RI (NaN when theirs is 0)."""
    return (ours - theirs) / theirs if theirs else float("nan")


def plot_user_groups(path, improvements, metric):
    """Bar chart of DCR-MoE's RI over each baseline, for the active and the inactive group (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baselines = list(next(iter(improvements.values())))
    figure, axes = plt.subplots(figsize=(6, 4))
    width = 0.8 / len(improvements)
    for slot, (group, values) in enumerate(improvements.items()):
        positions = np.arange(len(baselines)) + slot * width
        axes.bar(positions, [100 * values[b] for b in baselines], width, label=group)
    axes.set_xticks(np.arange(len(baselines)) + width * (len(improvements) - 1) / 2)
    axes.set_xticklabels(baselines, rotation=30)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel(f"RI of DCR-MoE on {metric} (%)")
    axes.legend()
    figure.tight_layout()
    _save_figure(figure, path)
