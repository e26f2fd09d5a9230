"""The paper's analyses on any prepared dataset: Markdown tables and PNG plots under one folder.

``recbole-dcr analysis --analysis=cost,groups,users,swap`` (see ``recbole-dcr analysis --help``):
Table 4 (inference cost, counted and timed), Fig. 7 (group-average predictions), Fig. 4 (active and
inactive users), Table 5 (feature swap).  Models are trained once per run and shared by the analyses.
"""

import os
import time
from contextlib import ExitStack

import numpy as np
import torch
from recbole.utils import init_seed

from recbole_dcr.config import Config
from recbole_dcr.data import create_dataset
from recbole_dcr.data.dataloader import UserRankingEvalDataLoader
from recbole_dcr.model.experts import PAPER_EXPERTS, ExpertBlock
from recbole_dcr.quick_start import train
from recbole_dcr.registry import get_model, refused_settings
from recbole_dcr.research.reports import (
    command_line,
    machine_line,
    pyplot,
    relative_improvement,
    save_figure,
    table,
    write_markdown,
)

COST_MODELS = ["NFMWA", "DCRNFM", "NWGMDCR", "DCRMoE-paper", "DCRMoE"]
# rows of Table 4 that are a model with other keys: the paper's DCR-MoE (its separate experts)
COST_PRESETS = {"DCRMoE-paper": ("DCRMoE", PAPER_EXPERTS)}
GROUP_MODELS = "DCRMoE,NFMWA,NFMWOA,IPW,CR"


# ---------------------------------------------------------------------------- Table 4: inference cost
class PassCounter:
    """Counts rows through the backbone and the MLP work of the expert blocks while the block runs, with
    forward hooks::

        with PassCounter(model) as counter:
            model.predict(batch)
        counter.backbone_rows, counter.mlp_rows, counter.multiply_adds

    The backbone is the module that computes the matching vector m (NFM's bi-interaction layer, or a
    RecBole backbone). An expert block adds its multiply-adds per row (every value's when all values run,
    :meth:`~recbole_dcr.model.experts.ExpertBlock.multiply_adds`), and ``mlp_rows`` counts them in passes
    of one full MLP of the block's sizes: K for the paper's experts run on every row, 1 for NFM's MLP,
    between 1 and 2 for a shared MLP with small per-value parts.
    """

    def __init__(self, model):
        self.model = model
        self.backbone_rows = self.mlp_rows = self.multiply_adds = 0
        self._hooks = ExitStack()

    def __enter__(self):
        backbone = getattr(self.model, "backbone", None) or self.model.bi_interaction
        self._hooks.callback(backbone.register_forward_hook(self._count_backbone).remove)
        inner = {id(sub) for block in self.model.modules() if isinstance(block, ExpertBlock)
                 for sub in block.modules() if sub is not block}
        for module in self.model.modules():
            if isinstance(module, ExpertBlock) and id(module) not in inner:  # an outermost block: its own count
                self._hooks.callback(module.register_forward_hook(self._count_experts).remove)
        return self

    def __exit__(self, *exc):
        self._hooks.close()

    def _count_backbone(self, module, inputs, output):
        self.backbone_rows += output.shape[0]

    def _count_experts(self, module, inputs, output):
        all_values = len(inputs) < 2 or inputs[1] is None
        work = output.shape[0] * module.multiply_adds(all_values)
        self.multiply_adds += work
        self.mlp_rows += work / module.one_pass_multiply_adds()


def scoring_batches(dataset, batch_size):
    """Every row of a (split) dataset with its item/user features joined, in batches."""
    index = torch.arange(len(dataset.inter_feat))
    return [dataset.join(dataset.inter_feat[part]) for part in index.split(batch_size)]


def inference_cost(make_config, train_dataset, rows_dataset, model_names=COST_MODELS, repeats=3):
    """Per model: backbone and MLP passes per candidate (counted) and seconds per 1M candidates (timed).

    ``make_config(model_name)`` gives each model its Config; ``rows_dataset``'s rows are the
    candidates (e.g. the test split). Models are built untrained on ``train_dataset`` (cost does
    not depend on the weights). Seconds: best of ``repeats`` passes over all rows. A name of
    ``COST_PRESETS`` is a model with other keys.
    """
    results = []
    for name in model_names:
        model_name, keys = COST_PRESETS.get(name, (name, {}))
        config = make_config(model_name)
        for key, value in keys.items():
            config[key] = value
        batches = scoring_batches(rows_dataset, config["eval_batch_size"])
        n_rows = sum(len(batch) for batch in batches)
        with refused_settings(name):
            model = get_model(model_name)(config, train_dataset).to(config["device"]).eval()
        with torch.no_grad():
            with PassCounter(model) as counter:
                for batch in batches:
                    model.predict(batch.to(config["device"]))
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for batch in batches:
                    model.predict(batch.to(config["device"]))
                best = min(best, time.perf_counter() - start)
        results.append({"model": name, "K": train_dataset.num_confounder_values, "candidates": n_rows,
                        "backbone_passes": counter.backbone_rows / n_rows, "mlp_passes": counter.mlp_rows / n_rows,
                        "multiply_adds": counter.multiply_adds / n_rows,
                        "seconds_per_1M": best * 1e6 / n_rows})
    return results


