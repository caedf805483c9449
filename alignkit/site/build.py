"""``alignkit render``: execute every notebook and write a static site that opens offline.

The site is built in a temporary folder next to ``out`` and moved into place only when
every page is written, so a failure never leaves a half-written site. While executing,
``ALIGNKIT_STATIC=1`` makes every :class:`~alignkit.live.LivePanel` add a kernel-free
figure (:mod:`alignkit.static`) to its output, which the page shows instead of the dead
widget. ``--student`` drops the exercise solutions (:func:`strip_solutions`).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from alignkit._checks import check_bool, check_instance, check_int
from alignkit.site.page import (
    _check_notebook,
    is_solution,
    notebook_summary,
    notebook_title,
    page_shell,
    render_page,
)

__all__ = ["SiteReport", "render_site", "strip_solutions", "write_student_notebooks", "MAX_PAGE_MB"]

MAX_PAGE_MB = 15.0
MARKER = ".alignkit-site"  # a folder holding this file is a site we may replace


@dataclass
class SiteReport:
    """What :func:`render_site` wrote: page -> size in MB, and the build time."""

    out: Path
    pages: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def notebook_paths(names: Sequence[str] | None, folder: Path) -> list[Path]:
    """The notebooks to build: all of ``folder``, or those named (stem or file name)."""
    available = sorted(folder.glob("*.ipynb"))
    if not available:
        raise ValueError(f"no notebooks in {folder}")
    if not names:
        return available
    by_name = {p.stem: p for p in available} | {p.name: p for p in available}

    def find(name: str) -> Path | None:  # a stem, a file name, or a path to one of them
        if name in by_name:
            return by_name[name]
        path = Path(name)
        same = [p for p in available if path.exists() and path.resolve() == p.resolve()]
        return same[0] if same else None

    unknown = [n for n in names if find(n) is None]
    if unknown:
        raise ValueError(
            f"notebooks must be among {sorted(p.stem for p in available)} (a name, a file "
            f"name or a path to one in {folder}), got {unknown}"
        )
    return [p for n in names if (p := find(n)) is not None]


def strip_solutions(nb: Any) -> Any:
    """A copy of the notebook without exercise solutions (the exercises stay)."""
    _check_notebook(nb)
    out = nbformat.from_dict(nb)
    cells = []
    for cell in out.cells:
        if cell.cell_type == "code" and is_solution(cell):
            cells.append(
                nbformat.v4.new_markdown_cell(
                    "*Solution not included in the student copy: try the exercise above.*"
                )
            )
            cells.append(nbformat.v4.new_code_cell("# your answer here\n"))
        else:
            cells.append(cell)
    out.cells = cells
    return out


def write_student_notebooks(out: str | Path, *, folder: Path | None = None) -> list[Path]:
    """Write every notebook without its solutions to ``out`` (.ipynb files)."""
    from alignkit.cli import notebooks_dir

    if folder is not None:
        check_instance(folder, "folder", Path, "a pathlib.Path or None")
    source = folder or notebooks_dir()
    if _folder_path(out, "out") == source.resolve():
        raise ValueError(
            f"out must not be the notebooks' own folder {str(source)!r}: the student copies "
            f"would overwrite the notebooks and their solutions, got {str(out)!r}"
        )
    target = _writable_folder(out, "out")
    written = []
    for path in notebook_paths(None, source):
        nb = strip_solutions(nbformat.read(path, as_version=4))
        nbformat.write(nb, target / path.name)
        written.append(target / path.name)
    return written


_NAME_MAX = 255  # bytes of one file or folder name (Linux, macOS and Windows file systems)


def _folder_path(out: str | Path, name: str) -> Path:
    """``out`` as an absolute path; an empty string (which would mean the working folder) is
    refused."""
    check_instance(out, name, (str, Path), "a folder path (str or pathlib.Path)")
    if not str(out).strip():
        raise ValueError(f"{name} must name a folder, got {str(out)!r}")
    path = Path(out).expanduser().resolve()
    too_long = [p for p in path.parts if len(os.fsencode(p)) > _NAME_MAX]
    if too_long:  # (checked before any notebook runs or any folder is made)
        raise ValueError(
            f"{name} must be a usable folder name, got {str(out)!r} (a name longer than "
            f"{_NAME_MAX} bytes: {too_long[0][:20]}...)"
        )
    return path


def _writable_folder(out: str | Path, name: str) -> Path:
    path = _folder_path(out, name)
    parent = path if path.is_dir() else path.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(
            f"{name} must be a writable folder, got {str(out)!r} ({blocker} is a file)"
        )
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise ValueError(f"{name} must be a writable folder, got {str(out)!r} ({exc})") from exc
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name} must be a writable folder, got {str(out)!r} (not writable)")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} must be a folder, got the file {str(out)!r}")
    path.mkdir(exist_ok=True)
    return path


def _execute(nb: Any, folder: Path, *, fast: bool, timeout: int) -> None:
    from nbclient import NotebookClient

    saved = {k: os.environ.get(k) for k in ("ALIGNKIT_STATIC", "ALIGNKIT_FAST")}
    os.environ["ALIGNKIT_STATIC"] = "1"
    if fast:
        os.environ["ALIGNKIT_FAST"] = "1"
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(folder)}}, allow_errors=False,
        ).execute()  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _thumbnail(nb: Any) -> str:
    """A PNG data URL of the notebook's first figure (kaleido + system Chromium), or ''."""
    import json

    import plotly.io as pio

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.plotly.v1+json" not in data:
                continue
            try:
                fig = pio.from_json(json.dumps(data["application/vnd.plotly.v1+json"]))
                # laid out at the figure's own size, then scaled to 480 px wide (laid out in
                # 480 × 300, subplot titles overlapped and titles were cut)
                width = int(fig.layout.width or 900)
                height = int(fig.layout.height or 450)
                png = pio.to_image(fig, format="png", width=width, height=height,
                                   scale=480 / width)  # fmt: skip
            except Exception:  # no Chromium for kaleido: the index shows no picture
                return ""
            import base64

            return "data:image/png;base64," + base64.b64encode(png).decode()
    return ""


