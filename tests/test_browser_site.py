"""The rendered site in headless Chromium with the network off: every explorer still moves.

Builds the whole site once (fast mode), opens every page from ``file://`` with every
non-file request blocked and recorded, moves every static control of every explorer,
and checks that the figure changed, that nothing was fetched and no script failed, and
that the URL fragment restores a view. Screenshots go to ``tests/artifacts/site/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyterlab_driver import INSTALL_HINT, chromium, find_chromium

from alignkit.site import render_site

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "site"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    out = tmp_path_factory.mktemp("browser-site") / "site"
    render_site(out, fast=True)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with chromium(viewport=(1280, 1000)) as context:
        yield context


class OfflinePage:
    """A page opened from disk with every network request blocked and recorded."""

    def __init__(self, context: Any, url: str) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(800)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:", "about:", "blob:")):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()

    def explorers(self) -> Any:
        return self.page.locator("[data-alignkit-static] .js-plotly-plot")

    def signature(self, plot: Any) -> str:
        """What the reader sees: every drawn path and point, and the title's text."""
        return str(plot.evaluate(
            """el => [...el.querySelectorAll('.cartesianlayer path, .cartesianlayer rect')]
                      .map(e => e.getAttribute('d') || e.getAttribute('transform') || '')
                      .join('|') + '#' +
                     [...el.querySelectorAll('.gtitle')].map(e => e.textContent).join('|')"""
        ))  # fmt: skip

    def drag_slider(self, plot: Any, k: int) -> None:
        grip = plot.locator(".slider-grip-rect").nth(k)
        rail = plot.locator(".slider-rail-rect").nth(k)
        grip.scroll_into_view_if_needed()
        box, bar = grip.bounding_box(), rail.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        far = bar["x"] + 4 if x > bar["x"] + bar["width"] / 2 else bar["x"] + bar["width"] - 4
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(far, y, steps=6)
        self.page.mouse.up()
        self.page.wait_for_timeout(250)

    def pick_menu(self, plot: Any, k: int) -> None:
        menu = plot.locator(".updatemenu-header-group").nth(k)
        menu.scroll_into_view_if_needed()
        menu.click()
        self.page.wait_for_timeout(150)
        options = plot.locator(".updatemenu-dropdown-button")
        options.nth(options.count() - 1).click()  # the last option (never the active first)
        self.page.wait_for_timeout(250)


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.glob("*.html") if p.name != "index.html")


def test_index_links_every_page(site: Path, browser: Any) -> None:
    page = OfflinePage(browser, (site / "index.html").as_uri())
    hrefs = page.page.locator("li.card a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert sorted(hrefs) == [p.name for p in _pages(site)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
    assert page.requests == [] and page.errors == []


def test_every_static_control_moves_its_figure_offline(site: Path, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    moved, total, dead = 0, 0, []
    for path in _pages(site):
        page = OfflinePage(browser, path.as_uri())
        plots = page.explorers()
        for e in range(plots.count()):
            plot = plots.nth(e)
            total += 1
            n_sliders = plot.locator(".slider-grip-rect").count()
            n_menus = plot.locator(".updatemenu-header-group").count()
            changed = []
            for k in range(n_sliders):
                before = page.signature(plot)
                page.drag_slider(plot, k)
                changed.append(page.signature(plot) != before)
            for k in range(n_menus):
                before = page.signature(plot)
                page.pick_menu(plot, k)
                changed.append(page.signature(plot) != before)
            plot.screenshot(path=str(ARTIFACTS / f"{path.stem}-explorer{e}.png"))
            if changed and any(changed):
                moved += 1
            else:
                dead.append(f"{path.name} explorer {e}: {n_sliders} sliders, {n_menus} menus")
        assert page.requests == [], f"{path.name} tried the network: {page.requests[:5]}"
        assert page.errors == [], f"{path.name} script errors: {page.errors[:3]}"
        page.page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"))
        page.page.close()
    print(f"static explorers that move: {moved} of {total}")
    assert total >= 1 and dead == [], dead


def test_url_fragment_restores_a_view(site: Path, browser: Any) -> None:
    path = site / "00_welcome.html"
    page = OfflinePage(browser, path.as_uri())
    plot = page.explorers().first
    page.drag_slider(plot, 0)
    frame, url = plot.get_attribute("data-alignkit-frame"), page.page.url
    assert "#gd_explorer.lr=" in url, url
    again = OfflinePage(browser, url)
    restored = again.explorers().first
    again.page.wait_for_timeout(500)
    assert restored.get_attribute("data-alignkit-frame") == frame
    assert again.signature(restored) == page.signature(plot)