# ---------------------------------------------------------------------------- Fig. 7: group averages
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


def plot_group_averages(path, group_names, profiles, title):
    """Line plot of each curve over the confounder's values (PNG, written atomically)."""
    plt = pyplot()
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
    save_figure(figure, path)


# ---------------------------------------------------------------------------- Fig. 4: user groups
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
    keep = torch.from_numpy(user_mask)[test_dataset.inter_feat[test_dataset.uid_field]]
    subset = test_dataset.copy(test_dataset.inter_feat[torch.nonzero(keep).squeeze(1)])
    return trainer.evaluate(UserRankingEvalDataLoader(config, subset), load_best_model=False)


def plot_user_groups(path, improvements, metric):
    """Bar chart of DCR-MoE's RI over each baseline, for each user group (PNG)."""
    plt = pyplot()
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
    save_figure(figure, path)


# ---------------------------------------------------------------------------- the command
class Analyses:
    """One ``recbole-dcr analysis`` run: models are trained once and shared by every analysis asked for."""

    def __init__(self, args, overrides):
        self.args, self.overrides = args, overrides
        self.dataset_name = args.dataset or "dcr_sim"
        self._trained = {}

    def config(self, model, config_dict=None):
        return Config(model=model, dataset=self.args.dataset, config_file_list=self.args.config_files,
                      config_dict=config_dict, command_line=self.overrides)

    def trained(self, name, confounder=None):
        """The :class:`~recbole_dcr.quick_start.Run` of ``name`` (``confounder``: another CONFOUNDER_FIELD)."""
        key = (name, confounder)
        if key not in self._trained:
            config_dict = {"show_progress": False, **({"CONFOUNDER_FIELD": confounder} if confounder else {})}
            run = train(name, self.args.dataset, self.args.config_files, config_dict, self.overrides, quiet=True)
            print(f"{name} (A = {run.config['CONFOUNDER_FIELD']}): test {dict(run.result['test_result'])}", flush=True)
            self._trained[key] = run
        return self._trained[key]

    def path(self, name):
        return os.path.join(self.args.output_dir, name)

    def header(self, title):
        return [f"# {title} on `{self.dataset_name}`", "", f"Command: `{command_line()}`", ""]

    def cost(self):
        config = self.config(COST_MODELS[0])
        init_seed(config["seed"], config["reproducibility"])
        train_split, _, test = create_dataset(config).build()
        rows = inference_cost(self.config, train_split, test, COST_MODELS, repeats=self.args.repeats)
        baseline = rows[0]["seconds_per_1M"]
        lines = self.header("Inference cost (paper, Table 4)") + [
            f"{machine_line()} K = {rows[0]['K']}; candidates: the {rows[0]['candidates']} test rows, scored in "
            f"batches of eval_batch_size; untrained models; best of {self.args.repeats} passes.", "",
        ] + table(["model", "backbone passes / candidate", "MLP passes / candidate", "expert multiply-adds / candidate",
                   "s / 1M candidates", "x NFMWA"],
                  [[r["model"], f"{r['backbone_passes']:g}", f"{r['mlp_passes']:.3g}", f"{r['multiply_adds']:,.0f}",
                    f"{r['seconds_per_1M']:.2f}",
                    f"{r['seconds_per_1M'] / baseline:.1f}"] for r in rows])
        write_markdown(self.path("cost.md"), lines)
        return [self.path("cost.md")]

    def groups(self):
        profiles, distances, group_names, truth = {}, {}, None, None
        for name in self.args.models.split(","):
            run = self.trained(name)
            test = run.test_data._dataset
            scores, groups, labels = prediction_groups(run.trainer.model, test, run.config["eval_batch_size"],
                                                       run.config["device"])
            k = test.num_confounder_values
            if truth is None:
                tokens = list(test.field2id_token[test.confounder_field][1:])
                order = sorted(range(k), key=lambda g: _natural_key(tokens[g]))  # RecBole numbers tokens as met
                group_names = [str(tokens[g]) for g in order]
                truth = profiles["GT"] = group_profile(labels, groups, k)[order]
            profiles[name] = group_profile(scores, groups, k)[order]
            distances[name] = (distance_to_truth(profiles[name], truth), run.result["test_result"])
        png = self.path("group_averages.png")
        plot_group_averages(png, group_names, profiles, f"Average prediction per confounder value ({self.dataset_name})")
        metric = _headline_metric(next(iter(distances.values()))[1])
        rows = []
        for name, profile in profiles.items():
            tail = ["-", "-"] if name == "GT" else [f"{distances[name][0]:.4f}", f"{distances[name][1][metric]:.4f}"]
            rows.append([name, *(f"{v:.4f}" for v in np.nan_to_num(profile, nan=0.0)), *tail])
        lines = self.header("Group-average predictions (paper, Fig. 7)") + [
            "Mean prediction over the test rows of each confounder value, softmax-normalised over the values; GT is "
            "the mean evaluation label. Distance: total variation between a model's curve and GT's (0 = same shape).",
            "", "![group averages](group_averages.png)", "",
        ] + table(["curve", *group_names, "distance to GT", f"test {metric}"], rows)
        write_markdown(self.path("group_averages.md"), lines)
        return [self.path("group_averages.md"), png]

    def users(self):
        names = _dcrmoe_first(self.args.models)
        reference = self.trained(names[0])
        train_split, test = reference.trainer.train_dataset, reference.test_data._dataset  # every model's split
        active = active_users(train_split, test, self.args.active_train_share, self.args.active_positive_share)
        evaluated = active_users(train_split, test, 1.0, 1.0)  # every user with a positive test label
        groups = {"active": active, "inactive": evaluated & ~active}
        for group in [g for g, mask in groups.items() if not mask.any()]:
            print(f"users: the {group} group has no users on this data (active = top {self.args.active_train_share:.0%}"
                  f" by training rows ∩ top {self.args.active_positive_share:.0%} by positive test labels); "
                  f"it is left out of {self.path('user_groups.md')}", flush=True)
            del groups[group]
        results = {group: {} for group in groups}
        for name in names:
            run = self.trained(name)
            for group, mask in groups.items():
                results[group][name] = evaluate_users(run.trainer, run.config, test, mask)
        if not results:
            raise SystemExit(f"users: no user of {self.dataset_name} has a positive test label; nothing to compare")
        first_group = next(iter(results.values()))
        metric = _headline_metric(first_group[names[0]])
        improvements = {group: {name: relative_improvement(by_model[names[0]][metric], by_model[name][metric])
                                for name in names[1:]} for group, by_model in results.items()}
        png = self.path("user_groups.png")
        plot_user_groups(png, improvements, metric)
        metric_names = list(first_group[names[0]])
        rows = [[group, name, *(f"{by_model[name][m]:.4f}" for m in metric_names),
                 "-" if name == names[0] else f"{100 * improvements[group][name]:.1f}%"]
                for group, by_model in results.items() for name in names]
        lines = self.header("Active and inactive users (paper, sec. 5.2.2, Fig. 4)") + [
            f"Active: top {self.args.active_train_share:.0%} of the evaluated users by training rows ∩ top "
            f"{self.args.active_positive_share:.0%} by positive test labels ({int(active.sum())} users); inactive: the "
            f"other {int((evaluated & ~active).sum())} evaluated users. RI: relative improvement of DCR-MoE on {metric}.",
            "", "![user groups](user_groups.png)", "",
        ] + table(["group", "model", *metric_names, f"RI ({metric})"], rows)
        write_markdown(self.path("user_groups.md"), lines)
        return [self.path("user_groups.md"), png]

    def swap(self):
        if not self.args.swap_field:
            raise SystemExit("--analysis=swap needs --swap_field=<a token feature that is not a confounder>, e.g. category")
        names = _dcrmoe_first(self.args.models)
        cases = {}
        for confounder in (None, self.args.swap_field):
            runs = {name: self.trained(name, confounder) for name in names}
            field = runs[names[0]].config["CONFOUNDER_FIELD"]
            cases[field] = {name: run.result["test_result"] for name, run in runs.items()}
        metric_names = list(next(iter(next(iter(cases.values())).values())))
        rows = []
        for field, by_model in cases.items():
            for name in names:
                ri = "-" if name == names[0] else "{:.1f}%".format(100 * np.mean(
                    [relative_improvement(by_model[names[0]][m], by_model[name][m]) for m in metric_names]))
                rows.append([field, name, *(f"{by_model[name][m]:.4f}" for m in metric_names), ri])
        lines = self.header("Feature swap (paper, Table 5)") + [
            f"Every model trained twice: with the configured confounder and with `{self.args.swap_field}` in its "
            "place. RI: relative improvement of DCR-MoE over the row's model, averaged over the metrics. DCR should "
            "gain with the confounder and gain little or nothing with a feature that does not confound.", "",
        ] + table(["A", "model", *metric_names, "RI"], rows)
        write_markdown(self.path("feature_swap.md"), lines)
        return [self.path("feature_swap.md")]


ANALYSES = ("cost", "groups", "users", "swap")


def _dcrmoe_first(models):
    names = models.split(",")
    return ["DCRMoE"] + [name for name in names if name != "DCRMoE"]


def _natural_key(token):
    return (0, float(token), "") if str(token).lstrip("-").replace(".", "", 1).isdigit() else (1, 0.0, str(token))


def _headline_metric(result):
    return "ndcg@10" if "ndcg@10" in result else next(iter(result))


def main(args, overrides):
    """``recbole-dcr analysis``: the analyses of --analysis, written under --output_dir."""
    asked = args.analysis.split(",")
    unknown = [name for name in asked if name not in ANALYSES]
    if unknown:
        raise SystemExit(f"error: unknown analysis {unknown}; choose from {', '.join(ANALYSES)}")
    analyses = Analyses(args, overrides)
    written = []
    for name in asked:
        written += getattr(analyses, name)()
    print("written:\n" + "\n".join(f"  {path}" for path in written))
    return 0
