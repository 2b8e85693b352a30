#!/usr/bin/env bash
# The GPU verification run: tests, model and training speed and memory, the CRF on CUDA, and
# lessons 07-10 executed on the GPU. One call on a GPU machine, well inside 9 minutes on an
# H100/H200; every step has its own time limit, so one failure does not stop the others.
#
# Prepare first, on a machine with PyPI access:  bash benchmarks/gpu_prepare.sh
# Then, on the GPU machine, in the project root (carrying .whl and .voc):
#   bash benchmarks/gpu_check.sh OUT_DIR
# Dry run on a CPU with tiny sizes (checks the script end to end, measures nothing):
#   GPU_CHECK_TINY=1 bash benchmarks/gpu_check.sh /tmp/gpu_check
#
# OUT_DIR receives summary.json (each step's status and seconds), gpu_check.log (everything
# printed) and results.tar.gz (each step's JSON and log, and the executed notebooks).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}"
tiny="${GPU_CHECK_TINY:-0}"
mkdir -p "$out/steps"
log="$out/gpu_check.log"
exec > >(tee -a "$log") 2>&1
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

# --- environment: carried wheels, the course package, pydensecrf built from source ---------
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1 && [ "$tiny" != 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ "$tiny" = 1 ]; then
    py="${PYTHON:-.venv/bin/python}"
else
    py=python3
    "$py" -m pip install -q --no-deps --no-build-isolation -e . || exit 1
    if ls .whl/sdist/pydensecrf2-*.tar.gz >/dev/null 2>&1; then
        "$py" -m pip install -q --no-deps --no-build-isolation --no-index --target /tmp/site \
            .whl/sdist/pydensecrf2-*.tar.gz || echo "note: pydensecrf2 did not build here"
    fi
fi
voc=.voc/voc
[ -d "$voc" ] || voc=../shared/data/voc2012-subset
export DLCOURSE_CACHE="$out/cache"
"$py" - <<'PY'
import torch, torchvision
print("torch", torch.__version__, "torchvision", torchvision.__version__,
      "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PY

declare -A status seconds
step() {  # step NAME LIMIT_SECONDS COMMAND...: run, time, log; never stop the script
    local name="$1" limit=$(( $2 * scale )); shift 2
    echo "=== $name (limit ${limit}s): $*"
    local start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > >(tee "$out/steps/$name.log") 2>&1
    local rc=$?
    seconds[$name]=$(( $(date +%s) - start ))
    status[$name]=$rc
    echo "=== $name: exit $rc after ${seconds[$name]} s"
}

if [ "$tiny" = 1 ]; then
    export DEVICE="${DEVICE:-cpu}"
    scale=6  # a CPU is far slower than the GPU the limits are set for
    size=64; batch=2; steps=1; warmup=0; crop=64; train_steps=4; repeats=1; nb_mode=1
    models=(--models deeplabv3_mobilenet_v3_large)
    tests=(tests/test_lattice_fast.py tests/test_crf.py tests/test_crf_rnn.py -k "cuda or lattice_matches")
else
    scale=1
    size=512; batch=8; steps=10; warmup=2; crop=321; train_steps=300; repeats=5; nb_mode=0
    models=()
    tests=(tests -n 8 --ignore=tests/test_browser.py)
fi

# 1. unit tests, the CUDA-only ones included (they are skipped on a CPU)
step unit_tests 150 "$py" -m pytest -q -p no:cacheprovider -rs "${tests[@]}" --junitxml="$out/steps/unit_tests.xml"
# 2. the course's training step against torchvision's: fp32, then AMP + channels_last
step models_fp32 90 "$py" benchmarks/bench_models.py --device "${DEVICE:-cuda}" --size "$size" \
    --batch "$batch" --steps "$steps" --warmup "$warmup" "${models[@]}" --json "$out/steps/models_fp32.json"
step models_amp_cl 90 "$py" benchmarks/bench_models.py --device "${DEVICE:-cuda}" --size "$size" \
    --batch "$batch" --steps "$steps" --warmup "$warmup" "${models[@]}" --amp --channels-last \
    --json "$out/steps/models_amp_cl.json"
# 3. the colab preset's speed and memory, and a short fit on the VOC subset (random weights)
tiny_flag=()
[ "$tiny" = 1 ] && tiny_flag=(--tiny --models deeplabv3_mobilenet_v3_large --train-model deeplabv3plus_mobilenet)
step train 150 "$py" benchmarks/bench_train.py --device "${DEVICE:-cuda}" --data "$voc" \
    --train-steps "$train_steps" --no-progress --out "$out/steps/train.json" "${tiny_flag[@]}"
# 4. the dense CRF on the GPU against pydensecrf on this machine's CPU
step crf 90 "$py" benchmarks/bench_crf.py --device "${DEVICE:-cuda}" --voc "$voc" --repeats "$repeats"
# 5. lessons 07-10 executed on this machine (full mode on a GPU), under nbval-lax
lessons=$(ls notebooks/0[7-9]_*.ipynb notebooks/10_*.ipynb 2>/dev/null)
DLCOURSE_FAST=$nb_mode step lessons 240 "$py" -m pytest -q -p no:cacheprovider --nbval-lax $lessons

"$py" - "$out" <<PY
import json, sys
names = "${!status[*]}".split()
codes = "${status[*]}".split()
times = [int(s) for s in "${seconds[*]}".split()]
summary = {n: {"exit": int(c), "seconds": t} for n, c, t in zip(names, codes, times)}
json.dump(summary, open(sys.argv[1] + "/summary.json", "w"), indent=2)
print(json.dumps(summary))
PY
tar -czf "$out/results.tar.gz" -C "$out" steps
rm -rf "$out/cache"
