"""``recbole-dcr doctor``: is a dataset's confounder suitable for DCR's backdoor adjustment?

:func:`diagnose` measures, on the training split of a built :class:`~recbole_dcr.data.dataset.DCRDataset`:

* ``rho1`` = Pearson(A, training label), ``rho2`` = Pearson(A, evaluation label), ``|rho1/rho2|``: the
  paper's Table 1 criterion (A's value is its index in the tokens' natural order, numbers by value;
  for several confounders, the index of the joint combination ordered part by part);
* P(A) with its normalised entropy H(P)/log K (1 = uniform) and max/min ratio;
* the overlap of A given the content (:mod:`recbole_dcr.overlap` defines each number), and per content
  value: n_x, overlap_x = Σ_a min(P(a|x), P(a)) (1 = same distribution as P(A)) and the values of A it lacks;

and :func:`format_report` writes it up with a verdict a user can act on.
"""

import math

import numpy as np

from recbole_dcr.overlap import (
    DEFAULT_EPSILON,
    GOOD_OVERLAP,
    GOOD_UNSUPPORTED,
    LOW_OVERLAP,
    LOW_UNSUPPORTED,
    MEASURABLE_REFERENCE,
    _entries,
    _numpy,
    content_fields,
    content_overlap,
    natural_key,
    natural_rank,
    overlap_kind,
    pearson,
    shuffled_reference,
)

# |rho1/rho2| below this: A biases the training label hardly more than the evaluation label (the
# paper's non-confounding feature has ≈ 1; its confounders 6.07 on Kwai and 8.73 on Wechat).
CONFOUNDING_RATIO = 2.0
WORST_SHOWN = 5

# benchmarks/overlap.py (results/overlap_structures.md): chosen on validation over the four simulator structures
SHRUNK_HINT = ("train DCR-MoE with --inference=shrunk, which weights each item's experts toward the values of A its "
               "content occurs with (it halved DCR-MoE's loss to NFM-WA where content sets A, and keeps the paper's "
               "sum where overlap holds)")
COMPARE_HINT = ("compare DCR-MoE with NFM-WA on validation before trusting its ranking "
                "(`recbole-dcr experiments --models=DCRMoE,NFMWA`)")


def _content_name(dataset, fields, item):
    if not fields:
        return f"{dataset.iid_field}={dataset.id2token(dataset.iid_field, int(item))}"
    return ", ".join(f"{field}={dataset.id2token(field, int(_numpy(dataset.item_feat[field])[item]))}"
                     for field in fields)


def diagnose(dataset, epsilon=DEFAULT_EPSILON, worst=WORST_SHOWN):
    """The doctor's numbers for ``dataset``: the training split of a built DCRDataset (``dataset.build()[0]``).

    Returns a dict (see the module doc for each number's definition); :func:`format_report` writes it up.
    """
    conf = dataset.confounder_field
    tokens = list(dataset.field2id_token[conf][1:])
    ordered_tokens = sorted(tokens, key=natural_key)
    k = len(tokens)
    rank = natural_rank(dataset)
    a_rows = rank[_numpy(dataset.confounder_values()).astype(np.int64, copy=False)]
    train_label = _numpy(dataset.inter_feat[dataset.train_label_field]).astype(np.float64)
    eval_label = _numpy(dataset.inter_feat[dataset.eval_label_field]).astype(np.float64)
    rho1, rho2 = pearson(a_rows, train_label), pearson(a_rows, eval_label)
    rows_a = np.bincount(a_rows, minlength=k).astype(np.float64)
    prior = rows_a / max(rows_a.sum(), 1.0)
    seen = prior > 0
    entropy = float(-(prior[seen] * np.log(prior[seen])).sum())

    fields = content_fields(dataset)
    content, a_entries, weights, n_content, first_item, item_level = _entries(dataset, fields)
    overlap = content_overlap(content, a_entries, k, weights, epsilon, n_content)
    reference = shuffled_reference(content, a_entries, k, weights, epsilon, n_content)
    per_field = {}
    if len(fields) > 1:
        for field in fields:
            f_content, f_a, f_weights, f_n, _, _ = _entries(dataset, [field])
            per_field[field] = content_overlap(f_content, f_a, k, f_weights, epsilon, f_n)["overlap"]

    rows_x, overlap_x = overlap["content_rows"], overlap["content_overlap"]
    present = np.flatnonzero(rows_x > 0)
    order = present[np.lexsort((-rows_x[present], overlap_x[present]))][:worst]
    px, pa, count = overlap["pairs"]
    worst_values = []
    for x in order:
        cells = px == x
        q = np.zeros(k)
        q[pa[cells]] = count[cells] / rows_x[x]
        lacking = [ordered_tokens[a] for a in np.flatnonzero((overlap["prior"] >= epsilon) & (q < epsilon))]
        top = int(np.argmax(q))
        worst_values.append({"content": _content_name(dataset, fields, first_item[x]), "rows": int(rows_x[x]),
                             "overlap": float(overlap_x[x]), "top_value": ordered_tokens[top],
                             "top_share": float(q[top]), "lacking": lacking})
    return {
        "dataset": dataset.dataset_name, "confounder": conf, "parts": list(dataset.confounder_parts),
        "tokens": ordered_tokens, "K": k, "rows": int(len(a_rows)),
        "train_label": dataset.train_label_field, "eval_label": dataset.eval_label_field,
        "rho1": rho1, "rho2": rho2,
        "abs_rho1_over_rho2": abs(rho1 / rho2) if rho1 is not None and rho2 not in (None, 0.0) else None,
        "prior": prior.tolist(),
        "train_rate": (np.bincount(a_rows, weights=train_label, minlength=k) / np.maximum(rows_a, 1)).tolist(),
        "eval_rate": (np.bincount(a_rows, weights=eval_label, minlength=k) / np.maximum(rows_a, 1)).tolist(),
        "normalised_entropy": entropy / math.log(k) if k > 1 else 1.0,
        "max_min_ratio": float(prior.max() / prior[seen].min()) if seen.any() else None,
        "unseen_values": [ordered_tokens[a] for a in np.flatnonzero(~seen)],
        "content_fields": fields, "item_level": item_level, "content_values": int(present.size),
        "items_per_content_value": _items_per_value(content, weights, present.size) if item_level else None,
        "epsilon": epsilon, "overlap": overlap["overlap"], "overlap_raw": overlap["overlap_raw"],
        "floor": overlap["floor"], "unsupported_share": overlap["unsupported_share"], "reference": reference,
        "per_field_overlap": per_field, "worst": worst_values,
    }


