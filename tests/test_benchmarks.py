"""The performance benchmark's Kwai chain runs end to end on a tiny log (the figures are not checked)."""

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