def _index(entries: list[tuple[str, str, str, str]], student: bool) -> str:
    cards = "".join(
        f"<li class='card'><a href='{href}'>"
        + (
            f"<img alt='{html.escape(f'The first figure of {title}', quote=True)}' src='{thumb}'/>"
            if thumb
            else "<div class='nothumb'></div>"
        )  # fmt: skip
        + f"<h2>{html.escape(title)}</h2></a><p>{html.escape(summary)}</p></li>"
        for href, title, summary, thumb in entries
    )
    style = (
        "<style>ul.cards{list-style:none;padding:0;display:grid;gap:1rem;"
        "grid-template-columns:repeat(auto-fill,minmax(300px,1fr))}"
        ".card{border:1px solid var(--line);border-radius:8px;padding:.8rem}"
        ".card img,.nothumb{width:100%;aspect-ratio:8/5;object-fit:cover;background:#f0f0f0}"
        ".card h2{font-size:1.05rem;margin:.5rem 0 0}</style>"
    )
    note = " (student edition: no solutions)" if student else ""
    body = (
        f"<h1>alignkit notebooks{note}</h1><p>Static pages: every explorer still moves "
        "(precomputed frames); the address bar keeps the view, so a link shares it.</p>"
        f"<ul class='cards'>{cards}</ul>"
    )
    return page_shell("alignkit notebooks", body, plotly=False, extra_head=style)


def render_site(
    out: str | Path = "site",
    *,
    fast: bool = False,
    student: bool = False,
    notebooks: Sequence[str] | None = None,
    folder: Path | None = None,
    timeout: int = 900,
    log: Callable[[str], None] = print,
) -> SiteReport:
    """Execute the notebooks and write ``out/index.html`` plus one page per notebook.

    Raises ``ValueError`` for an unknown notebook, an unwritable ``out``, an ``out`` that
    holds something other than a previous site, or a page over :data:`MAX_PAGE_MB`; in
    every case nothing is left half-written.
    """
    from alignkit.cli import notebooks_dir

    target = _folder_path(out, "out")
    if target.exists() and not target.is_dir():
        raise ValueError(f"out must be a folder, got the file {str(out)!r}")
    fast, student = check_bool(fast, "fast"), check_bool(student, "student")
    if notebooks is not None:
        check_instance(notebooks, "notebooks", (list, tuple), "a list of notebook names or None")
        for name in notebooks:
            check_instance(name, "notebooks", str, "a list of notebook names (str)")
    if folder is not None:
        check_instance(folder, "folder", Path, "a pathlib.Path or None")
    timeout = check_int(timeout, "timeout", low=1)
    if not callable(log):
        raise TypeError(f"log must be callable (e.g. print), got {type(log).__name__}")
    source = folder or notebooks_dir()
    paths = notebook_paths(notebooks, source)
    if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
        raise ValueError(
            f"out must be a new or empty folder or a previous alignkit site, got {str(out)!r}"
        )
    parent = _writable_folder(target.parent, "out")
    report = SiteReport(out=target)
    started = time.perf_counter()
    try:
        work = Path(tempfile.mkdtemp(prefix=".alignkit-site-", dir=parent))
        work.chmod(0o755)
    except OSError as exc:
        raise ValueError(f"out must be in a writable folder, got {str(out)!r} ({exc})") from exc
    try:
        entries = []
        for k, path in enumerate(paths, 1):
            t0 = time.perf_counter()
            log(f"[{k}/{len(paths)}] executing {path.name} ...")
            nb = nbformat.read(path, as_version=4)
            if student:
                nb = strip_solutions(nb)
            _execute(nb, source, fast=fast, timeout=timeout)
            page = render_page(nb)
            name = path.stem + ".html"
            (work / name).write_text(page, encoding="utf-8")
            size = len(page.encode()) / 1e6
            if size > MAX_PAGE_MB:
                raise ValueError(f"page {name} is {size:.1f} MB, over {MAX_PAGE_MB} MB")
            report.pages[name] = size
            entries.append((name, notebook_title(nb), notebook_summary(nb), _thumbnail(nb)))
            log(f"      wrote {name}: {size:.1f} MB in {time.perf_counter() - t0:.0f} s")
        (work / "index.html").write_text(_index(entries, student), encoding="utf-8")
        (work / MARKER).write_text("built by alignkit render\n")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - started
    log(f"site written to {target} ({len(report.pages)} pages, {report.seconds:.0f} s)")
    return report
