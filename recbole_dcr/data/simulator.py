"""The embedded default dataset ``dcr_sim``: a seeded simulator of the DCR paper's causal graph (Fig. 1).

* A hidden creator Z fixes both the item's content X (a topic vector, seen by models through the item id
  and the creator's content ``category``) and its confounder A (``duration_level``, K values).
* The user-item match M = <p_u, v_i> depends on U and X only.
* The training label (``finish``) depends on M *and directly on A* (short videos get finished).
* The evaluation label (``like``) depends on M alone, and is rare.

So A → Y is a shortcut in the training label, and X ← Z → A → Y is a backdoor path.  The true match of
every row is written to ``<name>.match`` (not an atomic file: no model can read it) so an oracle ranking
can be reported next to the models.  Everything is drawn from ``sim_seed``.
"""

import json
import os
from logging import getLogger

import numpy as np
import pandas as pd

from recbole_dcr.files import atomic_folder

SIMULATED_DATASETS = {"dcr_sim", "dcr_sim2"}  # generated from the sim_* keys, never read from disk as given

SIM_KEYS = {
    "sim_seed": 2022,  # every random draw of the simulator
    "sim_users": 2000,
    "sim_items": 3000,
    "sim_creators": 200,  # hidden Z
    "sim_categories": 8,  # observed content category of the item (its creator's)
    "sim_creator_spread": 0.5,  # creator topic = category centroid + this * noise
    "sim_item_spread": 0.3,  # item topic = creator topic + this * noise
    "sim_length_by_category": 0.5,  # share of creators whose habitual length is their category's
    "sim_rows_per_user": 300,  # impressions per user (Kwai: ~1000)
    "sim_confounder_values": 6,  # K, as the paper's video-length bins
    "sim_latent_dim": 8,
    "sim_match_on_finish": 1.0,  # weight of the match M in the training label's logit
    "sim_confounder_on_finish": 0.8,  # direct effect A -> Y_train: logit shift from shortest to longest / 2
    "sim_finish_bias": 0.0,
    "sim_match_on_like": 2.0,  # weight of M in the evaluation label's logit
    "sim_like_bias": -4.8,  # sets the like rate (a few percent)
    "sim_second_confounder_values": 0,  # K2 > 0 adds a second confounder cover_level (e.g. a clickbait cover)
    "sim_second_confounder_on_finish": 0.6,  # its direct effect on the training label, like A's
    # Causal structure between the content X and the confounder A (paper, Fig. 1 and Fig. 3):
    # hidden_z — a hidden Z (the creator) sets both; a_causes_x — A shifts X; x_causes_a — A is read off
    # X; independent — A drawn on its own. A -> Y_train is present in all four.
    "sim_structure": "hidden_z",
    "sim_confounder_skew": 0.0,  # > 0: P(A = a) ∝ exp(-skew·a) where A is drawn (a long tail, Kwai's Fig. 6a)
    "sim_confounder_match_interaction": 0.0,  # > 0: A also scales the match's effect on finish (not additive)
    "sim_neutral_feature_values": 0,  # > 0 adds an item feature `style` with this many values that affects
    # neither label (|rho1/rho2| ~ 1): the non-confounding feature of the paper's feature swap (Table 5)
    "sim_content_sets_confounder": 0.0,  # in [0, 1]: share of items whose A is set by their observed content
    # `category` (a fixed category -> level map); 1: A is a function of the category (no overlap of A given the
    # content, see `recbole-dcr doctor`); 0: the structure's A. Drawn from a stream of its own.
}

STRUCTURES = ("hidden_z", "a_causes_x", "x_causes_a", "independent")


def simulator_params(config):
    """The simulator's parameters: config values where set, defaults otherwise."""
    return {key: (config[key] if config[key] is not None else default) for key, default in SIM_KEYS.items()}


def _skewed_levels(rng, size, k, skew):
    probabilities = np.exp(-skew * np.arange(k))
    return rng.choice(k, size=size, p=probabilities / probabilities.sum())


def _content_sets_confounder(params, item_category, item_level, k):
    """A of the share ``sim_content_sets_confounder`` of items replaced by a fixed function of their category.

    The categories are dealt to the K levels evenly (category c -> a permutation of c mod K), and an item is
    replaced when its uniform draw is below the share, so a larger share replaces a superset of the items.
    Both draws come from a stream of their own: every other draw of the simulator is unchanged.
    """
    share = params["sim_content_sets_confounder"]
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"sim_content_sets_confounder must be in [0, 1], got {share!r}")
    if not share:
        return item_level
    stream = np.random.default_rng([params["sim_seed"], 2])
    category_level = stream.permutation(np.arange(params["sim_categories"]) % k)
    replaced = stream.random(item_level.size) < share
    return np.where(replaced, category_level[item_category], item_level)


