"""Property-based checks (hypothesis) of the leakage-free split, its
determinism, and the equal-frequency binning."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recbole_dcr.converters import errors, kwai
from recbole_dcr.converters import split as splitting  # `split` is a local name below

# database=None: no .hypothesis/ folder is written into the checkout.
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
END_TO_END = settings(max_examples=15, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

pairs_strategy = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 15)), min_size=1, max_size=120)
ratios_strategy = st.tuples(st.floats(0.05, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))


@FAST
@given(pairs=pairs_strategy, ratios=ratios_strategy, seed=st.integers(0, 2**31 - 1), data=st.data())
def test_every_pair_lands_in_exactly_one_split(pairs, ratios, seed, data):
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    split = splitting.assign_pair_splits(splitting.pair_codes(users, items), ratios, seed)
    assert set(np.unique(split)) <= {0, 1, 2}
    seen = {}
    for pair, code in zip(pairs, split):
        assert seen.setdefault(pair, code) == code  # repeated rows of a pair share the split
    # The split sizes (in pairs) are the requested shares, rounded.
    distinct = len(seen)
    sizes = [sum(1 for code in seen.values() if code == c) for c in range(3)]
    assert sizes == splitting.split_sizes(distinct, ratios)
    assert sum(sizes) == distinct
    # Same pairs in another row order: same split per pair.
    order = data.draw(st.permutations(range(len(pairs))))
    shuffled = splitting.assign_pair_splits(splitting.pair_codes(users[order], items[order]), ratios, seed)
    assert all(seen[pairs[row]] == code for row, code in zip(order, shuffled))
    # Same input and seed: same result.
    again = splitting.assign_pair_splits(splitting.pair_codes(users, items), ratios, seed)
    assert np.array_equal(split, again)


@FAST
@given(n=st.integers(0, 10_000), ratios=ratios_strategy)
def test_split_sizes_add_up(n, ratios):
    sizes = splitting.split_sizes(n, ratios)
    assert sum(sizes) == n and min(sizes) >= 0
    total = sum(ratios)
    for size, share in zip(sizes, ratios):
        assert abs(size - n * share / total) <= 1.0 + 1e-9


@FAST
@given(durations=st.lists(st.integers(1, 10_000), min_size=1, max_size=300, unique=True), bins=st.integers(2, 12))
def test_equal_frequency_bins_on_distinct_durations(durations, bins):
    values = np.array(durations, dtype=np.float64)
    edges = splitting.equal_frequency_edges(values, bins)
    levels = splitting.assign_levels(values, edges)
    assert np.all(np.diff(edges) > 0)
    assert len(edges) <= bins - 1
    assert levels.min() == 0 and levels.max() == len(edges)
    if len(values) >= bins:
        counts = np.bincount(levels, minlength=bins)
        assert len(edges) == bins - 1
        assert counts.max() - counts.min() <= 2  # equal frequency up to rounding
    # Monotone: a longer item never gets a lower level.
    order = np.argsort(values)
    assert np.all(np.diff(levels[order]) >= 0)


@FAST
@given(durations=st.lists(st.sampled_from([5.0, 10.0, 15.0, 60.0]), min_size=1, max_size=200),
       bins=st.integers(2, 8))
def test_ties_merge_bins_instead_of_leaving_them_empty(durations, bins):
    values = np.array(durations)
    edges = splitting.equal_frequency_edges(values, bins)
    levels = splitting.assign_levels(values, edges)
    assert set(np.unique(levels)) == set(range(len(edges) + 1))  # no empty bin among 0..K'-1


kwai_rows_strategy = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 12), st.booleans(), st.booleans(), st.integers(0, 40),
              st.integers(0, 30)),
    min_size=3, max_size=80)


def _kwai_lines(rows):
    lines = []
    for n, (user, photo, click, like, played, duration) in enumerate(rows):
        played = played if click else 0
        lines.append("\t".join(str(v) for v in (user, photo, int(click), int(like and click), 0, 1_500_000_000 + n,
                                               played, duration)))
    return lines


def _convert(lines, seed, extra=()):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "raw" / "train").mkdir(parents=True)
        (root / "raw" / "train" / "train_interaction.txt").write_text("".join(l + "\n" for l in lines))
        try:
            kwai.convert(["--raw", str(root / "raw"), "--out", str(root / "out"), "--quiet", "--seed", str(seed),
                          *extra])
        except errors.ConversionError as error:
            return str(error).replace(folder, "<tmp>")
        out = root / "out" / "kwai"
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@END_TO_END
@given(rows=kwai_rows_strategy, seed=st.integers(0, 1000), duplicates=st.sampled_from(["merge", "keep"]),
       data=st.data())
def test_converted_splits_are_disjoint_complete_and_deterministic(rows, seed, duplicates, data):
    lines = _kwai_lines(rows)
    first = _convert(lines, seed, ["--duplicates", duplicates])
    if isinstance(first, str):
        # Only possible failure on valid rows: no duration left, or nothing for training.
        assert "duration" in first or "training split is empty" in first
        return
    split_pairs = {}
    for split in ("train", "valid", "test"):
        body = first[f"kwai.{split}.inter"].decode().splitlines()[1:]
        split_pairs[split] = [tuple(line.split("\t")[:2]) for line in body]
    train, valid, test = (set(split_pairs[s]) for s in ("train", "valid", "test"))
    assert not train & valid and not train & test and not valid & test  # no pair in two splits
    expected = {(str(u), str(p)) for u, p, _, _, _, d in rows if d > 0}  # zero duration = missing, dropped
    assert train | valid | test == expected
    if duplicates == "merge":
        assert sum(len(v) for v in split_pairs.values()) == len(expected)
    else:
        assert sum(len(v) for v in split_pairs.values()) == sum(1 for r in rows if r[5] > 0)
    # Determinism: the same raw file and seed give byte-identical output, and
    # so does the same log in another row order.
    assert _convert(lines, seed, ["--duplicates", duplicates]) == first
    if duplicates == "merge":
        shuffled = data.draw(st.permutations(lines))
        assert _convert(list(shuffled), seed, ["--duplicates", duplicates]) == first
