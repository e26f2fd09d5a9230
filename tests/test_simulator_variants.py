"""Simulator variants: the paper's causal structures, a long-tailed P(A), a non-additive A effect."""

import hashlib

import numpy as np
import pytest

from recbole_dcr.data.simulator import SIM_KEYS, STRUCTURES, simulate

SMALL = dict(SIM_KEYS, sim_users=50, sim_items=100, sim_creators=20, sim_rows_per_user=20)


def _digest(params):
    inter, item, match, _ = simulate(params)
    return hashlib.sha256(inter.to_csv(index=False).encode() + item.to_csv(index=False).encode()
                          + match.round(6).tobytes()).hexdigest()


def test_default_draws_are_those_of_the_published_results():
    # Digests taken before the variants were added: the default dataset (and its results) is unchanged.
    assert _digest(SMALL) == "fbab0ade191f744c9403991d28bfe3a59984e73d7ce5db3ec2edff6209c60c67"
    assert _digest(dict(SMALL, sim_second_confounder_values=3)) == (
        "267ce3ea4e0875709c47ba7370c2530fc9931e1e3c01505208bbe64471717547")


@pytest.mark.parametrize("structure", STRUCTURES)
def test_every_structure_gives_k_levels_and_both_labels(structure):
    inter, item, match, stats = simulate(dict(SMALL, sim_structure=structure, sim_items=400))
    levels = item["duration_level:token"].to_numpy()
    assert levels.min() >= 0 and levels.max() <= SMALL["sim_confounder_values"] - 1
    assert len(np.unique(levels)) == SMALL["sim_confounder_values"]
    assert stats["structure"] == structure and sum(stats["confounder_shares"]) == pytest.approx(1, abs=1e-3)
    assert set(inter["finish:float"].unique()) <= {0, 1} and len(match) == len(inter)


def test_structures_differ_in_how_x_and_a_relate():
    def level_purity_within_category(structure):
        """Mean share of a category's most common length: high when a hidden creator sets both."""
        _, item, _, _ = simulate(dict(SMALL, sim_structure=structure, sim_items=2000, sim_creators=200))
        levels = item.groupby("category:token")["duration_level:token"]
        return float(levels.agg(lambda v: v.value_counts(normalize=True).max()).mean())

    assert level_purity_within_category("hidden_z") > level_purity_within_category("independent") + 0.05


def test_skew_makes_p_a_long_tailed():
    for structure in STRUCTURES:
        _, _, _, flat = simulate(dict(SMALL, sim_structure=structure, sim_items=3000))
        _, _, _, skewed = simulate(dict(SMALL, sim_structure=structure, sim_items=3000, sim_confounder_skew=0.8))
        shares = skewed["confounder_shares"]
        assert shares[0] > 2 * shares[-1], structure
        assert max(shares) > max(flat["confounder_shares"]), structure


def test_interaction_knob_changes_only_the_training_label():
    base = simulate(SMALL)
    mixed = simulate(dict(SMALL, sim_confounder_match_interaction=2.0))
    assert (base[0]["like:float"] == mixed[0]["like:float"]).all()
    assert np.array_equal(base[2], mixed[2])
    assert (base[0]["finish:float"] != mixed[0]["finish:float"]).any()


def test_unknown_structure_is_refused():
    with pytest.raises(ValueError, match="sim_structure"):
        simulate(dict(SMALL, sim_structure="a_causes_y"))


def test_neutral_feature_leaves_every_other_draw_and_affects_no_label():
    inter, item, match, _ = simulate(SMALL)
    with_style = simulate(dict(SMALL, sim_neutral_feature_values=4))
    assert with_style[0].equals(inter) and np.array_equal(with_style[2], match)
    assert with_style[1].drop(columns="style:token").equals(item)
    _, item_big, _, stats = simulate(dict(SMALL, sim_neutral_feature_values=4, sim_users=400))
    assert set(item_big["style:token"]) == {0, 1, 2, 3}
    assert abs(stats["rho1_style_vs_train_label"]) < 0.05 and abs(stats["rho2_style_vs_eval_label"]) < 0.05