def _apply_structure(params, rng, item_vector, item_level, k, item_category):
    """Item content X and confounder A under ``sim_structure`` (the default keeps the draws above)."""
    structure, skew = params["sim_structure"], params["sim_confounder_skew"]
    if structure not in STRUCTURES:
        raise ValueError(f"sim_structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    n_items, dim = item_vector.shape
    if structure == "hidden_z":
        if skew:  # keep each item's creator-driven order, re-drawn to a long-tailed P(A)
            ranks = np.argsort(np.argsort(item_level + 0.01 * rng.random(n_items), kind="stable"), kind="stable")
            targets = np.sort(_skewed_levels(rng, n_items, k, skew))
            item_level = targets[ranks]
        return item_vector, _content_sets_confounder(params, item_category, item_level, k)
    if structure == "x_causes_a":
        # A is a function of the content: quantile bins of one direction of X (bins sized by P(A)).
        score = item_vector @ rng.normal(size=dim)
        shares = np.exp(-skew * np.arange(k))
        edges = np.quantile(score, np.cumsum(shares / shares.sum())[:-1])
        return item_vector, _content_sets_confounder(params, item_category, np.digitize(score, edges), k)
    item_level = _skewed_levels(rng, n_items, k, skew)  # A on its own
    # Set before A -> X acts, so that under a_causes_x the content is shifted by the A the item ends up with.
    item_level = _content_sets_confounder(params, item_category, item_level, k)
    if structure == "a_causes_x":
        level_direction = rng.normal(size=(k, dim))
        item_vector = item_vector + level_direction[item_level]
    return item_vector, item_level


def simulate(params):
    """Draw the dataset; returns (inter DataFrame, item DataFrame, match array, statistics dict)."""
    rng = np.random.default_rng(params["sim_seed"])
    n_users, n_items, n_creators = params["sim_users"], params["sim_items"], params["sim_creators"]
    k, dim = params["sim_confounder_values"], params["sim_latent_dim"]

    # Z: each creator works in one content category (observed) with a topic near the category's centroid,
    # and has a habitual video length, partly set by the category (e.g. wedding videos run long).
    category_centroid = rng.normal(size=(params["sim_categories"], dim))
    category_length = rng.integers(0, k, size=params["sim_categories"])
    creator_category = rng.integers(0, params["sim_categories"], size=n_creators)
    creator_topic = category_centroid[creator_category] + params["sim_creator_spread"] * rng.normal(size=(n_creators, dim))
    creator_length = np.where(
        rng.random(n_creators) < params["sim_length_by_category"],
        category_length[creator_category],
        rng.integers(0, k, size=n_creators),
    )
    item_creator = rng.integers(0, n_creators, size=n_items)
    item_vector = creator_topic[item_creator] + params["sim_item_spread"] * rng.normal(size=(n_items, dim))
    length_noise = rng.choice([-1, 0, 0, 0, 1], size=n_items)
    item_level = np.clip(creator_length[item_creator] + length_noise, 0, k - 1)
    item_category = creator_category[item_creator]
    item_vector, item_level = _apply_structure(params, rng, item_vector, item_level, k, item_category)

    user_vector = rng.normal(size=(n_users, dim))
    rows = params["sim_rows_per_user"]
    users = np.repeat(np.arange(n_users), rows)
    items = np.concatenate([rng.choice(n_items, size=rows, replace=False) for _ in range(n_users)])

    spread = 1.0 + params["sim_creator_spread"] ** 2 + params["sim_item_spread"] ** 2
    match = np.einsum("ij,ij->i", user_vector[users], item_vector[items]) / np.sqrt(dim * spread)
    level = item_level[items]
    # Shorter videos (low level) are finished more often, whatever the user thinks of them.
    length_effect = params["sim_confounder_on_finish"] * (1.0 - 2.0 * level / (k - 1))
    finish_logit = params["sim_match_on_finish"] * match + length_effect + params["sim_finish_bias"]
    if params["sim_confounder_match_interaction"]:
        # Short videos get finished almost whatever the match; long ones only when it is high.
        finish_logit = finish_logit + params["sim_confounder_match_interaction"] * match * (2.0 * level / (k - 1) - 1.0)
    k2 = params["sim_second_confounder_values"]
    if k2:
        # A second confounder, also set by the creator's habits and also pushing finish, not like.
        creator_cover = rng.integers(0, k2, size=n_creators)
        item_cover = np.where(rng.random(n_items) < 0.8, creator_cover[item_creator], rng.integers(0, k2, size=n_items))
        cover = item_cover[items]
        finish_logit = finish_logit + params["sim_second_confounder_on_finish"] * (2.0 * cover / max(k2 - 1, 1) - 1.0)
    like_logit = params["sim_match_on_like"] * match + params["sim_like_bias"]
    finish = (rng.random(len(users)) < 1 / (1 + np.exp(-finish_logit))).astype(np.int8)
    like = (rng.random(len(users)) < 1 / (1 + np.exp(-like_logit))).astype(np.int8)

    inter = pd.DataFrame({"user_id:token": users, "item_id:token": items, "finish:float": finish, "like:float": like})
    item = pd.DataFrame(
        {"item_id:token": np.arange(n_items), "duration_level:token": item_level, "category:token": item_category}
    )
    if k2:
        item["cover_level:token"] = item_cover
    if params["sim_neutral_feature_values"]:
        # A stream of its own, so every other draw stays that of the datasets without this feature.
        style = np.random.default_rng([params["sim_seed"], 1]).integers(0, params["sim_neutral_feature_values"], size=n_items)
        item["style:token"] = style
    stats = {
        "users": n_users,
        "items": n_items,
        "samples": len(inter),
        "finish_rate": float(finish.mean()),
        "like_rate": float(like.mean()),
        "K": k,
        "structure": params["sim_structure"],
        "confounder_shares": np.round(np.bincount(level, minlength=k) / len(level), 4).tolist(),
        "rho1_confounder_vs_train_label": float(np.corrcoef(level, finish)[0, 1]),
        "rho2_confounder_vs_eval_label": float(np.corrcoef(level, like)[0, 1]),
    }
    if k2:
        stats["rho1_second_confounder_vs_train_label"] = float(np.corrcoef(cover, finish)[0, 1])
        stats["rho2_second_confounder_vs_eval_label"] = float(np.corrcoef(cover, like)[0, 1])
    if params["sim_neutral_feature_values"]:
        stats["rho1_style_vs_train_label"] = float(np.corrcoef(style[items], finish)[0, 1])
        stats["rho2_style_vs_eval_label"] = float(np.corrcoef(style[items], like)[0, 1])
    return inter, item, match, stats


def ensure_simulated_dataset(config):
    """Generate ``<data_path>/<dataset>/`` from the config's simulator parameters if it is absent or stale."""
    logger = getLogger()
    folder, name = config["data_path"], config["dataset"]
    params = simulator_params(config)
    meta_path = os.path.join(folder, f"{name}.sim.json")
    if os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            stored = json.load(f).get("params")
        # A key missing from a stored dataset was added later with a default that changes no draw.
        if stored is not None and {**SIM_KEYS, **stored} == params:
            return
    inter, item, match, stats = simulate(params)
    with atomic_folder(folder) as staging:
        inter.to_csv(os.path.join(staging, f"{name}.inter"), sep="\t", index=False)
        item.to_csv(os.path.join(staging, f"{name}.item"), sep="\t", index=False)
        truth = pd.DataFrame({"user_id:token": inter["user_id:token"], "item_id:token": inter["item_id:token"]})
        truth["match:float"] = np.round(match, 6)
        truth.to_csv(os.path.join(staging, f"{name}.match"), sep="\t", index=False)
        with open(os.path.join(staging, f"{name}.sim.json"), "w", encoding="utf-8") as f:
            json.dump({"params": params, "stats": stats}, f, indent=2)
    logger.info(
        f"generated simulated dataset [{name}] in {folder}: {stats['samples']} rows, {stats['users']} users, "
        f"{stats['items']} items, finish rate {stats['finish_rate']:.3f}, like rate {stats['like_rate']:.3f}, "
        f"rho1 = Pearson(A, finish) = {stats['rho1_confounder_vs_train_label']:.3f}, "
        f"rho2 = Pearson(A, like) = {stats['rho2_confounder_vs_eval_label']:.3f}"
    )
