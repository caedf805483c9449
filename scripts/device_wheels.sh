#!/usr/bin/env bash
# Run HERE (a machine with PyPI), in the repository root, before scripts/device_check.sh:
# downloads into .whl/ the pure-Python packages alignkit imports that the GPU machine's
# image lacks (its python3 has torch, numpy, scikit-learn, narwhals, tqdm, pygments and
# pytest, not plotly or ipywidgets), at the versions of this environment, and keeps .whl/
# out of git. The device tool then carries it: run(command="bash scripts/device_check.sh",
# carry=[".whl"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
pkgs=$("$PY" - <<'PY'
import importlib.metadata as md
print(" ".join(f"{n}=={md.version(n)}" for n in ("plotly", "ipywidgets", "ipython", "traitlets", "comm")))
PY
)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
    -d .whl $pkgs
ls -l .whl
