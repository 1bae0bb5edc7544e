#!/usr/bin/env bash
# The CUDA path on one GPU, in one go: the CUDA tests (tests/test_cuda.py), then the training benchmark in
# bf16 autocast (what `--precision auto` picks on a GPU) and the generation benchmark in bf16 and fp32, each side by side
# with the PEFT reference. Tables go to $OUT_DIR (default bench/results) and to stdout.
#
#     bash bench/cuda.sh                   # every step
#     bash bench/cuda.sh train generation  # only these
#
# Each step has its own time limit, so one that hangs or fails still leaves the others' figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-bench/results}"
steps="${*:-tests train generation generation-fp32}"
mkdir -p "$out"
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'bench/cuda.sh: no CUDA GPU here')" || exit 2
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
python3 -m peftlab env

step() {  # step NAME SECONDS COMMAND...: run it if asked for, keep its log, report its exit code
    local name=$1 limit=$2; shift 2
    [[ " $steps " == *" $name "* ]] || return 0
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | tee "$out/cuda-$name.log" | tail -n 40
    echo "== $name: exit ${PIPESTATUS[0]}"
}

step tests 300 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py
# 2 epochs: epoch 1 pays cuDNN's attention plan for every new sequence length, epoch 2 is the steady state.
# Each side is its own process (~25 s each on a 16-core H100 host): 9 sides, ~4 min.
step train 400 python3 bench/train_speed.py --device cuda --precision bf16 --steps 50 --epochs 2 \
    --sides ref-fixed,ref-dynamic,peftlab --out-dir "$out"
step generation 150 python3 bench/generation.py --device cuda --precision bf16 --repeats 3
step generation-fp32 150 python3 bench/generation.py --device cuda --precision fp32 --repeats 3
