"""Shareable views: the one-line call reproduces a view; save() writes figure and data."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from alignkit.share import save_figure
from alignkit.stability import widgets

EXPLORERS = ["gd_explorer", "region_explorer", "escape_explorer", "simulation_explorer"]


@pytest.mark.parametrize("name", EXPLORERS)
def test_the_call_reproduces_the_view(name: str) -> None:
    panel = getattr(widgets, name)()
    first = next(iter(panel.controls))
    w = panel.controls[first]
    options = getattr(w, "options", None)
    if options:  # move the first control away from its default
        panel.set_state(**{first: list(getattr(w, "_options_values", options))[-1]})
    else:
        panel.set_state(**{first: w.max})
    panel.flush()
    call = panel.call()
    assert call.startswith(f"{name}(") and f"{first}=" in call
    again = eval(call, {name: getattr(widgets, name)})  # "accepts it back"
    assert (
        again.state == pytest.approx(panel.state) if options is None else again.state == panel.state
    )
    again.close()


def test_save_writes_csv_json_and_html(tmp_path: Path) -> None:
    panel = widgets.gd_explorer(lr=0.5)
    rows = list(csv.reader(panel.save(tmp_path / "view.csv").open()))
    assert rows[0][0].startswith("# gd_explorer(lr=0.5") and rows[1] == ["trace", "x", "y", "z"]
    assert len(rows) > 10
    payload = json.loads(panel.save(tmp_path / "view.json").read_text())
    assert payload["state"]["lr"] == 0.5 and payload["figure"]["data"]
    assert "<html>" in panel.save(tmp_path / "view.html").read_text()
    panel.close()


def test_csv_holds_every_cell_of_a_grid_and_3d_points(tmp_path: Path) -> None:
    """A heatmap's cells (x, y, z), not its two axes zipped; a 3-D trace's z."""
    z = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    fig = go.Figure([go.Heatmap(x=[10, 20, 30], y=[0.1, 0.2], z=z, name="D"),
                     go.Scatter3d(x=[1], y=[2], z=[3], name="p")])  # fmt: skip
    rows = list(csv.reader(save_figure(fig, tmp_path / "grid.csv").open()))
    assert rows[0] == ["trace", "x", "y", "z"]
    cells = {(float(x), float(y)): float(v) for name, x, y, v in rows[1:] if name == "D"}
    assert len(cells) == 6 and cells[(30.0, 0.1)] == 3.0 and cells[(10.0, 0.2)] == 4.0
    assert rows[-1] == ["p", "1", "2", "3"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="kaleido needs Chromium")
def test_save_png(tmp_path: Path) -> None:
    panel = widgets.gd_explorer()
    png = panel.save(tmp_path / "view.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    panel.close()


def test_bad_paths_name_the_argument(tmp_path: Path) -> None:
    panel = widgets.gd_explorer()
    with pytest.raises(ValueError, match="path must end in one of"):
        panel.save(tmp_path / "view.docx")
    with pytest.raises(ValueError, match="path must be in an existing folder"):
        panel.save(tmp_path / "missing" / "view.csv")
    panel.close()


def test_share_button_shows_the_call() -> None:
    panel = widgets.gd_explorer(lr=0.25)
    panel.share_button.click()
    assert panel.share_box.value == panel.call() and "lr=0.25" in panel.call()
    panel.close()


def test_presenter_mode_enlarges_fonts_and_lines() -> None:
    from alignkit.plotting import presenter_mode

    normal = widgets.gd_explorer()
    size = normal.figure.layout.font.size
    normal.close()
    presenter_mode(True)
    try:
        big = widgets.gd_explorer()
        assert big.figure.layout.font.size > 1.3 * size
        assert all(t.line.width >= 3 for t in big.figure.data if t.type == "scatter")
        big.close()
    finally:
        presenter_mode(False)
    with pytest.raises(TypeError, match="on must be a bool"):
        presenter_mode("yes")  # type: ignore[arg-type]


def test_the_call_reproduces_every_value_exactly() -> None:
    """Floats as Python source that evaluates to the same number: short when that is exact,
    else their repr (``.6g`` turned 0.2825075089245509 into 0.282508); NaN and ±inf as
    ``float(...)`` (``nan`` is no Python literal)."""
    from alignkit.share import view_call

    state = {"a": 0.2825075089245509, "b": 123456789.0, "c": 0.3, "d": float("nan"),
             "e": -float("inf"), "f": 1e-7, "g": 3, "h": "flow", "i": True}  # fmt: skip
    call = view_call("f", state)
    back = eval(call, {"f": lambda **kw: kw, "float": float})  # noqa: S307 (our own output)
    assert set(back) == set(state)
    for key, value in state.items():
        if isinstance(value, float) and value != value:
            assert back[key] != back[key]
        else:
            assert back[key] == value and type(back[key]) is type(value), key
    assert "c=0.3," in call and "b=123456789.0" in call


def test_csv_holds_the_fit_landscape_drawn_as_a_picture(tmp_path: Path) -> None:
    """The fit explorer's landscape is a layout image; its cells still reach the CSV (from
    the hover grid), each with its log10 D at its (mu, sigma)."""
    from alignkit.divergences.plots import plot_fit
    from alignkit.divergences.views import fit_view

    view = fit_view()
    rows = list(csv.reader(save_figure(plot_fit(view), tmp_path / "fit.csv").open()))
    cells = [(float(x), float(y), float(v)) for name, x, y, v in rows[1:] if name == "log₁₀ D"]
    assert len(cells) == view.log_values.size
    assert not [r for r in rows[1:] if r[0] == "log₁₀ D colour bar"]  # a placeholder point
    i, j = 4, 7  # row i (sigma), column j (mu)
    x, y, v = cells[i * view.mus.size + j]
    assert np.isclose(x, view.mus[j], rtol=1e-6) and np.isclose(y, view.sigmas[i], rtol=1e-6)
    assert np.isclose(v, view.log_values[i, j], rtol=1e-6)


def test_csv_gives_the_fit_landscape_unclipped(tmp_path: Path) -> None:
    """The picture's colours stop at log10 D = +-LOG_CLIP; the CSV (the hover grid) gives
    each cell's log10 D as computed, beyond the clip too (Pearson chi^2, the integral of
    p^2/q, from a narrow Gaussian: huge where p has mass in q's tails, infinite where q
    underflows)."""
    from alignkit.divergences.landscape import landscape
    from alignkit.divergences.plots import plot_fit
    from alignkit.divergences.views import LOG_CLIP, fit_view, target_mixture

    view = fit_view("pearson_chi2")
    rows = list(csv.reader(save_figure(plot_fit(view), tmp_path / "fit.csv").open()))
    got = np.array([float(v) for name, _, _, v in rows[1:] if name == "log₁₀ D"])
    got = got.reshape(view.log_values.shape)
    # the same cells from the landscape itself, called afresh (not through the view)
    land = landscape(target_mixture(2, 4.0, 0.5), "pearson_chi2", mus=torch.from_numpy(view.mus),
                     sigmas=torch.from_numpy(view.sigmas), per_std=2.0, width=6.0)  # fmt: skip
    with np.errstate(divide="ignore"):
        want = np.log10(land.values.numpy())
    beyond = np.isfinite(want) & (np.abs(want) > LOG_CLIP)
    assert beyond.sum() >= 100  # (the clip matters on this landscape)
    assert np.allclose(got[beyond], want[beyond], rtol=1e-6)
    assert np.all(np.abs(view.log_values[beyond]) == LOG_CLIP)  # (drawn clipped)
    assert np.array_equal(np.isposinf(got), np.isposinf(want))
