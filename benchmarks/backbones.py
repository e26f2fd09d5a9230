"""Backbone x {plain model, DCR-MoE, generic DCR}: test metrics and inference time on one dataset.

    python benchmarks/backbones.py [--backbones NFM,FM,DeepFM,WideDeep,DCN,DCNV2,xDeepFM,AutoInt]
        [--variants plain,moe,generic] [--out results/backbones.md] [--threads N] [--key=value ...]

For each backbone: RecBole's model as is (it sees A as a feature), DCR-MoE with that backbone
(``--backbone``), and the generic wrapper (``--model=DCR --base_model=<backbone>``, exact enumeration).
Inference time is the wall time of ``model.predict`` over the test rows, scaled to 1M candidates.
"""

import argparse
import sys
import time

import torch

from recbole_dcr.files import write_text
from recbole_dcr.quick_start import train
from recbole_dcr.research.reports import machine_line


def train_and_time(model_name, overrides, command_line):
    run = train(model_name, config_dict={"show_progress": False, "state": "WARNING", **overrides},
                command_line=command_line, quiet=True)
    result, test, config = run.result, run.test_data, run.config
    model = run.trainer.model.eval()
    rows, start = 0, time.perf_counter()
    with torch.no_grad():
        for interaction, *_ in test:
            model.predict(interaction.to(config["device"]))
            rows += len(interaction)
    return dict(result["test_result"]), (time.perf_counter() - start) * 1e6 / rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="NFM,FM,DeepFM,WideDeep,DCN,DCNV2,xDeepFM,AutoInt")
    parser.add_argument("--variants", default="plain,moe,generic", help="which of plain, moe, generic to run")
    parser.add_argument("--out", default="results/backbones.md")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    args, command_line = parser.parse_known_args()
    torch.set_num_threads(args.threads)
    lines = [
        "# DCR on RecBole backbones (default dataset `dcr_sim`)", "",
        f"Command: `python {' '.join(sys.argv)}`", "",
        machine_line(args.threads), "",
        "| backbone | variant | recall@10 | map@10 | ndcg@10 | inference s / 1M candidates |", "|---|---|---|---|---|---|",
    ]
    variants = args.variants.split(",")
    unknown = set(variants) - {"plain", "moe", "generic"}
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from plain, moe, generic")
    for backbone in args.backbones.split(","):
        for key, variant, model, overrides in (
            ("plain", "plain RecBole model", backbone, {}),
            ("moe", "DCR-MoE", "DCRMoE", {"backbone": backbone}),
            ("generic", "generic DCR (enumerate)", "DCR", {"base_model": backbone, "inference": "do"}),
        ):
            if key not in variants:
                continue
            result, seconds = train_and_time(model, overrides, command_line)
            lines.append(f"| {backbone} | {variant} | {result['recall@10']:.4f} | {result['map@10']:.4f} | "
                         f"{result['ndcg@10']:.4f} | {seconds:.1f} |")
            print(lines[-1], flush=True)
            write_text(args.out, "\n".join(lines) + "\n")  # after every row: a long run that is cut short keeps what it measured
    print("\n".join(lines))


if __name__ == "__main__":
    main()
