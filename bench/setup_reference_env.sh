#!/usr/bin/env bash
# Build the isolated venv that holds the reference implementation (hf-dataset-selector 0.2.1)
# for bench/bench_ranking.py. It never touches /work/venv.
#
#   bash bench/setup_reference_env.sh            # creates /work/bench-venv (or $BENCH_VENV)
#
# torch is pinned to the CPU wheel our venv uses (2.13.0) so both sides run the same kernels;
# pip is never allowed to pull a newer torch. The reference pins numpy==2.0.0; we install its
# imports explicitly with --no-deps on the package itself.
set -euo pipefail
VENV="${BENCH_VENV:-/work/bench-venv}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import hfselect, numba, scipy, transformers, torch; assert torch.__version__.startswith('2.13.0')" 2>/dev/null; then
  echo "reference venv ready: $VENV"
  exit 0
fi
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
TORCH_PIN="torch==2.13.0"
WHEEL=$(ls /opt/wheels/torch-2.13.0*cpu*.whl 2>/dev/null | head -1 || true)
if [ -n "$WHEEL" ]; then
  "${PIP[@]}" "$WHEEL"
else
  "${PIP[@]}" "$TORCH_PIN" --index-url https://download.pytorch.org/whl/cpu
fi
CONSTRAINTS=$(mktemp)
echo "$TORCH_PIN" > "$CONSTRAINTS"
echo "numpy==2.0.0" >> "$CONSTRAINTS"
"${PIP[@]}" --no-deps "hf-dataset-selector==0.2.1"
# What hfselect imports (its METADATA: datasets, huggingface-hub, numba, numpy==2.0.0, pandas, torch,
# tqdm, transformers). numba must support numpy 2.0, and its np.linalg support needs scipy.
"${PIP[@]}" -c "$CONSTRAINTS" "numpy==2.0.0" "numba>=0.60.0" "transformers>=4.48.0" "huggingface_hub>=0.27.0" \
  "pandas>=2.2.3" "tqdm>=4.67.1" "datasets>=3.2.0" safetensors scipy
rm -f "$CONSTRAINTS"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import hfselect, numba, numpy, torch, transformers
from hfselect.esm_logme import compute_scores  # noqa: F401
print("hfselect", md.version("hf-dataset-selector"), "torch", torch.__version__, "numpy", numpy.__version__,
      "numba", numba.__version__, "transformers", transformers.__version__)
assert torch.__version__.startswith("2.13.0"), torch.__version__
PY
echo "reference venv ready: $VENV"
