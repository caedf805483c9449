"""Theme 2 views and explorer: the fit explorer reacts to the divergence and reports errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignkit.divergences.plots import plot_catalogue, plot_fit, plot_table, plot_weighting
from alignkit.divergences.views import catalogue_view, fit_view
from alignkit.divergences.widgets import fit_explorer


def test_fit_view_locks_or_covers_by_divergence() -> None:
    rev = fit_view("reverse_kl", init_mean=1.0)
    fwd = fit_view("forward_kl", init_mean=1.0)
    assert rev.mean == pytest.approx(2.0, abs=0.05) and rev.std == pytest.approx(0.5, abs=0.05)
    assert fwd.mean == pytest.approx(0.0, abs=0.05)
    assert fwd.std == pytest.approx(math.sqrt(4.25), abs=0.1)
    assert rev.behaviour == "mode-seeking" and fwd.behaviour == "mass-covering"
    # density of the fit integrates to 1 on the plot axis (the view draws a real Gaussian)
    assert np.trapezoid(rev.fit_pdf, rev.x) == pytest.approx(1.0, abs=1e-3)
    left = fit_view("reverse_kl", init_mean=-1.0)
    assert left.mean == pytest.approx(-2.0, abs=0.05)


def test_fit_view_rejects_bad_controls() -> None:
    with pytest.raises(ValueError, match="divergence must be one of"):
        fit_view("kl")
    with pytest.raises(ValueError, match="init_std"):
        fit_view("forward_kl", init_std=0.0)
    with pytest.raises(ValueError, match="alpha"):
        fit_view("alpha", alpha=math.nan)


def test_fit_explorer_switches_divergence_and_shows_errors() -> None:
    panel = fit_explorer(divergence="reverse_kl", init_mean=1.0)
    title = panel.figure.layout.title.text
    assert "reverse KL" in title
    panel.set_state(divergence="forward_kl")
    panel.flush()
    assert panel.error is None and "forward KL" in panel.figure.layout.title.text
    fit_trace = next(t for t in panel.figure.data if t.name == "fit q")
    assert float(np.max(fit_trace.y)) < 0.25  # wide Gaussian now (σ ≈ 2.06)
    panel.set_state(divergence="alpha", alpha=-1.0)
    panel.flush()
    assert panel.error is None and panel.result is not None and panel.result.std < 0.7
    panel.close()


def test_catalogue_figures_build() -> None:
    view = catalogue_view()
    assert len(plot_catalogue(view).data) == len(view.labels)
    assert plot_table(view).data[0].cells.values[3][1] == "mode-seeking"
    assert len(plot_weighting(view).data) == len(view.labels) - 1  # TV has h = 0: not drawn
    assert plot_fit(fit_view()).layout.title.text


def test_fit_view_reports_the_fit_not_a_grid_estimate() -> None:
    """The explorer's (μ, σ) agree with fit_gaussian's 300-step fits (forward KL: the moment
    match σ = √4.25); the grid alone was 1-10 % off (forward KL 2.088, Neyman 0.447)."""
    from alignkit.divergences.fit import fit_gaussian
    from alignkit.divergences.views import target_mixture

    target = target_mixture(2, 4.0, 0.5)
    for name, alpha in (("forward_kl", 0.5), ("pearson_chi2", 0.5), ("alpha", -1.0)):
        view = fit_view(name, alpha, init_mean=1.0)
        params = {"alpha": alpha} if name == "alpha" else {}
        ref = fit_gaussian(target, name, init=(1.0, 0.5), **params)
        assert abs(view.std - float(ref.std)) < 3e-3, (name, view.std, float(ref.std))
        assert abs(view.mean - float(ref.mean)) < 3e-3, (name, view.mean, float(ref.mean))
    assert abs(fit_view("forward_kl").std - math.sqrt(4.25)) < 2e-3


def test_each_line_has_one_style_and_a_start_one_colour_in_both_panels() -> None:
    """Every divergence a colour-and-dash of its own (the palette has 8 colours for 9), the
    same in f(u) and h(r); each start of the α sweep one colour in both panels (the second
    panel's lines took plotly's next default colours, unlike the legend)."""
    from alignkit.divergences.plots.fits import plot_alpha_sweep
    from alignkit.plotting import PALETTE

    view = catalogue_view()
    styles = [(t.line.color, t.line.dash) for t in plot_catalogue(view).data]
    assert len(set(styles)) == len(styles) == len(view.labels)
    assert all(color in PALETTE for color, _ in styles)
    by_name = {t.name: (t.line.color, t.line.dash) for t in plot_catalogue(view).data}
    assert all(by_name[t.name] == (t.line.color, t.line.dash) for t in plot_weighting(view).data)
    fig = plot_alpha_sweep(np.linspace(0.0, 1.0, 4), np.ones((4, 3)), np.ones((4, 3)))
    colors: dict[str, set[str]] = {}
    for t in fig.data:
        colors.setdefault(t.legendgroup, set()).add(t.line.color)
    assert all(len(c) == 1 for c in colors.values()) and len(colors) == 3
    assert len({c.pop() for c in colors.values()}) == 3


def test_an_alignment_run_still_falling_says_so_in_its_title() -> None:
    """The explorer's run is flagged when D_f moved by ≥ 0.1 % over its last tenth (its
    numbers then are not a converged fit's, as a table beside it may be)."""
    from alignkit.divergences.plots.alignment import plot_alignment, still_changing
    from alignkit.divergences.views import alignment_view

    assert still_changing(np.array([2.0, 1.5, 1.2, 1.1, 1.0, 1.0])) is None
    falling = np.geomspace(10.0, 1.0, 101)  # 10x over 100 steps: 2.3 % per step
    change = still_changing(falling)
    assert change is not None and abs(change - (falling[-11] / falling[-1] - 1)) < 1e-12
    short = alignment_view("reverse_kl", steps=5)
    title = plot_alignment(short).layout.title.text
    d = short.objective
    want = abs(d[-1] - d[-2]) / abs(d[-1])
    assert ("not converged" in title) == (want >= 1e-3), (title, want)
