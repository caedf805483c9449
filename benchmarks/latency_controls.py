"""Each control of one explorer in JupyterLab, against the bare-figure floor (and a baseline).

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/latency_controls.py`` (1-2 minutes per
control; ``--explorer fit_2d_explorer --controls init_x divergence separation --merge`` adds
another explorer). Writes ``benchmarks/results/latency_controls.json``, one entry per
explorer, and prints each control's medians.

``benchmarks/latency.py`` presses each explorer's first visible slider only. A press of
another control can take another path (the fit explorer: moving the start or switching
the divergence keeps the landscape's axes, so only points move and the picture is
swapped; a new target moves the axes and redraws the figure). Here one explorer is built
once per control with every other control hidden, so that control is the one pressed, and
its presses alternate in blocks of 4 with the floor's (a bare slider and a 200-point
line), with ``latency.py``'s timing (keydown -> first mutation of the plot's traces).

``--baseline PATH`` adds the same explorer imported from another source tree (e.g. a git
worktree of an earlier commit: ``git worktree add /tmp/base <rev>``), in its own kernel of
the same JupyterLab, pressed in the same alternation: a side-by-side before/after.
Presses are warm: a first pass over the values (not recorded) fills the panels' caches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_driver import find_chromium  # noqa: E402
from latency import _git  # noqa: E402
from latency_browser import _alternate, _notebook, _press, _Walker  # noqa: E402
from side_by_side import against_floor, lab_with_floor, open_explorer  # noqa: E402

PRESSES = 16


def _cell(root: Path, module: str, explorer: str, control: str, controls: list[str]) -> str:
    hide = tuple(k for k in controls if k != control)
    return (
        f"import sys\nsys.path.insert(0, {str(root)!r})\n"
        f"from alignkit.{module}.widgets import {explorer}\n"
        f"p = {explorer}(hide={hide!r})\np"
    )


def _controls(module: str, explorer: str) -> list[str]:
    """The explorer's control names, built once here."""
    import importlib

    panel = getattr(importlib.import_module(f"alignkit.{module}.widgets"), explorer)()
    try:
        return list(panel.controls)
    finally:
        panel.close()


def measure(
    module: str, explorer: str, controls: list[str], baseline: Path | None, presses: int
) -> dict[str, Any]:
    executable = find_chromium()
    if executable is None:
        return {"skipped": "no Chromium found: install it with `apt-get install chromium`"}
    every = _controls(module, explorer)
    roots = {"panel": ROOT} | ({"baseline": baseline} if baseline else {})
    notebooks = {
        f"_{name}_{control}.ipynb": _notebook([_cell(root, module, explorer, control, every)])
        for control in controls
        for name, root in roots.items()
    }
    out: dict[str, Any] = {}
    with lab_with_floor(executable, notebooks) as (context, lab, floor):
        for control in controls:
            print(f"  {explorer}: {control} ...", flush=True)
            pages, where, walkers = [], {}, {}
            try:
                for name in roots:
                    nb, index, walker = open_explorer(context, lab, f"_{name}_{control}.ipynb")
                    pages.append(nb)
                    walker.focus(nb, index)
                    for _ in range(presses):  # fill the cache, not recorded
                        _press(nb, index, walker)
                    walker.reverse()
                    where[name], walkers[name] = (nb, index), walker
                where["floor"], walkers["floor"] = (floor, 0), _Walker()
                lats = _alternate(where, walkers, presses, 4)
            finally:
                for nb in pages:
                    nb.close()
            row, med, ratios = against_floor(lats)
            row["ratio_to_floor"] = ratios
            out[control] = row
            print("    " + ", ".join(
                f"{k} {med[k]:.1f} ms ({ratios[k]['median']}x)" for k in roots
            ) + f", floor {med['floor']:.1f} ms", flush=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="divergences", help="alignkit.<module>.widgets")
    parser.add_argument("--explorer", default="fit_explorer")
    parser.add_argument("--controls", nargs="+", default=["init_mean", "divergence", "n_modes"])
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/latency_controls.json"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the other explorers already in --out"
    )
    args = parser.parse_args(argv)
    run = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "baseline": None
        if args.baseline is None
        else {
            "path": str(args.baseline),
            "git_commit": _git("rev-parse", "HEAD", cwd=args.baseline),
        },  # fmt: skip
        "fast_mode": os.environ.get("ALIGNKIT_FAST") == "1",
        "machine": {"cpus": os.cpu_count()},
        "explorer": f"alignkit.{args.module}.widgets.{args.explorer}",
        "presses": args.presses,
        "controls": measure(args.module, args.explorer, args.controls, args.baseline, args.presses),
    }
    explorers = {}
    if args.merge and args.out.exists():
        explorers = json.loads(args.out.read_text()).get("explorers", {})
    explorers[args.explorer] = run
    result = {"benchmark": __doc__.splitlines()[0], "protocol": __doc__, "explorers": explorers}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
