#!/usr/bin/env bash
# Wheels that benchmarks/gpu_check.sh carries to the device machine (Python 3.12 there; nothing can be
# fetched there): RecBole and the three small pure-Python packages it imports that the device image lacks.
# About 2 MB; .whl/ is kept out of git through .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps -d .whl recbole==1.2.1 colorlog==4.7.2 texttable==1.7.0 thop==0.1.1.post2209072238
ls -la .whl
