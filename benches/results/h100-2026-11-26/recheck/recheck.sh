#!/usr/bin/env bash
# Re-run on the H100 after last session's fixes: the suite on CUDA, HF parity, training.
set -u
OUT=${OUT:-/tmp/h100}; mkdir -p "$OUT"
BIN=/tmp/burn-rotary-bin; mkdir -p $BIN && tar -xJf gpu/bin.tar.xz -C $BIN
export BURN_ROTARY_REQUIRE_BACKENDS=1
echo "=== device $(date -u +%FT%TZ)"; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "=== suite on Cuda"
timeout 200 $BIN/backends cuda > "$OUT/tests.log" 2>&1; echo "exit $?"
grep -E "FAILED|panicked at|^test result|passed|failed" "$OUT/tests.log" | tail -15
echo "=== hf_parity"
for f in tests/fixtures/hf_rope_public.json tests/fixtures/hf_models_public.json tests/fixtures/nd_rope_public.json; do
  timeout 60 $BIN/hf_parity "$f" --backend cuda > "$OUT/parity.log" 2>&1; echo "$f: exit $?, $(tail -1 "$OUT/parity.log")"
done
echo "=== train on cuda, 20 steps $(date -u +%T)"
timeout 150 $BIN/train --backend cuda --steps 20 --out "$OUT/train-cuda" > "$OUT/train-cuda.log" 2>&1; echo "exit $?"
tail -8 "$OUT/train-cuda.log"
echo "=== train on ndarray, 20 steps $(date -u +%T)"
timeout 60 $BIN/train --backend ndarray --steps 20 --out "$OUT/train-nd" 2>&1 | tail -3
echo "=== end $(date -u +%T)"
