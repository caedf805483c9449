"""Create the kit's virtual environment and put a fitting torch in it.

Used by ``make install`` (and so by ``make lab`` and ``make test``). Rules:

1. A torch that already satisfies the lower bound is reused: in the venv, or in the
   Python that creates it (the venv then sees that Python's packages).
2. ``--torch SPEC`` overrides the choice: ``cpu``, ``cuda``, a pip requirement such
   as ``torch==2.5.1``, or a path to a wheel.
3. Otherwise: with an NVIDIA GPU (``nvidia-smi`` works) the default CUDA build from
   PyPI; without one a CPU build, from a local wheel pip is already configured to
   see (``find-links``) or else from PyTorch's CPU index, so a laptop never pulls
   gigabytes of CUDA libraries. On macOS PyPI's build is the CPU/MPS one.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIN_TORCH = (2, 1)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def say(msg: str) -> None:
    print(f"[alignkit install] {msg}", flush=True)


def torch_version(python: str) -> tuple[int, ...] | None:
    code = "import torch; print(torch.__version__)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    match = re.match(r"(\d+)\.(\d+)", out.stdout.strip())
    return tuple(int(g) for g in match.groups()) if match else None


def venv_python(venv: Path) -> str:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return str(venv / sub)


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    return subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def find_links() -> list[str]:
    """Directories pip is configured to look in (pip config and PIP_FIND_LINKS)."""
    dirs: list[str] = []
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            dirs += value.strip().strip("'\"").split()
    dirs += os.environ.get("PIP_FIND_LINKS", "").split()
    return [d.removeprefix("file://") for d in dict.fromkeys(dirs) if not d.startswith("http")]


def local_cpu_wheel() -> str | None:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    arch = platform.machine().lower()
    best: tuple[tuple[int, ...], str] | None = None
    for folder in find_links():
        for path in glob.glob(os.path.join(folder, f"torch-*+cpu-{tag}-{tag}-*.whl")):
            if arch not in os.path.basename(path).lower():
                continue
            version = tuple(int(x) for x in re.findall(r"torch-(\d+)\.(\d+)", path)[0])
            if version >= MIN_TORCH and (best is None or version > best[0]):
                best = (version, path)
    return best[1] if best else None


def pip(python: str, *args: str) -> int:
    cmd = [python, "-m", "pip", "install", "--progress-bar", "off", *args]
    say(" ".join(cmd))
    return subprocess.run(cmd).returncode


def install_torch(python: str, spec: str) -> None:
    if spec not in ("", "auto", "cpu", "cuda"):
        if pip(python, spec) != 0:
            sys.exit(f"could not install torch from TORCH={spec!r}")
        return
    wanted = spec if spec in ("cpu", "cuda") else ("cuda" if has_nvidia_gpu() else "cpu")
    minimum = "torch>={}.{}".format(*MIN_TORCH)
    if wanted == "cuda" or platform.system() == "Darwin":
        say(f"installing torch ({'CUDA build' if wanted == 'cuda' else 'macOS build'})")
        if pip(python, minimum) != 0:
            sys.exit("could not install torch; set TORCH=<pip requirement> to choose one")
        return
    wheel = local_cpu_wheel()
    if wheel and pip(python, wheel) == 0:
        return
    say("no NVIDIA GPU: installing the CPU build of torch from PyTorch's CPU index")
    if (
        pip(
            python,
            minimum,
            "--index-url",
            CPU_INDEX,
            "--extra-index-url",
            "https://pypi.org/simple",
        )
        != 0
    ):
        sys.exit(
            "could not install a CPU build of torch. Install one yourself "
            "(https://pytorch.org/get-started) or pass TORCH='torch>=2.1'."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=".venv")
    parser.add_argument("--torch", default="", help="cpu | cuda | pip requirement | wheel path")
    args = parser.parse_args()
    venv = Path(args.venv)
    spec = args.torch.strip()
    python = venv_python(venv)
    if not Path(python).exists():
        base = torch_version(sys.executable)
        reuse = spec in ("", "auto") and base is not None and base >= MIN_TORCH
        flags = ["--system-site-packages"] if reuse else []
        say(f"creating {venv}" + (" (reusing this Python's torch)" if reuse else ""))
        subprocess.run([sys.executable, "-m", "venv", *flags, str(venv)], check=True)
    have = torch_version(python)
    if spec in ("", "auto") and have is not None and have >= MIN_TORCH:
        say("reusing torch {}.{} already installed".format(*have))
        return
    install_torch(python, spec)


if __name__ == "__main__":
    main()
