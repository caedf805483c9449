"""A static explorer shows a frame as a fresh drawing of that frame would (plotly.js, Chromium).

The page script (:data:`alignkit.static_script.FRAME_SCRIPT`) animates to the frame the
controls name. plotly.js's animate keeps autoranged axes where the first frame put them, so
without the script's re-autorange the data of a later frame can leave the plot (threshold's
η* curve ran off its B axis). Each page here opens with a URL fragment naming the far corner
of its controls (as a shared link would), and the drawing must match a fresh
``Plotly.newPlot`` of the figure's data and layout at that frame: axis ranges (to plotly's
padding, which depends on pixel sizes), tick labels, and each trace's points and lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jupyterlab_driver import FRESH_DRAWING_JS
from test_explorer_contract import EXPLORERS
from test_redraw_browser import PLOTLY_JS

from alignkit.static import static_figure, static_html

pytestmark = pytest.mark.browser

# explorers whose frames move their data across autoranged cartesian axes
STATIC = {"threshold_explorer", "sweep_explorer", "alignment_explorer", "gd_explorer"}

_SNAP = (
    "async () => {"
    + FRESH_DRAWING_JS
    + """
  const gd = document.querySelector('.js-plotly-plot');
  const snap = el => {
    const fl = el._fullLayout, axes = {};
    for (const k of Object.keys(fl))
      if (/^[xy]axis\\d*$/.test(k)) axes[k] = fl[k].range.map(Number);
    return {
      axes,
      ticks: [...el.querySelectorAll('.xtick text, .ytick text')].map(e => e.textContent).sort(),
      traces: drawnTraces(el),
    };
  };
  return [gd.getAttribute('data-alignkit-frame'), snap(gd), await freshly(gd, snap)];
}"""
)


@pytest.mark.parametrize(
    ("name", "explorer"),
    [(n, e) for n, e in EXPLORERS if n.split(".")[-1] in STATIC],
    ids=[n for n, _ in EXPLORERS if n.split(".")[-1] in STATIC],
)
def test_a_linked_frame_draws_as_a_fresh_figure(
    name: str, explorer: Any, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: explorer(), 12)
    meta = fig.layout.meta["alignkit"]
    corner = [c for c in meta["controls"] if len(c["labels"]) > 1]
    assert corner, "no control with two positions"
    fragment = "&".join(
        f"{quote(meta['tag'] + '.' + c['name'])}={quote(c['labels'][-1])}" for c in corner
    )
    page_path = tmp_path / "page.html"
    page_path.write_text(
        f"<html><head><script src='file://{PLOTLY_JS}'></script></head>"
        f"<body>{static_html(fig)}</body></html>"
    )
    page = browser.new_page()
    try:
        page.goto(f"file://{page_path}#{fragment}")
        page.wait_for_function(
            "() => { const g = document.querySelector('.js-plotly-plot');"
            " return g && g.getAttribute('data-alignkit-frame') !== null; }"
        )
        want = "-".join(str(len(c["labels"]) - 1) if c in corner else "0" for c in meta["controls"])
        for _ in range(20):  # the animate, then the relayout, may still be under way
            frame, shown, fresh = page.evaluate(_SNAP)
            if frame == want and _same(shown, fresh):
                break
            page.wait_for_timeout(250)
    finally:
        page.close()
    assert frame == want
    assert shown["traces"] == fresh["traces"] and shown["ticks"] == fresh["ticks"]
    assert _same(shown, fresh), (shown["axes"], fresh["axes"])


def _same(shown: dict, fresh: dict) -> bool:
    """Same traces and tick labels; axis ends within 0.1 % of the span."""
    if shown["traces"] != fresh["traces"] or shown["ticks"] != fresh["ticks"]:
        return False
    for axis, (lo, hi) in fresh["axes"].items():
        got, tol = shown["axes"][axis], 1e-3 * (hi - lo)
        if abs(got[0] - lo) > tol or abs(got[1] - hi) > tol:
            return False
    return True


def test_static_meta_names_the_autoranged_axes() -> None:
    """Fixed ranges and 3-D scenes are left alone; an unset cartesian axis is autoranged."""
    import plotly.graph_objects as go

    from alignkit.static import _autoranged

    fig = go.Figure(
        [
            go.Scatter(x=[0, 1], y=[0, 1]),
            go.Scatter(x=[0, 1], y=[0, 1], xaxis="x2", yaxis="y2"),
            go.Scatter3d(x=[0], y=[0], z=[0]),
        ],
        layout={"xaxis2": {"range": [0, 2]}, "yaxis2": {"autorange": "reversed"}},
    )
    assert _autoranged(fig) == {
        "xaxis.autorange": True,
        "yaxis.autorange": True,
        "yaxis2.autorange": "reversed",
    }


def _static(make: Any, budget: int) -> Any:
    """The static figure of the panel ``make()`` builds (closed after)."""
    panel = make()
    try:
        return static_figure(panel, budget=budget)
    finally:
        panel.close()


def _open(browser: Any, tmp_path: Path, fig: Any, fragment: str) -> Any:
    page_path = tmp_path / "page.html"
    page_path.write_text(
        f"<html><head><script src='file://{PLOTLY_JS}'></script></head>"
        f"<body>{static_html(fig)}</body></html>"
    )
    page = browser.new_page()
    page.goto(f"file://{page_path}#{fragment}")
    page.wait_for_function(
        "() => { const g = document.querySelector('.js-plotly-plot');"
        " return g && g.getAttribute('data-alignkit-frame') !== null; }"
    )
    page.wait_for_timeout(300)
    return page


_STATE = """() => { const g = document.querySelector('.js-plotly-plot');
  const text = c => { const e = document.querySelector('.' + c);
                      return e && e.style.display !== 'none' ? e.textContent : null; };
  return [g.getAttribute('data-alignkit-frame'), g.getAttribute('data-alignkit-missing'),
          g.style.opacity, text('alignkit-missing'), text('alignkit-link')]; }"""


def _link(fig: Any, name: str) -> str:
    """The URL fragment that links to ``fig``'s frame ``name`` ("i-j-...")."""
    meta = fig.layout.meta["alignkit"]
    idx = [int(i) for i in name.split("-")]
    return "&".join(
        f"{quote(meta['tag'] + '.' + c['name'])}={quote(c['labels'][i])}"
        for c, i in zip(meta["controls"], idx, strict=True)
    )


