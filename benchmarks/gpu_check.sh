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
# never shipped), then, each step with its own time limit, most important first:
#   1. the CUDA tests (tests/test_gpu.py: every model trains and ranks on the GPU, CPU and GPU scores
#      agree, CUDA-graph training equals the eager loop, the device loader's batches are the CPU's,
#      sparse tables, bf16, data-parallel NCCL when there are 2 GPUs);
#   2. training samples/s, in turns: stock RecBole NFM, NFMWA, DCRMoE (default, without CUDA graphs, bf16,
#      each expert_sharing design) at batch 2048, and the main ones at a batch that fills the GPU;
#   3. the same DCRMoE training on the GPU (fp32, bf16) and on the CPU: the figures;
#   4. per-user evaluation rows/s and the Table 4 inference timings.
# Everything lands in one archive, $OUT/gpu_check.tar.gz (gpu_check.log and performance_gpu*.md);
# copy them to results/.
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check_out}
work=/tmp/gpu_check
mkdir -p "$OUT" "$work" /tmp/site
log="$work/gpu_check.log"
pack() { tar -C "$work" -czf "$OUT/gpu_check.tar.gz" . ; }
trap pack EXIT
{
  echo "== environment"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl 2>&1 | grep -v WARNING
  # RecBole 1.2.1 is written for pandas < 3 (in-place column updates); carry pandas 2 for an image with pandas 3
  if ! python3 -c 'import pandas, sys; sys.exit(int(pandas.__version__.split(".")[0]) >= 3)'; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/fallback/*.whl 2>&1 | grep -v WARNING
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
  quiet() { grep -v -e Warning -e "inplace" -e "^$" -e "For example" -e "The behavior will change" -e "feat\[field\]"; }
  echo "== 1. CUDA tests"; start=$SECONDS
  RECBOLE_DCR_TEST_GPU=0 timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -30
  echo "tests: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
  echo "== 2. training throughput"; start=$SECONDS
  timeout 160 python3 benchmarks/performance.py --parts=train --epochs=3 --threads=8 --batch_sizes=2048 \
      --pipelines=NFMWA,DCRMoE,DCRMoE_eager,DCRMoE_bf16,DCRMoE_separate,DCRMoE_heads,DCRMoE_residual,DCRMoE_pull,DCRMoE_conditioned,DCRMoE_embedded \
      --out="$work/performance_gpu.md" 2>&1 | quiet | tail -20
  echo "throughput, batch 2048: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"; start=$SECONDS
  pack
  timeout 90 python3 benchmarks/performance.py --parts=train --epochs=3 --threads=8 --batch_sizes=32768 \
      --pipelines=NFMWA,DCRMoE,DCRMoE_separate,DCRMoE_conditioned,DCRMoE_embedded --out="$work/performance_gpu_large_batch.md" \
      2>&1 | quiet | tail -12
  echo "throughput, batch 32768: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
  pack
  echo "== 3. GPU vs CPU figures"; start=$SECONDS
  timeout 100 python3 benchmarks/performance.py --parts=parity --threads=8 --parity_epochs=10 \
      --out="$work/performance_gpu_parity.md" 2>&1 | quiet | tail -15
  echo "parity: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
  pack
  echo "== 4. evaluation and inference"; start=$SECONDS
  timeout 70 python3 benchmarks/performance.py --parts=eval,inference --epochs=3 --threads=8 \
      --out="$work/performance_gpu_eval.md" 2>&1 | quiet | tail -25
  echo "evaluation: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s"
} 2>&1 | tee "$log"