def _items_per_value(content, weights, n_values):
    """Median number of training items per content value (item-level A)."""
    if not n_values:
        return 0.0
    items = np.bincount(content[weights > 0])
    return float(np.median(items[items > 0]))


def verdict(result):
    """(kind, sentence): kind is one of good, partial, low, unmeasurable, single."""
    overlap, reference, unsupported = result["overlap"], result["reference"], result["unsupported_share"]
    numbers = (f"overlap {overlap:.2f}, unsupported rows {unsupported:.0%}; an A shuffled over the "
               f"{'items' if result['item_level'] else 'rows'} would score {_fmt(reference, '{:.2f}')}")
    if result["K"] < 2:
        return "single", "A has a single value: there is nothing to adjust for."
    if not result["content_fields"] and result["item_level"]:
        return "unmeasurable", (
            "overlap not measurable: the items have no content feature besides their id, and A is one value per "
            "item, so A is a function of the item id by construction (overlap 0). Add content features (e.g. a "
            "category) as item token fields to measure it; until then " + COMPARE_HINT + ".")
    kind = overlap_kind(overlap, unsupported, reference)
    if kind == "unmeasurable":
        return kind, (
            f"overlap not measurable ({numbers} < {MEASURABLE_REFERENCE}): the content key "
            f"({'+'.join(result['content_fields']) or 'item id'}) has too few items per value, so even an A "
            f"independent of it looks determined. Check each content feature alone (below) or use coarser content "
            f"features; meanwhile " + COMPARE_HINT + ".")
    if kind == "good":
        return kind, (f"good overlap: DCR's adjustment is well supported ({numbers}; good: overlap ≥ {GOOD_OVERLAP} "
                      f"and unsupported < {GOOD_UNSUPPORTED:.0%}).")
    if kind == "partial":
        return kind, (
            f"partial overlap ({numbers}; good: overlap ≥ {GOOD_OVERLAP} and unsupported < {GOOD_UNSUPPORTED:.0%}): "
            f"part of DCR's sum scores items with experts of values of A rarely seen with their content; "
            + SHRUNK_HINT + "; and " + COMPARE_HINT + ".")
    return kind, (
        f"low overlap ({numbers}; low: overlap < {LOW_OVERLAP} or unsupported ≥ {LOW_UNSUPPORTED:.0%}): A is largely "
        f"set by the content, so DCR evaluates experts on content they never saw; " + SHRUNK_HINT + "; and "
        + COMPARE_HINT + ".")


def _fmt(value, pattern="{:+.4f}"):
    return "n/a" if value is None else pattern.format(value)


