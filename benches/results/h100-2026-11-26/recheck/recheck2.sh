#!/usr/bin/env bash
# Training on the H100 (learner), time-stamped lines; then the training tests on CUDA.
set -u
OUT=${OUT:-/tmp/h100}; mkdir -p "$OUT"
BIN=/tmp/burn-rotary-bin; mkdir -p $BIN && tar -xJf gpu/bin2.tar.xz -C $BIN
export BURN_ROTARY_REQUIRE_BACKENDS=1
stamp() { while IFS= read -r l; do echo "$(date -u +%T.%2N) $l"; done; }
echo "=== 1: train cuda, 10 steps, log every step, compile log $(date -u +%T)"
CUBECL_DEBUG_LOG=/tmp/cubecl1.log timeout 170 $BIN/train --backend cuda --steps 10 --log-every 1 --out /tmp/t1 2>&1 | stamp | grep -v "^  " | tail -20
echo "exit ${PIPESTATUS[0]}; kernels compiled: $(grep -c -i 'compil' /tmp/cubecl1.log 2>/dev/null); autotune lines: $(grep -c -i 'autotune' /tmp/cubecl1.log 2>/dev/null)"
grep -i -E "autotune|fastest" /tmp/cubecl1.log 2>/dev/null | cut -c1-200 | head -20 > "$OUT/autotune-head.txt"
ls -la ~/.cache 2>/dev/null | head; find / -name "*autotune*" -newer $BIN/train -maxdepth 6 2>/dev/null | head -5
echo "=== 2: same again, autotune level minimal $(date -u +%T)"
CUBECL_AUTOTUNE_LEVEL=minimal timeout 100 $BIN/train --backend cuda --steps 20 --log-every 2 --out /tmp/t2 2>&1 | stamp | grep -v "^  " | tail -16
echo "=== 3: training tests on cuda $(date -u +%T)"
timeout 120 $BIN/train-tests cuda 2>&1 | grep -v "^  " | grep -E "^test |test result|panicked|not impl|Should" | head -20
echo "=== end $(date -u +%T)"
