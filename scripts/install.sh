#!/usr/bin/env bash
# Create .venv at the repository root and install srtod-bench with pinned dependencies.
# Idempotent: every step checks first. The mmcv 2.1.0 wheel (built from source with its ops,
# about 10 minutes on 2 cores) is cached per torch version under $SRTOD_WHEEL_CACHE and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
MMCV_VERSION=2.1.0
WHEEL_CACHE=${SRTOD_WHEEL_CACHE:-$HOME/.cache/srtod-bench/wheels}
LOCK=requirements/lock.txt
PIP_FLAGS=(--disable-pip-version-check --no-input -q)

log() { printf '[install] %s\n' "$*"; }
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
pip() { "$py" -m pip "${PIP_FLAGS[@]}" "$@"; }

# 1. torch: keep the one the venv has; otherwise the pinned CPU build.
if "$py" -c 'import torch' 2>/dev/null; then
  log "keeping torch $("$py" -c 'import torch; print(torch.__version__)')"
else
  log "installing torch==$TORCH_VERSION"
  pip install "torch==$TORCH_VERSION"
fi
torch_v=$("$py" -c 'import torch; print(torch.__version__)')
# Never let a later step replace the chosen torch.
constraints=$(mktemp); trap 'rm -f "$constraints"' EXIT
echo "torch==$torch_v" > "$constraints"

# 2. mmcv with its compiled ops, from the wheel cache or built from the sdist.
if "$py" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  cache="$WHEEL_CACHE/torch-$torch_v"
  wheel=$(ls "$cache"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION from source with ops (about 10 minutes on 2 cores)"
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
    wheel=$(ls "$cache"/mmcv-$MMCV_VERSION-*.whl | head -n 1)
  else
    log "reusing cached $(basename "$wheel")"
  fi
  pip install --no-deps "$wheel"
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
print(f'[install] ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}')
PY
log "done in $(( $(date +%s) - start )) s"