def format_report(result):
    """The doctor's report as Markdown (printed as is, and written by --out)."""
    kind, sentence = verdict(result)
    conf = result["confounder"]
    if result["parts"]:
        a_line = (f"A = `{conf}`: the joint field of {len(result['parts'])} confounders ({', '.join(result['parts'])}); "
                  f"A's value is the index of the combination, ordered part by part")
    else:
        a_line = f"A = `{conf}`; A's value is its index in the tokens' natural order"
    content = "+".join(result["content_fields"]) or "item id"
    ratio = result["abs_rho1_over_rho2"]
    lines = [
        f"# recbole-dcr doctor: `{result['dataset']}`", "",
        f"**Verdict: {sentence}**", "",
        f"{a_line} (K = {result['K']}); {result['rows']:,} training rows; content x = {content} "
        f"({result['content_values']:,} values in training"
        + ("" if result["content_fields"] else "; the items have no other token feature") + ").", "",
        "## The paper's Table 1 criterion (training rows)", "",
        f"- ρ1 = Pearson(A, {result['train_label']}) = {_fmt(result['rho1'])} (training label)",
        f"- ρ2 = Pearson(A, {result['eval_label']}) = {_fmt(result['rho2'])} (evaluation label)",
        f"- |ρ1/ρ2| = {_fmt(ratio, '{:.2f}')} (the paper's datasets: 6.07 and 8.73)", "",
    ]
    if ratio is not None and ratio < CONFOUNDING_RATIO:
        lines += [f"|ρ1/ρ2| < {CONFOUNDING_RATIO}: A biases the training label hardly more than the evaluation label "
                  f"(the paper's confounders: 6.07 and 8.73; a non-confounding feature: ≈ 1); DCR has little to "
                  f"remove.", ""]
    lines += ["## P(A) over training rows", "",
              f"| a | {conf} | P(a) | {result['train_label']} rate | {result['eval_label']} rate |",
              "|---|---|---|---|---|"]
    for index, token in enumerate(result["tokens"]):
        lines.append(f"| {index} | {token} | {result['prior'][index]:.4f} | {result['train_rate'][index]:.4f} | "
                     f"{result['eval_rate'][index]:.4f} |")
    ratio_text = "inf" if result["unseen_values"] else _fmt(result["max_min_ratio"], "{:.2f}")
    lines += ["", f"Normalised entropy H(P)/log K = {result['normalised_entropy']:.3f} (1 = uniform); "
                  f"max/min P(a) = {ratio_text}"
              + (f"; never in training: {result['unseen_values']}" if result["unseen_values"] else "") + ".", "",
              f"## Overlap of A given the content ({content})", "",
              f"- overlap = {result['overlap']:.3f}: (raw − floor) / (1 − floor); 1 = A independent of the content, "
              f"0 = A set by it",
              f"- raw overlap = {result['overlap_raw']:.3f}: Σ_x (n_x/N) Σ_a min(P(a|x), P(a)), over training rows",
              f"- floor = {result['floor']:.3f}: Σ_a P(a)², the raw overlap of an A that the content determines",
              f"- shuffled reference = {_fmt(result['reference'], '{:.3f}')}: the overlap of A shuffled over the "
              f"{'items' if result['item_level'] else 'rows'} (an independent A with these sample sizes)",
              f"- unsupported rows = {result['unsupported_share']:.1%}: rows whose content has P(a|x) < "
              f"{result['epsilon']:g} for some a with P(a) ≥ {result['epsilon']:g}"]
    if result["items_per_content_value"] is not None:
        lines.append(f"- items per content value = {result['items_per_content_value']:g} (median)")
    lines += ["", "Only the content features listed are measured: an A that moves content they do not show (the item "
                  "topic behind the item id, as in dcr_sim's a_causes_x structure) goes unseen here."]
    if result["per_field_overlap"]:
        lines += ["", "Each content feature alone:", "", "| feature | overlap |", "|---|---|"]
        lines += [f"| {field} | {value:.3f} |" for field, value in result["per_field_overlap"].items()]
    lines += ["", "Lowest-overlap content values (overlap_x = Σ_a min(P(a|x), P(a)); 1 = same as P(A)):", "",
              f"| content | rows | overlap_x | most common a (share) | lacking a: P(a given x) < ε ≤ P(a), "
              f"ε = {result['epsilon']:g} |",
              "|---|---|---|---|---|"]
    for value in result["worst"]:
        lines.append(f"| {value['content']} | {value['rows']:,} | {value['overlap']:.3f} | {value['top_value']} "
                     f"({value['top_share']:.0%}) | {', '.join(map(str, value['lacking'])) or '—'} |")
    lines += ["", f"Thresholds: good = overlap ≥ {GOOD_OVERLAP} and unsupported < {GOOD_UNSUPPORTED:.0%}; low = "
                  f"overlap < {LOW_OVERLAP} or unsupported ≥ {LOW_UNSUPPORTED:.0%}; partial in between; measurable "
                  f"when the shuffled reference ≥ {MEASURABLE_REFERENCE}. Verdict kind: {kind}."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the command
def main(args, overrides):
    """``recbole-dcr doctor``: the report of the dataset's training split, printed (and written by --out)."""
    from recbole.utils import init_logger, init_seed

    from recbole_dcr.config import Config
    from recbole_dcr.data import create_dataset
    from recbole_dcr.files import write_text

    config = Config(model="DCRMoE", dataset=args.dataset, config_file_list=args.config_files,
                    config_dict={"show_progress": False, "state": "WARNING"}, command_line=overrides)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    train, _, _ = create_dataset(config).build()
    report = format_report(diagnose(train, epsilon=args.epsilon))
    print(report)
    if args.out:
        write_text(args.out, report + "\n")
        print(f"written: {args.out}")
    return 0
