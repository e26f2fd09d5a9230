"""The performance benchmark's Kwai chain runs end to end on a tiny log (the figures are not checked)."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_performance_kwai_and_load_parts_on_a_tiny_log(tmp_path):
    out = tmp_path / "performance.md"
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "performance.py"), "--parts=kwai,load", "--threads=1",
           "--kwai_rows=4000", "--kwai_users=60", "--kwai_items=300", f"--kwai_dir={tmp_path / 'kwai'}", f"--out={out}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    assert "one DCRMoE training epoch" in report and "test evaluation" in report
    # both parsers, in their own processes, produced the same tensors and token lists
    assert "identical data: **yes**" in report


def test_overlap_benchmark_writes_its_tables_and_curve(tmp_path):
    small = {"sim_users": 60, "sim_items": 120, "sim_rows_per_user": 30, "sim_creators": 12, "sim_like_bias": -2.0,
             "epochs": 1, "expert_hidden_size": [8], "mlp_hidden_size": [8], "checkpoint_dir": str(tmp_path / "saved")}
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "overlap.py"), "--knob=0,1", f"--data_root={tmp_path}",
           f"--out_dir={tmp_path / 'out'}", "--extra=" + json.dumps(small)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    structures = (tmp_path / "out" / "overlap_structures.md").read_text()
    assert "X → A (Fig. 3b)" in structures and "Chosen on validation" in structures
    curve = (tmp_path / "out" / "overlap_curve.md").read_text()
    assert "| 1 |" in curve and (tmp_path / "out" / "overlap_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_vs_official_torch_proxy_moves_their_paths_and_replaces_their_seed(tmp_path):
    # Their code is not here (the user fetches it); the proxy that their modules see is ours and testable alone.
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("vs_official", os.path.join(REPO, "benchmarks", "vs_official.py"))
    vs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vs)
    work = str(tmp_path / "work")
    os.makedirs(work)
    proxy = vs.TorchProxy(work, os.path.join(work, "ckpt"), seed=7)
    proxy.manual_seed(1024)  # their constructor's hard-coded seed
    drawn = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(drawn, torch.rand(3))
    proxy.save({"w": 1}, "/data/zyang/elsewhere/model.pth")  # a path outside the work folder is moved inside
    assert os.path.exists(os.path.join(work, "ckpt", "model.pth"))
    assert proxy.load("/data/zyang/elsewhere/model.pth") == {"w": 1}
    own = vs.TorchProxy(work, os.path.join(work, "ckpt"))  # no seed given: theirs stands
    own.manual_seed(1024)
    drawn = torch.rand(3)
    torch.manual_seed(1024)
    assert torch.equal(drawn, torch.rand(3))


def _fake_vs_official_report(path, seed, ndcg, capped):
    header = "| model | NDCG@10 plugin | NDCG@10 official | gap | CappedRecall@10 plugin | official | " \
             "Recall@10 plugin | official | samples/s plugin | samples/s official | ratio | best epoch |"
    row = f"| FairGo | {ndcg[0]:.4f} | {ndcg[1]:.4f} | x | {capped[0]:.4f} | {capped[1]:.4f} | 0.4 | 0.4 | 1 | 1 | 1 | 1 / 1 |"
    seed_flag = f" --seed={seed}" if seed else ""
    path.write_text(f"# r\n\nCommand: `python benchmarks/vs_official.py --official=X{seed_flag}`\n\n{header}\n|---|\n{row}\n")
    return str(path)


def test_vs_official_seeds_averages_each_side_over_the_runs(tmp_path):
    reports = [_fake_vs_official_report(tmp_path / "a.md", 2021, (0.30, 0.32), (0.50, 0.40)),
               _fake_vs_official_report(tmp_path / "b.md", None, (0.34, 0.32), (0.40, 0.40))]
    out = tmp_path / "seeds.md"
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "vs_official_seeds.py"), *reports,
                           f"--out={out}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "| 2021 | 0.3000 / 0.3200 | -6.2% |" in text and "| each side's own (2020 / 1024) |" in text
    # means 0.32 / 0.32 (gap +0.0%, 1 of 2 below) and 0.45 / 0.40 (+12.5%, 0 of 2 below)
    assert "**0.3200 / 0.3200** | **+0.0%** (1 of 2 below)" in text
    assert "**0.4500 / 0.4000** | **+12.5%** (0 of 2 below)" in text


def test_select_defaults_applies_extra_keys_and_ranks_the_variants(tmp_path):
    small = {"sim_users": 40, "sim_items": 80, "sim_rows_per_user": 20, "sim_creators": 8, "sim_like_bias": -2.0,
             "backbone": "FM", "expert_hidden_size": [8], "mlp_hidden_size": [8]}
    out = tmp_path / "selection.md"
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "select_defaults.py"),
           "--variants=defaults_dense,defaults_xavier_embeddings", "--models=DCRMoE", "--settings=hidden_z",
           "--seeds=2020", "--workers=1", "--epochs=1", f"--data_root={tmp_path / 'data'}", f"--out={out}",
           "--extra=" + json.dumps(small)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    assert '"backbone": "FM"' in report and "| defaults_xavier_embeddings |" in report and "| defaults_dense |" in report
    stored = json.loads((tmp_path / "selection.md.json").read_text())
    assert len(stored) == 2 and all(key.endswith(json.dumps(small, sort_keys=True)) for key in stored)
    bad = subprocess.run(cmd[:2] + ["--variants=defaults_xavier"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown 'defaults_xavier' (did you mean" in bad.stderr


def test_ranking_trains_every_method_on_every_seed_and_reports_errors(tmp_path):
    small = {"sim_users": 40, "sim_items": 80, "sim_rows_per_user": 20, "sim_creators": 8, "sim_like_bias": -2.0,
             "expert_hidden_size": [8], "mlp_hidden_size": [8]}
    out = tmp_path / "ranking.md"
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "ranking.py"), "--methods=DCRMoE,NFMWA",
           "--settings=x_causes_a", "--seeds=1,2", "--workers=2", "--epochs=1", f"--data_root={tmp_path / 'data'}",
           f"--out={out}", "--extra=" + json.dumps(small)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stored = json.loads((tmp_path / "ranking.md.json").read_text())
    assert sorted(stored) == ["DCRMoE|x_causes_a|1", "DCRMoE|x_causes_a|2", "NFMWA|x_causes_a|1", "NFMWA|x_causes_a|2"]
    # each seed drew its own dataset
    assert (tmp_path / "data" / "sim_x_causes_a_3001").is_dir() and (tmp_path / "data" / "sim_x_causes_a_3002").is_dir()
    report = out.read_text()
    assert "## Summary" in report and "X → A (Fig. 3b)" in report and " ± " in report
    bad = subprocess.run(cmd[:2] + ["--methods=DCRMOE"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown 'DCRMOE' (did you mean DCRMoE" in bad.stderr


def test_ranking_report_means_errors_ranks_and_paired_gaps(tmp_path):
    def run(ndcg, capped, map_):
        return {"valid": 0.0, "test": {"ndcg@10": ndcg, "cappedrecall@10": capped, "map@10": map_}}

    store = {"DCRMoE|hidden_z|1": run(0.30, 0.50, 0.20), "DCRMoE|hidden_z|2": run(0.34, 0.50, 0.20),
             "CR|hidden_z|1": run(0.33, 0.40, 0.25), "CR|hidden_z|2": run(0.35, 0.40, 0.25),
             "NFMWA|hidden_z|1": run(0.20, 0.40, 0.20), "NFMWA|hidden_z|2": run(0.22, 0.40, 0.20)}
    out = tmp_path / "ranking.md"
    (tmp_path / "ranking.md.json").write_text(json.dumps(store))
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "ranking.py"), "--reuse",
                           "--methods=DCRMoE,CR,NFMWA", "--settings=hidden_z", "--seeds=1,2", f"--out={out}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    # CR first (0.34 ± 0.01); DCRMoE 0.32 ± 0.02, second; paired gaps -0.03 and -0.01: -0.02 ± 0.01, not within
    assert "| 1 | CR | 0.3400 ± 0.0100 |" in text and "| 2 | **DCRMoE** | 0.3200 ± 0.0200 |" in text
    assert "| 2 of 3 | CR | -0.0200 ± 0.0100 | **no** | CR | -0.0200 ± 0.0100 | **no** | yes |" in text
    # RI over CR: mean of (0.32-0.34)/0.34, (0.5-0.4)/0.4, (0.2-0.25)/0.25 = (-5.88% + 25% - 20%) / 3
    assert "| +25.0% |" not in text and "-0.3%" in text

    # a row of DCR-MoE's earlier defaults on top is the first row, but not the first method to pick
    store.update({"DCRMoE-dropout_0|hidden_z|1": run(0.40, 0.5, 0.2), "DCRMoE-dropout_0|hidden_z|2": run(0.44, 0.5, 0.2)})
    (tmp_path / "ranking.md.json").write_text(json.dumps(store))
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "ranking.py"), "--reuse",
                           "--methods=DCRMoE,DCRMoE-dropout_0,CR,NFMWA", "--settings=hidden_z", "--seeds=1,2",
                           f"--out={out}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("| 3 of 4 | DCRMoE-dropout_0 | -0.1000 ± 0.0000 | **no** | CR | -0.0200 ± 0.0100 | **no** | yes |"
            in out.read_text())


def test_match_slope_reports_one_slope_per_value_of_a(tmp_path):
    small = {"sim_users": 40, "sim_items": 80, "sim_rows_per_user": 20, "sim_creators": 8, "sim_like_bias": -2.0,
             "expert_hidden_size": [8], "embedding_size": 4}
    out = tmp_path / "slope.md"
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "match_slope.py"), "--variants=yaml_defaults,sharing_separate",
           "--workers=1", "--epochs=1", f"--data_root={tmp_path / 'data'}", f"--out={out}", "--extra=" + json.dumps(small)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| yaml_defaults") or line.startswith("| sharing_separate")]
    assert len(rows) == 2 and all(len(row.split("|")) == 2 + 3 + 6 + 1 for row in rows)  # 6 values of A, one slope each
    bad = subprocess.run(cmd[:2] + ["--variants=sharing_seperate"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown 'sharing_seperate' (did you mean" in bad.stderr