def _state_at(browser: Any, tmp_path: Path, fig: Any, name: str) -> list[Any]:
    """Open ``fig``'s page with a link to its frame ``name`` ("i-j-..."): :data:`_STATE`."""
    page = _open(browser, tmp_path, fig, _link(fig, name))
    try:
        return list(page.evaluate(_STATE))
    finally:
        page.close()


def test_a_refused_setting_dims_the_figure_and_says_why(browser: Any, tmp_path: Path) -> None:
    """A setting the compute refuses has no frame. The old frame used to stay under the new
    controls' values (its title naming another setting); now it is dimmed, and a line says
    why (the refusal's own message)."""
    import plotly.graph_objects as go

    from alignkit.live import LivePanel, dropdown, int_slider

    def compute(points: int, shape: str) -> dict[str, Any]:
        if points == 9 and shape == "square":
            raise ValueError("points = 9 with a square is refused (a test's rule)")
        return {"points": points, "shape": shape}

    def update(fig: go.Figure, r: dict[str, Any]) -> None:
        x = list(range(r["points"]))
        fig.update_traces(x=x, y=[v ** (2 if r["shape"] == "square" else 1) for v in x])
        fig.layout.title.text = f"{r['points']} points, {r['shape']}"

    controls = {"points": int_slider(5, 2, 9, "points"),
                "shape": dropdown("line", ["line", "square"], "shape")}  # fmt: skip
    panel = LivePanel(controls, compute, update, go.Figure(go.Scatter(x=[0], y=[0])), key="toy")
    try:
        fig = static_figure(panel, budget=48)
    finally:
        panel.close()
    meta = fig.layout.meta["alignkit"]
    ((name, why),) = meta["missing"].items()
    assert "refused" in why and name not in meta["frames"]
    frame, missing, opacity, text, link = _state_at(browser, tmp_path, fig, name)
    assert frame == name and missing == "1" and opacity == "0.3"
    assert text is not None and why in text and link is None


