#!/usr/bin/env bash
# Create .venv at the repository root and install srtod-bench with pinned dependencies.
# Idempotent: every step checks first.
#
# mmcv 2.1.0 is built from source with its compiled ops (about 10 minutes on 2 cores) and the
# wheel is cached under $SRTOD_WHEEL_CACHE, in a folder named after what its kernels depend on:
# torch version, CUDA version and GPU architectures (scripts/mmcv_plan.py decides). CUDA kernels
# are built when torch is a CUDA build and a GPU is visible, a CUDA toolkit is found, or they are
# asked for: FORCE_CUDA=1, CUDA_HOME, TORCH_CUDA_ARCH_LIST (needed where no GPU is visible, e.g.
# a login node: "8.0;9.0" for A100 and H100). README, "Installing on a GPU cluster".
#
# Environment: PYTHON, VENV, TORCH_VERSION (2.13.0), TORCH_INDEX_URL (a torch wheel index, e.g.
# https://download.pytorch.org/whl/cu128), SRTOD_WHEEL_CACHE, MAX_JOBS, and the CUDA variables.
# `scripts/install.sh --plan` prints the mmcv decision and the cache folder, and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
MMCV_VERSION=2.1.0
WHEEL_CACHE=${SRTOD_WHEEL_CACHE:-$HOME/.cache/srtod-bench/wheels}
LOCK=requirements/lock.txt
PIP_FLAGS=(--disable-pip-version-check --no-input -q)
PLAN_ONLY=0
[ "${1:-}" = "--plan" ] && PLAN_ONLY=1

log() { printf '[install] %s\n' "$*"; }
start=$(date +%s)

if [ "$PLAN_ONLY" = 1 ] && [ ! -x "$VENV/bin/python" ]; then
  log "error: --plan needs an existing venv with torch ($VENV/bin/python not found)" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
pip() { "$py" -m pip "${PIP_FLAGS[@]}" "$@"; }

# 1. torch: keep the one the venv has; otherwise the pinned build (from TORCH_INDEX_URL when set:
#    on a cluster, the CUDA build matching the nodes' driver).
if "$py" -c 'import torch' 2>/dev/null; then
  [ "$PLAN_ONLY" = 1 ] || log "keeping torch $("$py" -c 'import torch; print(torch.__version__)')"
elif [ "$PLAN_ONLY" = 1 ]; then
  log "error: --plan needs torch in $VENV" >&2
  exit 2
else
  log "installing torch==$TORCH_VERSION${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL}"
  pip install "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

# 2. mmcv with its compiled ops. The plan (scripts/mmcv_plan.py) says whether to build CUDA
#    kernels, for which architectures, and the cache folder; it exports FORCE_CUDA,
#    TORCH_CUDA_ARCH_LIST and CUDA_HOME for the build. SRTOD_TORCH_INFO (a JSON file) stands in
#    for what torch reports, for the tests.
plan=$("$py" scripts/mmcv_plan.py --mmcv-version "$MMCV_VERSION" \
       ${SRTOD_TORCH_INFO:+--torch-info "$SRTOD_TORCH_INFO"}) || exit 2
eval "$plan"
pytag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
cache="$WHEEL_CACHE/$MMCV_CACHE_KEY"
if [ "$MMCV_WITH_CUDA" = 1 ]; then
  kernels="CUDA $MMCV_ARCH_LIST"
else
  kernels="CPU only"
fi
if [ "$PLAN_ONLY" = 1 ]; then
  echo "torch=$TORCH_VERSION_FOUND"
  echo "mmcv_kernels=$kernels"
  echo "wheel_cache=$cache"
  echo "keep_installed=$MMCV_KEEP_INSTALLED"
  exit 0
fi
torch_v=$TORCH_VERSION_FOUND
# Never let a later step replace the chosen torch.
constraints=$(mktemp); trap 'rm -f "$constraints"' EXIT
echo "torch==$torch_v" > "$constraints"

find_wheel() { ls "$1"/mmcv-$MMCV_VERSION-$pytag-*.whl 2>/dev/null | head -n 1 || true; }
if [ "$MMCV_KEEP_INSTALLED" = 1 ]; then
  log "mmcv $MMCV_VERSION with ops already installed ($([ "$MMCV_INSTALLED_CUDA" = 1 ] && echo CUDA || echo CPU) kernels)"
else
  wheel=$(find_wheel "$cache")
  # Wheels cached by earlier versions of this script sit in torch-<version>/ itself. Only a CPU
  # build of torch (+cpu) proves such a wheel has the CPU kernels this plan wants; any other
  # one may be a CPU-only build made where no GPU was visible, and is not reused.
  legacy=$(find_wheel "$WHEEL_CACHE/torch-$torch_v")
  if [ -z "$wheel" ] && [ -n "$legacy" ] && [ "$MMCV_WITH_CUDA" = 0 ] && [ "$TORCH_IS_CPU_BUILD" = 1 ] \
     && [[ "$torch_v" == *+cpu ]]; then
    mkdir -p "$cache" && mv "$legacy" "$cache/" && wheel=$(find_wheel "$cache")
    log "moved the cached $(basename "$wheel") to $cache"
  fi
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION from source with ops, $kernels kernels (about 10 minutes on 2 cores, more with CUDA)"
    mkdir -p "$cache"
    src=$(mktemp -d)
    # mmcv's setup.py imports pkg_resources: setuptools < 70 for the build only.
    pip install "setuptools<70" wheel ninja -c "$constraints"
    pip download --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$src"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$py" -m pip "${PIP_FLAGS[@]}" wheel \
      --no-build-isolation --no-deps -w "$src" "$src"/mmcv-$MMCV_VERSION.tar.gz
    built=$(ls "$src"/mmcv-$MMCV_VERSION-*.whl | head -n 1)
    cp "$built" "$cache/.$(basename "$built").tmp" && mv "$cache/.$(basename "$built").tmp" "$cache/$(basename "$built")"
    rm -rf "$src"
    wheel=$(find_wheel "$cache")
  else
    log "reusing cached $wheel"
  fi
  pip install --no-deps --force-reinstall "$wheel"
fi

# 3. Everything else, pinned (the lock file when present, else the top-level pins).
reqs=requirements/base.txt
[ -f "$LOCK" ] && reqs=$LOCK
stamp="$VENV/.srtod-deps"
want=$(cat "$reqs" requirements/base.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c 'import srtod, mmdet, snakemake' 2>/dev/null; then
  log "dependencies up to date"
else
  log "installing dependencies from $reqs"
  pip install -r "$reqs" -c "$constraints" "setuptools>=77,<81"
  pip install --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

"$py" - <<'PY'
import mmcv, mmcv.ops, mmdet, mmengine, torch, srtod  # noqa: F401
kernels = mmcv.ops.get_compiling_cuda_version()
kernels = 'CPU kernels only' if kernels == 'not available' else f'CUDA {kernels} kernels'
print(f'[install] ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops, {kernels}), '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}; `srtod doctor` checks a GPU')
PY
log "done in $(( $(date +%s) - start )) s"
