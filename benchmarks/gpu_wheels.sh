#!/usr/bin/env bash
# Wheels that benchmarks/gpu_check.sh carries to the device machine (Python 3.12 there; nothing can be
# fetched there): RecBole and the three small pure-Python packages it imports that the device image lacks.
# About 2 MB; .whl/ is kept out of git through .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps -d .whl recbole==1.2.1 colorlog==4.7.2 texttable==1.7.0 thop==0.1.1.post2209072238
# pandas 2 for Python 3.12, installed there only if the image's pandas is 3 or newer
mkdir -p .whl/fallback
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl/fallback pandas==2.3.3 pytz==2025.2 tzdata
ls -la .whl .whl/fallback