def test_a_value_the_live_limits_would_not_offer_shows_what_the_panel_would(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's η stops are the chosen model's: on a page, another model with an η of
    the first shows what the live panel would (its nearest η) and says so, not a title
    naming another η than the slider (the defect the site review found)."""
    from alignkit.stability.widgets import sweep_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: sweep_explorer(source="precomputed"), 48)
    meta = fig.layout.meta["alignkit"]
    name, note = next(iter(meta["notes"].items()))
    assert name in meta["frames"] and "not offered" in note and "showing" in note
    frame, missing, opacity, text, _ = _state_at(browser, tmp_path, fig, name)
    assert frame == name and missing is None and opacity == ""
    assert text is not None and note in text
    shown = float(note.rsplit("showing ", 1)[1])
    title = next(f for f in fig.frames if f.name == name).layout.title.text
    assert f"η = {shown:g}" in title or f"η = {shown:.3g}" in title, title


def test_a_linked_value_between_stops_shows_the_nearest_and_says_so(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared link carries the live slider's value (lr = 0.75); the page has a few stops:
    it shows the nearest (in ratio, as for a log slider) and says which, instead of silently
    keeping the default view under a fragment that names another value."""
    from alignkit.stability.widgets import gd_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: gd_explorer(), 12)
    meta = fig.layout.meta["alignkit"]
    k, lr = next((k, c) for k, c in enumerate(meta["controls"]) if c["name"] == "lr")
    values = [float(v) for v in lr["labels"]]
    ask = (values[-2] * values[-1]) ** 0.5 * 1.01  # between the last two stops, nearer the last
    assert f"{ask:g}" not in lr["labels"]
    page = _open(browser, tmp_path, fig, f"{quote(meta['tag'] + '.lr')}={ask:g}")
    try:
        frame, missing, _, text, link = page.evaluate(_STATE)
    finally:
        page.close()
    want = [  # every other control where the panel had it
        str(
            (fig.layout.sliders if c["kind"] == "slider" else fig.layout.updatemenus)[
                c["index"]
            ].active
        )
        for c in meta["controls"]
    ]
    want[k] = str(len(values) - 1)
    assert frame == "-".join(want) and missing is None and text is None
    assert (
        link is not None
        and f"= {ask:g}" in link
        and f"nearest precomputed value, {lr['labels'][-1]}" in link
    )


