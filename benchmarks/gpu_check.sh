#!/usr/bin/env bash
# The GPU path, checked in one short run (< 8 min on one GPU), for the day a device is lent.
#
#   bash benchmarks/gpu_wheels.sh          # here, once: RecBole's pure-Python wheels into .whl/ (git-ignored)
#   recbole-dcr train --model=DCRMoE --epochs=1  # here, once: makes dataset/dcr_sim (git-ignored), which travels
#   device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl", "dataset/dcr_sim"], timeout_s=540)
#
# On the device machine (Python 3.12 with its own torch, numpy 2, pandas, scikit-learn; nothing can be
# fetched there) it installs the carried wheels into /tmp/site, gives numpy 2 the three aliases RecBole
# 1.2.1 reads at start-up (np.float_, np.complex_, np.unicode_: an environment shim of this check only,
# never shipped), then: the CUDA tests (tests/test_gpu.py: every model trains and ranks on the GPU, CPU
# and GPU scores agree, sparse tables, data-parallel NCCL when there are 2 GPUs), DCR-MoE vs stock
# RecBole NFM training throughput and the Table 4 inference timings (benchmarks/performance.py on the
# GPU). Everything it prints and performance_gpu.md come back in $OUT; copy the latter to results/.
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT" /tmp/site
log="$OUT/gpu_check.log"
{
  echo "== environment"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 3
  # RecBole 1.2.1 is written for pandas < 3 (in-place column updates); carry pandas 2 for an image with pandas 3
  if ! python3 -c 'import pandas, sys; sys.exit(int(pandas.__version__.split(".")[0]) >= 3)'; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/fallback/*.whl || exit 3
  fi
  cat > /tmp/site/sitecustomize.py <<'PY'
import numpy as np
for old, new in (("float_", "float64"), ("complex_", "complex128"), ("unicode_", "str_")):
    if not hasattr(np, old):  # numpy 2 removed them; RecBole 1.2.1's Config reads them at start-up
        setattr(np, old, getattr(np, new))
PY
  export PYTHONPATH=/tmp/site:$PWD
  python3 - <<'PY' || exit 4
import numpy, pandas, torch, recbole, recbole_dcr
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), "GPUs", torch.cuda.device_count())
print("numpy", numpy.__version__, "pandas", pandas.__version__, "recbole", recbole.__version__)
PY
  echo "== CUDA tests"; start=$SECONDS
  RECBOLE_DCR_TEST_GPU=0 timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -25
  echo "tests: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
  echo "== throughput and inference on the GPU"; start=$SECONDS
  timeout 240 python3 benchmarks/performance.py --parts=train,inference --epochs=3 --threads=8 \
      --out="$OUT/performance_gpu.md" 2>&1 | grep -v Warning | tail -30
  echo "performance: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
} 2>&1 | tee "$log"
