from __future__ import annotations

import os

import pytest

os.environ.setdefault("ALIGNKIT_FAST", "1")


@pytest.fixture(autouse=True)
def _no_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their device explicitly; a developer's ALIGNKIT_DEVICE must not leak in."""
    monkeypatch.delenv("ALIGNKIT_DEVICE", raising=False)
