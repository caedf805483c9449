"""The ``alignkit`` command: ``doctor`` (check the setup), ``lab`` (open the notebooks),
``render`` (the offline site) and ``student`` (notebooks without solutions)."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "doctor", "notebooks_dir"]

PACKAGES = (
    "torch", "numpy", "plotly", "ipywidgets", "anywidget", "jupyterlab",
    "jupyterlab_widgets", "ipykernel", "scikit-learn", "tqdm",
)  # fmt: skip

LABEXTENSIONS = {
    "@jupyter-widgets/jupyterlab-manager": "pip install --upgrade ipywidgets jupyterlab_widgets",
    "anywidget": "pip install --upgrade anywidget",
}


def notebooks_dir() -> Path:
    """The folder holding the notebooks: next to the package (a clone), else ./notebooks."""
    here = Path(__file__).resolve().parent.parent / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def doctor() -> int:
    """Print what the kit sees and a next step for each problem; return the number of problems."""
    problems: list[tuple[str, str]] = []
    print("alignkit doctor\n")
    print("Packages:")
    for name in PACKAGES:
        v = _version(name)
        print(f"  {name:<20} {v or 'MISSING'}")
        if v is None:
            problems.append((f"{name} is not installed", f"pip install {name} (or `make install`)"))
    try:
        from alignkit.device import describe

        info = describe()
    except Exception as exc:  # report, don't crash: this is the diagnostic tool
        problems.append(
            (f"describe() failed: {exc}", "check ALIGNKIT_DEVICE and the torch install")
        )
        info = {}
    print("\nCompute:")
    for key, value in info.items():
        print(f"  {key:<20} {value}")
    if info and info.get("device") == "cpu" and not info.get("cuda_available"):
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False) \
            if _which("nvidia-smi") else None  # fmt: skip
        if gpu is not None and gpu.returncode == 0:
            problems.append((
                "an NVIDIA GPU is present but torch is a CPU build",
                "make clean && make lab TORCH=cuda  (or pip install a CUDA build of torch)",
            ))  # fmt: skip

    print("\nJupyterLab rendering:")
    share = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    for ext, fix in LABEXTENSIONS.items():
        ok = (share / ext).is_dir()
        print(f"  labextension {ext:<36} {'ok' if ok else 'MISSING'}")
        if not ok:
            problems.append((f"JupyterLab extension {ext} is missing: widgets won't render", fix))
    try:
        import plotly.graph_objects as go

        go.FigureWidget()
        print("  plotly FigureWidget                               ok")
    except Exception as exc:
        print(f"  plotly FigureWidget                               FAILED ({exc})")
        problems.append(
            ("plotly's FigureWidget cannot start", "pip install 'plotly>=6.1' anywidget")
        )

    try:
        extension_on = _server_extension_enabled()
    except Exception as exc:  # report, don't crash: this is the diagnostic tool
        extension_on = False
        print(f"  server extension alignkit_server: cannot tell ({exc})")
    if not extension_on:
        problems.append((
            "the server extension alignkit_server is off: slider moves can wait 40 ms more",
            "make install  (or copy jupyter-config/alignkit.json into "
            f"{Path(sys.prefix) / 'etc' / 'jupyter' / 'jupyter_server_config.d'})",
        ))  # fmt: skip
    else:
        print("  server extension alignkit_server (TCP_NODELAY)    ok")

    print()
    if not problems:
        print("Everything looks fine. Next: `alignkit lab` (or `make lab`) opens the notebooks.")
    for what, fix in problems:
        print(f"PROBLEM: {what}\n  next step: {fix}")
    return len(problems)


def _server_extension_enabled() -> bool:
    """Whether Jupyter servers of this environment load ``alignkit_server``."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    return bool(manager.get_jpserver_extensions().get("alignkit_server", False))


def _which(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


def lab(extra: Sequence[str]) -> int:
    """Start JupyterLab on the notebooks folder."""
    folder = notebooks_dir()
    if not folder.is_dir():
        print(f"no notebooks folder at {folder}; run from a clone of alignkit", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        cmd.append("--allow-root")  # containers and cloud machines often run as root
    print("starting:", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env={**os.environ})


def _site_command(args: argparse.Namespace) -> int:
    """``render`` and ``student``: a clear one-line error (exit 2) for bad input."""
    from alignkit.site import render_site, write_student_notebooks

    try:
        if args.command == "student":
            for path in write_student_notebooks(args.out_dir):
                print(f"wrote {path}")
            return 0
        report = render_site(
            args.out, fast=args.fast, student=args.student, notebooks=args.notebooks or None
        )
    except ValueError as exc:
        print(f"alignkit {args.command}: {exc}", file=sys.stderr)
        return 2
    for name, size in report.pages.items():
        print(f"  {name:<45} {size:6.1f} MB")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    if argv is not None and (
        isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv)
    ):
        raise TypeError(f"argv must be a list of str such as ['doctor'] (or None), got {argv!r}")
    parser = argparse.ArgumentParser(prog="alignkit", description="alignkit teaching kit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check the installation and say what to fix")
    sub.add_parser(
        "lab",
        help="open JupyterLab on the notebooks",
        description="Open JupyterLab on the notebooks; other options are passed to jupyter lab "
        "(e.g. alignkit lab --no-browser --port 8890).",
    )
    render = sub.add_parser(
        "render",
        help="execute every notebook and write a static site that opens offline",
        description="Execute the notebooks and write OUT/index.html plus one page per "
        "notebook; every explorer still moves in the pages (precomputed frames).",
    )
    render.add_argument("--out", default="site", help="output folder (default: ./site)")
    render.add_argument("--fast", action="store_true", help="small sizes (ALIGNKIT_FAST=1)")
    render.add_argument("--student", action="store_true", help="leave out exercise solutions")
    render.add_argument("notebooks", nargs="*", help="only these notebooks (default: all)")
    student = sub.add_parser(
        "student", help="write the notebooks without exercise solutions to OUT_DIR"
    )
    student.add_argument("out_dir", help="folder for the student .ipynb files")
    args, extra = parser.parse_known_args(argv)
    if args.command in ("render", "student"):
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return _site_command(args)
    if args.command == "doctor":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return 1 if doctor() else 0
    return lab(extra)


if __name__ == "__main__":
    sys.exit(main())
