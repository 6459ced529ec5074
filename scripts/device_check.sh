#!/usr/bin/env bash
# The checks that need a CUDA GPU (issue 22: `--device auto` has never run on one), prepared as one
# short run for a machine that has a GPU. From the repository root, with the Pokémon files in
# data/pokemon/ (the download cache; `make data`, or copy ../shared/data/pokemon/*.txt there):
#
#     bash scripts/device_check.sh            # on the GPU machine: about 3-5 minutes
#     DEVICE=cpu bash scripts/device_check.sh # the same steps on the CPU (slow: the 96x10 epochs)
#
# 1. what torch sees; `--device auto` must resolve to the GPU;
# 2. the device-policy tests (tests/test_device.py: every family's training and sampling paths) and
#    the resume tests (tests/test_train.py, test_image_gan.py, test_vae.py: a stopped
#    `train NAME --resume` writes the weights of an uninterrupted run) with their models on DEVICE
#    (GENERATION_TEST_DEVICE);
# 3. `python -m helpers.registry train RECIPE --epochs EPOCHS --device auto`, then the same on the
#    CPU: seconds and held-out bits/pixel of each, into the user cache (never data/checkpoints).
# Everything it prints also lands in $OUT (default build/device_check/). It stops at the first
# step that fails and says which; the exit status is that step's.
set -uo pipefail

PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
RECIPE=${RECIPE:-context2d_96x10}
EPOCHS=${EPOCHS:-2}
OUT=${OUT:-build/device_check}
mkdir -p "$OUT"
export GENERATION_PROGRESS=0 PYTHONUNBUFFERED=1 GENERATION_CACHE=${GENERATION_CACHE:-$OUT/cache}

step() {  # step NAME COMMAND...: run it, log it to $OUT/NAME.log, stop here if it fails
    local name=$1
    shift
    echo "== $name: $*"
    "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "device_check: step '$name' failed (exit status $rc); its log is $OUT/$name.log" >&2
        exit "$rc"
    fi
}

if [ ! -f helpers/registry.py ]; then
    echo "device_check: run it from the repository root (helpers/registry.py is not here)" >&2
    exit 2
fi
if [ ! -f data/pokemon/pixel_color.txt ] && [ -z "${POKEMON_DATA_DIR:-}" ]; then
    echo "device_check: no Pokémon data: put pixel_color.txt and colormap.txt in data/pokemon/ (make data)" \
         "or set POKEMON_DATA_DIR" >&2
    exit 2
fi

step environment "$PY" -c "
import platform, sys, torch
from helpers.core.train import resolve_device
dev = torch.device('$DEVICE')
print('python', platform.python_version(), '| torch', torch.__version__, '| cuda', torch.version.cuda)
print('auto resolves to', resolve_device('auto'))
if dev.type == 'cuda':
    if not torch.cuda.is_available():
        sys.exit('DEVICE=cuda, but torch sees no CUDA GPU here: run it on a GPU machine, or DEVICE=cpu')
    print('gpu', torch.cuda.get_device_name(dev))
    assert resolve_device('auto').type == 'cuda', 'a GPU is here, yet --device auto does not choose it'
"
step tests env GENERATION_TEST_DEVICE="$DEVICE" "$PY" -m pytest -o addopts= -p no:cacheprovider -q \
    --durations=10 tests/test_device.py tests/test_train.py tests/test_image_gan.py tests/test_vae.py \
    -k "paths or follow_the_device or resume"
step train_auto "$PY" -m helpers.registry train "$RECIPE" --epochs "$EPOCHS" --device auto
step train_cpu "$PY" -m helpers.registry train "$RECIPE" --epochs "$EPOCHS" --device cpu
echo "device_check: all steps passed; logs in $OUT"
