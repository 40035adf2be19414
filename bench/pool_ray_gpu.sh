#!/usr/bin/env bash
# Rebuild the bundled all-MiniLM-L6-v2 pool through Ray on one GPU (the device machine), then
# check GPU determinism and time BERT-base ESMs. Results: bench/RESULTS.md, "Pool build on Ray".
#
# The machine has no network: .gpu/raybench/bundle.tar.* (made by bench/pool_ray_bundle.sh) holds
# Ray 2.60 (a cp312 install without its Java jar and dashboard UI) and its pure-Python needs, the
# 39 training files (zstd Parquet, texts cut at 700 characters as for the first build), the model
# as a float16 copy and a snapshot of the code at a commit. Outputs go to $OUT.
set -euo pipefail
B=.gpu/raybench
W=/tmp/rb
mkdir -p $W /tmp/site
cat $B/bundle.tar.* | tar xf - -C $W
tar xJf $W/raysite.tar.xz -C /tmp/site
SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
echo $W/deps > "$SITE/zz_hfselect_raybench.pth"   # after the image's own packages: only missing ones come from here
export PYTHONPATH=/tmp/site:$W/code PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $OUT/env.txt
python3 -c 'import ray, torch, transformers, sys; print("python", sys.version.split()[0], "ray", ray.__version__, "torch", torch.__version__, "transformers", transformers.__version__)' | tee -a $OUT/env.txt
nproc | sed 's/^/cpus /' | tee -a $OUT/env.txt

# 1. The pool, 7 ESMs sharing the GPU (as the 319 s build ran 7 processes), 2 CPUs each.
start=$(date +%s.%N)
python3 $W/code/scripts/build_pool.py --manifest $W/data/manifest.json --out /tmp/raypool \
    --model-path $W/model --esms-per-gpu ${ESMS_PER_GPU:-7} --cpus-per-esm 2 --progress-every 15 2>&1 | grep -v "Loading weights\|Writing model" | tee $OUT/build.log || echo "build exited with status $?"
end=$(date +%s.%N)
python3 -c "print('command wall seconds', round($end - $start, 1))" | tee -a $OUT/build.log
cp /tmp/raypool/pool_report.json $OUT/
tar cf - -C /tmp raypool --exclude pool_journal.jsonl | split -b 15M - $OUT/raypool.tar.

# 2. Is one ESM's training bitwise reproducible on this GPU? (wnli twice, then against the Ray build)
python3 bench/pool_ray_check.py determinism --data $W/data --model $W/model --ray-pool /tmp/raypool \
    --out $OUT/determinism.json || true

# 3. BERT-base (random weights from its config: timing only) through the same command, 4 tasks.
timeout ${BERT_TIMEOUT:-150} python3 bench/pool_ray_check.py bert --data $W/data --model $W/model \
    --out $OUT/bert_base.json || true
