"""The contract every explorer of every theme keeps (README, "Sharing and teaching").

An explorer ``name_explorer(**controls)`` returns a LivePanel whose key is its name and
whose controls are named like its arguments, so that ``panel.call()`` gives a line that
reproduces the view; and the static (kernel-free) figure builds from it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from alignkit.live import LivePanel

WIDGET_MODULES = [
    "alignkit.stability.widgets",
    "alignkit.divergences.widgets",
    "alignkit.manifold.widgets",
]


def _explorers() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for name in WIDGET_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", dir(module)):
            fn = getattr(module, attr)
            if attr.endswith("_explorer") and inspect.isfunction(fn):
                found.append((f"{name.split('.')[1]}.{attr}", fn))
    return found


EXPLORERS = _explorers()


def test_every_theme_has_explorers() -> None:
    themes = {name.split(".")[0] for name, _ in EXPLORERS}
    assert themes == {"stability", "divergences", "manifold"}, themes


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_call_round_trips_and_static_figure_builds(name: str, explorer: Callable[..., Any]) -> None:
    panel = explorer()
    try:
        assert isinstance(panel, LivePanel)
        assert panel.name == explorer.__name__, "the panel names its explorer (for call())"
        params = inspect.signature(explorer).parameters
        missing = [c for c in panel.controls if c not in params]
        assert missing == [], f"{name} has controls it does not take as arguments: {missing}"
        again = explorer(**eval(panel.call().split("(", 1)[1].join(["dict(", ""]), {}))
        assert again.state == panel.state
        fig = panel.static_figure(budget=4, max_seconds=3.0)
        assert len(fig.frames) >= 1 and fig.layout.meta["alignkit"]["tag"] == panel.key
    finally:
        panel.close()