def test_presenter_mode_enlarges_figure_text_too(browser: Any, tmp_path: Path) -> None:
    """The site's presenter button grew only the prose (22 px) while figure text stayed
    13 px: it now scales every figure's font by 1.4, and a second press restores it."""
    import json

    import nbformat
    import plotly.graph_objects as go

    from alignkit.site.page import render_page

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout={"font": {"size": 13}})
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.plotly.v1+json": json.loads(fig.to_json())}
    )]  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell("# A page"), cell]
    path = tmp_path / "page.html"
    path.write_text(render_page(nb), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => document.querySelector('.js-plotly-plot')?._fullLayout")
        size = "() => document.querySelector('.js-plotly-plot')._fullLayout.font.size"
        before = page.evaluate(size)
        page.click("nav.top button")
        page.wait_for_timeout(300)
        during = page.evaluate(size)
        page.click("nav.top button")
        page.wait_for_timeout(300)
        after = page.evaluate(size)
    finally:
        page.close()
    assert before == 13 and during == pytest.approx(13 * 1.4) and after == 13


def test_the_keyboard_steps_a_static_slider(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tab reached only the plot's toolbar: the figure now takes focus and the arrow keys step
    its slider (the frame and the address bar follow), stopping at the ends."""
    from alignkit.stability.widgets import gd_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: gd_explorer(), 12)
    meta = fig.layout.meta["alignkit"]
    k, lr = next((k, c) for k, c in enumerate(meta["controls"]) if c["kind"] == "slider")
    start = fig.layout.sliders[lr["index"]].active
    page = _open(browser, tmp_path, fig, "")
    try:
        plot = page.locator(".js-plotly-plot")
        plot.focus()
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(300)
        frame = plot.get_attribute("data-alignkit-frame").split("-")
        url = page.url
        for _ in range(len(lr["labels"]) + 2):  # past the far end: it stops there
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(400)
        end = plot.get_attribute("data-alignkit-frame").split("-")
    finally:
        page.close()
    assert int(frame[k]) == max(start - 1, 0)
    assert f"{meta['tag']}.{lr['name']}={lr['labels'][int(frame[k])]}" in url.replace("%2E", ".")
    assert int(end[k]) == len(lr["labels"]) - 1


def test_the_keyboard_reaches_every_static_control(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The up and down arrow keys choose the control the left and right ones move (a
    dropdown included), and a line under the focused figure names it and its value."""
    from alignkit.stability.widgets import region_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: region_explorer(), 12)
    controls = fig.layout.meta["alignkit"]["controls"]
    menu = next(k for k, c in enumerate(controls) if c["kind"] == "menu")
    page = _open(browser, tmp_path, fig, "")
    try:
        plot = page.locator(".js-plotly-plot")
        line = page.locator(".alignkit-keys")
        hidden_before = line.is_hidden()
        plot.focus()
        first = line.inner_text()
        for _ in range(menu):  # from the first slider down to the dropdown
            page.keyboard.press("ArrowDown")
        chosen = line.inner_text()
        before = plot.get_attribute("data-alignkit-frame").split("-")
        way = 1 if int(before[menu]) + 1 < len(controls[menu]["labels"]) else -1
        page.keyboard.press("ArrowRight" if way > 0 else "ArrowLeft")
        page.wait_for_timeout(400)
        after = plot.get_attribute("data-alignkit-frame").split("-")
        moved = line.inner_text()
        url = page.url
        page.keyboard.press("ArrowUp")
        back = line.inner_text()
        plot.evaluate("el => el.blur()")
        hidden_after = line.is_hidden()
    finally:
        page.close()
    c = controls[menu]
    desc = c.get("description") or c["name"]
    assert hidden_before and hidden_after
    assert first.startswith(f"Keyboard: {controls[0].get('description') or controls[0]['name']}")
    assert "↑ ↓ choose another control" in first
    value = c["labels"][int(before[menu])]
    assert chosen == f"Keyboard: {desc} = {value} (← → change it, ↑ ↓ choose another control)"
    assert int(after[menu]) == int(before[menu]) + way and after[:menu] == before[:menu]
    assert moved.startswith(f"Keyboard: {desc} = {c['labels'][int(after[menu])]}")
    label = c["labels"][int(after[menu])]
    assert f"{c['name']}={label}" in url.replace("%2E", ".").replace("%20", " ")
    prev = controls[menu - 1]
    assert back.startswith(f"Keyboard: {prev.get('description') or prev['name']} = ")


def test_a_static_fit_frame_shows_its_own_landscape(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit explorer draws its landscape as a layout image with a colour key's labels
    (alignkit._raster): a linked frame must show that frame's picture and labels, not the
    first frame's."""
    from alignkit.divergences.widgets import fit_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    fig = _static(lambda: fit_explorer(), 6)
    sources = {f.name: f.layout.images[0].source for f in fig.frames if f.layout.images}
    first = fig.layout.images[0].source
    name = next(n for n, s in sources.items() if s != first)  # a frame with a new landscape
    frame = next(f for f in fig.frames if f.name == name)
    page = _open(browser, tmp_path, fig, _link(fig, name))
    try:
        for _ in range(20):
            shown, labels = page.evaluate(
                """() => [[...document.querySelectorAll('.js-plotly-plot image')]
                          .map(e => e.getAttribute('href')),
                         [...document.querySelectorAll('.textpoint text')]
                          .map(e => e.textContent)]"""
            )
            if shown[:1] == [sources[name]]:
                break
            page.wait_for_timeout(250)
    finally:
        page.close()
    assert shown[:1] == [sources[name]] and len(shown) == 2  # (the other: the key's strip)
    key = next(t for t in frame.data if t.name == "log₁₀ D colour bar")
    assert labels == list(key.text)
