#!/usr/bin/env bash
# Pack what bench/pool_ray_gpu.sh needs on the offline GPU machine into .gpu/raybench/bundle.tar.*
# (30 MB pieces: each run call carries at most 64 MiB with the working tree, so the pieces travel
# in back-to-back calls while the machine stays warm). Run from the repository root.
# Needs: /tmp/raysite.tar.xz (Ray 2.60 cp312, `pip install --target`, ray/jars, ray/rllib, ray/llm and
# ray/dashboard/client/build removed), /tmp/deps (its pure-Python needs for cp312), the float16
# model copy in .gpu/raybench/model and the data in .gpu/raybench/data (see bench/RESULTS.md).
set -euo pipefail
B=.gpu/raybench
S=$(mktemp -d)
cp ${RAYSITE:-$B/raysite.tar.xz} $S/raysite.tar.xz
cp -r ${DEPS:-/tmp/deps} $S/deps
cp -r $B/data $B/model $S/
mkdir $S/code
git archive ${COMMIT:-HEAD} hfselect_core scripts/build_pool.py assets/esm_card_template.md | tar xf - -C $S/code
git rev-parse ${COMMIT:-HEAD} > $S/code/COMMIT
rm -f $B/bundle.tar.*
tar cf - -C $S . | split -b 30M - $B/bundle.tar.
rm -rf $S
ls -la $B/bundle.tar.*
