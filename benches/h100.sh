#!/usr/bin/env bash
# The H100 run (issue 17) in one device call: the suite on CUDA, HF parity, memcheck, the op
# benchmark beside the PyTorch peers on the same shapes, kernel durations from Nsight Compute,
# the fused (Fusion) backend, and training.
#
# Prepared on a machine with Rust (the GPU machine has none):
#   cargo test  --release --no-default-features --features ndarray,cuda --no-run --test backends
#   cargo build --release --no-default-features --features ndarray,cuda \
#       --example rope_bench --example hf_parity --example train
#   strip the test binary (as `backends`) and the three examples into gpu/bin.tar.xz, copy
#   ../shared/perf/peer_bench.py and the liger-kernel 0.8.5 wheel into gpu/ (ignored by git),
# then run there with gpu/ carried:  bash benches/h100.sh   (logs under $OUT)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/h100}
mkdir -p "$OUT"
BIN=/tmp/burn-rotary-bin
mkdir -p $BIN && tar -xJf gpu/bin.tar.xz -C $BIN
section() { echo; echo "=== $* ($(date -u +%FT%TZ))"; }
export BURN_ROTARY_REQUIRE_BACKENDS=1

section device
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv

section "suite on Cuda and Autodiff<Cuda>, f32/f16/bf16"
timeout 150 $BIN/backends cuda > "$OUT/tests.log" 2>&1
echo "exit $?"; grep -E "FAILED|panicked at|^test result" "$OUT/tests.log" | head -20

section "HF parity on Cuda"
for f in tests/fixtures/hf_rope_public.json tests/fixtures/hf_models_public.json tests/fixtures/nd_rope_public.json; do
    timeout 60 $BIN/hf_parity "$f" --backend cuda > "$OUT/parity.log" 2>&1; echo "$f: exit $?, $(tail -1 "$OUT/parity.log")"
done

section "op benchmark, device time (cuda-kernel)"
timeout 150 $BIN/rope_bench --backend cuda-kernel --shapes gpu --dtype f32,bf16,f16 --live-gib 24 2>&1 | tee "$OUT/bench.log"

section "peers (PyTorch 2.11, torch.compile, Liger) on the same shapes"
PYTHONUNBUFFERED=1 timeout 120 python3 gpu/peer_bench.py --quick --budget-s 90 \
    --liger-wheel gpu/liger_kernel-0.8.5-py3-none-any.whl --impls eager,compile,liger > "$OUT/peers.log" 2>&1
sed -n '/^RESULTS/,$p' "$OUT/peers.log"

section "kernel durations (Nsight Compute, clocks as found, caches flushed per kernel)"
ncu_run() {
    timeout 90 ncu --clock-control none --launch-count "$1" --print-summary per-kernel \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        $BIN/rope_bench --backend cuda-kernel --shapes "$2" --dtype "$3" --iters 2 > "$OUT/ncu-$2-$3.log" 2>&1
    grep -E "^  [A-Za-z_]|gpu__time_duration|dram__bytes" "$OUT/ncu-$2-$3.log" | head -60
}
ncu_run 200 decode bf16
ncu_run 80 prefill f32
ncu_run 80 prefill bf16

section "compute-sanitizer memcheck on Cuda"
for t in every_element_written out_of_range_positions_are_nan gqa_and_axis_orders; do
    timeout 60 compute-sanitizer --tool memcheck --print-limit 5 $BIN/backends "cuda::$t" 2>&1 | grep -E "ERROR SUMMARY|test result" 
done

section "fused backend (Fusion<Cuda>), wall clock"
timeout 60 $BIN/rope_bench --backend cuda --shapes prefill,decode --dtype bf16 --live-gib 24 2>&1 | tail -16

section "training: Autodiff<Cuda> vs NdArray (this machine's 16 cores)"
timeout 100 $BIN/train --backend cuda --steps 300 --out /tmp/train-cuda > "$OUT/train-cuda.log" 2>&1; echo "exit $?"
grep -E "training on|tokens/s|^eval|^loss" "$OUT/train-cuda.log"
timeout 60 $BIN/train --backend ndarray --steps 30 --out /tmp/train-nd > "$OUT/train-nd.log" 2>&1; echo "exit $?"
grep -E "training on|tokens/s|^eval|^loss" "$OUT/train-nd.log"
section done
