"""`alignkit render` / `alignkit student`: offline pages, student copies, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from alignkit.cli import main, notebooks_dir
from alignkit.site import render_site, strip_solutions
from alignkit.site.page import is_solution, markdown_html

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render") / "site"
    render_site(out, fast=True, notebooks=["00_welcome"], log=lambda _m: None)
    return out


@pytest.mark.notebook
def test_page_is_self_contained(site: Path) -> None:
    page = (site / "00_welcome.html").read_text()
    assert page.count("plotly.js v") >= 1 and page.count("<script type='text/javascript'>/**") == 1
    assert not re.search(r"<(script|img|iframe)[^>]+src=['\"]?(https?:)?//", page)
    assert not re.search(r"<link[^>]+href=['\"]?(https?:)?//", page)
    assert "<math" in page  # math rendered at build time, no MathJax
    assert "data-alignkit-static='gd_explorer'" in page  # the explorer, kernel-free
    assert len(page.encode()) < 15e6


@pytest.mark.notebook
def test_index_lists_each_page_with_title_and_summary(site: Path) -> None:
    index = (site / "index.html").read_text()
    assert "href='00_welcome.html'" in index
    assert "welcome" in index.lower() and "<p>" in index
    assert (site / ".alignkit-site").exists()


def test_student_copy_drops_solutions_and_keeps_exercises() -> None:
    solution = nbformat.v4.new_code_cell("# Solution\nprint(42)")
    solution.metadata.update({"jupyter": {"source_hidden": True}, "tags": ["hide-cell"]})
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("## Exercise\n\nFind 42."), solution]
    )
    student = strip_solutions(nb)
    assert not any(is_solution(c) for c in student.cells)
    assert "print(42)" not in str(student)
    assert any("## Exercise" in c.source for c in student.cells if c.cell_type == "markdown")
    assert any(is_solution(c) for c in nb.cells)  # the original is untouched


def test_every_exercise_has_a_hidden_solution() -> None:
    """The course contract: each notebook's exercises come with a solution to hide."""
    for path in sorted(notebooks_dir().glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        exercises = sum("## Exercise" in c.source for c in nb.cells if c.cell_type == "markdown")
        solutions = sum(is_solution(c) for c in nb.cells)
        assert solutions >= exercises, f"{path.name}: {exercises} exercises, {solutions} solutions"


def test_student_command_writes_every_notebook(tmp_path: Path) -> None:
    assert main(["student", str(tmp_path / "students")]) == 0
    written = sorted(p.name for p in (tmp_path / "students").glob("*.ipynb"))
    assert written == sorted(p.name for p in notebooks_dir().glob("*.ipynb"))


def test_math_becomes_mathml() -> None:
    out = markdown_html("inline $a^2$ and display $$\\frac{1}{\\eta}$$ and a price of 5 dollars")
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "$" not in out


def test_unknown_notebook_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="notebooks must be among"):
        render_site(tmp_path / "s", notebooks=["nope"], log=lambda _m: None)
    assert main(["render", "--out", str(tmp_path / "s"), "nope"]) == 2
    assert "notebooks must be among" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_notebook_is_named_by_stem_file_name_or_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``alignkit render notebooks/00_welcome.ipynb`` (a tab-completed path) was refused."""
    from alignkit.site.build import notebook_paths

    folder = notebooks_dir()
    want = [folder / "00_welcome.ipynb"]
    monkeypatch.chdir(ROOT)
    for name in ("00_welcome", "00_welcome.ipynb", "notebooks/00_welcome.ipynb",
                 str(folder / "00_welcome.ipynb")):  # fmt: skip
        assert [p.resolve() for p in notebook_paths([name], folder)] == [w.resolve() for w in want]
    (tmp_path / "00_welcome.ipynb").write_text("{}")  # same name, another folder: not ours
    with pytest.raises(ValueError, match="notebooks must be among"):
        notebook_paths([str(tmp_path / "00_welcome.ipynb")], folder)


def test_out_that_is_not_a_site_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="out must be"):
        render_site(tmp_path / "mine", notebooks=["00_welcome"], log=lambda _m: None)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out must be"):
        render_site(tmp_path / "file" / "site", log=lambda _m: None)


def test_student_copies_never_overwrite_the_notebooks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Writing the student copies into the notebooks' own folder (directly, through a
    symlink, or as the CLI's default notebooks folder) is refused and changes nothing."""
    from alignkit.cli import notebooks_dir
    from alignkit.site import write_student_notebooks

    folder = tmp_path / "nbs"
    folder.mkdir()
    source = notebooks_dir() / "00_welcome.ipynb"
    (folder / source.name).write_bytes(source.read_bytes())
    (tmp_path / "link").symlink_to(folder)
    for out in (folder, tmp_path / "link", str(folder) + "/"):
        with pytest.raises(ValueError, match="out must not be the notebooks' own folder"):
            write_student_notebooks(out, folder=folder)
    assert (folder / source.name).read_bytes() == source.read_bytes()
    assert main(["student", str(notebooks_dir())]) == 2
    assert "out must not be the notebooks' own folder" in capsys.readouterr().err
    assert main(["student", ""]) == 2
    assert "out must name a folder" in capsys.readouterr().err


@pytest.mark.notebook
def test_failed_build_leaves_nothing_half_written(tmp_path: Path) -> None:
    folder = tmp_path / "nbs"
    folder.mkdir()
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Good\n\nfine")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(good, folder / "a_good.ipynb")
    nbformat.write(bad, folder / "b_bad.ipynb")
    with pytest.raises(Exception, match="ZeroDivisionError"):
        render_site(tmp_path / "site", folder=folder, log=lambda _m: None)
    assert not (tmp_path / "site").exists()
    assert not list(tmp_path.glob(".alignkit-site-*"))


def test_titles_and_summaries_are_plain_text_and_whole() -> None:
    """Inline markdown is dropped from a title (05's ``*on*`` showed its stars in the index
    and the page's <title>), and a first paragraph that announces a list ends with the list,
    not a colon."""
    import nbformat

    from alignkit.site.page import notebook_summary, notebook_title

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Why models sample *on* the **data** `manifold`\n\nTwo questions remain:\n\n"
            "* What does SGD do at a minimum\n  that is not stable?\n* Which minima does it find?"
        )
    ]
    assert notebook_title(nb) == "Why models sample on the data manifold"
    summary = notebook_summary(nb)
    assert summary == (
        "Two questions remain: What does SGD do at a minimum that is not stable?; "
        "Which minima does it find?"
    )
    for path in sorted(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb")):
        real = nbformat.read(path, as_version=4)
        assert "*" not in notebook_title(real) and not notebook_summary(real).endswith(":")
