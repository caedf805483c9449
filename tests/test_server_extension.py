"""``alignkit_server``: the Jupyter server extension that turns Nagle's delay off.

Unit tests of the connection wrapper on a real TCP socket, the install's config (the
extension is on in this environment, and ``alignkit doctor`` says when it is not), and a
real JupyterLab whose kernel websocket reports ``TCP_NODELAY`` set on its socket.
"""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterlab_driver import INSTALL_HINT, find_chromium, open_notebook, running_lab

import alignkit_server
from alignkit import cli


class _Base:
    """Stands in for jupyter_server's connection class: records that connect ran."""

    def __init__(self, handler: Any) -> None:
        self.websocket_handler, self.kernel_id = handler, "k1"
        self.log = logging.getLogger("test-no-delay")
        self.connected = False

    def connect(self) -> str:
        self.connected = True
        return "base result"


def _handler(sock: socket.socket) -> Any:
    def set_nodelay(value: bool) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(value))

    return SimpleNamespace(
        set_nodelay=set_nodelay, ws_connection=SimpleNamespace(stream=SimpleNamespace(socket=sock))
    )


def test_wrapped_connection_sets_tcp_nodelay_then_connects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cls = alignkit_server.no_delay(_Base)
    assert issubclass(cls, _Base) and cls.__name__ == "NoDelay_Base"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # Nagle on
        conn = cls(_handler(sock))
        with caplog.at_level(logging.INFO, logger="test-no-delay"):
            assert conn.connect() == "base result"
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert conn.connected
    assert "kernel k1 websocket sends without delay" in caplog.text


@pytest.mark.parametrize("kind", ["unix socket", "no websocket", "set_nodelay raises"])
def test_a_socket_without_the_option_still_connects(kind: str) -> None:
    """A server on a Unix socket (``--sock``) or a handler in an odd state must not stop the
    kernel connecting: the option is best effort."""
    cls = alignkit_server.no_delay(_Base)
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        if kind == "unix socket":
            handler = _handler(a)  # (its set_nodelay would raise on a Unix socket)
        elif kind == "no websocket":
            handler = SimpleNamespace(set_nodelay=lambda v: None, ws_connection=None)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                handler = _handler(tcp)

                def boom(value: bool) -> None:
                    raise AssertionError("set_nodelay on a closed websocket")

                handler.set_nodelay = boom
                conn = cls(handler)
                assert conn.connect() == "base result" and conn.connected
                return
        conn = cls(handler)
        assert conn.connect() == "base result" and conn.connected


def test_wrapping_twice_is_wrapping_once() -> None:
    once = alignkit_server.no_delay(_Base)
    assert alignkit_server.no_delay(once) is once


def test_loading_wraps_the_servers_connection_class() -> None:
    settings: dict[str, Any] = {"kernel_websocket_connection_class": _Base}
    app = SimpleNamespace(
        web_app=SimpleNamespace(settings=settings), log=logging.getLogger("test-no-delay")
    )
    alignkit_server._load_jupyter_server_extension(app)
    assert issubclass(settings["kernel_websocket_connection_class"], _Base)
    assert settings["kernel_websocket_connection_class"] is not _Base
    assert alignkit_server._jupyter_server_extension_points() == [{"module": "alignkit_server"}]


def test_this_install_enables_the_extension() -> None:
    assert cli._server_extension_enabled(), "make install should enable alignkit_server"


def test_doctor_says_when_the_extension_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_server_extension_enabled", lambda: False)
    assert cli.main(["doctor"]) >= 1  # (other problems of a machine may add to it)
    out = capsys.readouterr().out
    assert "PROBLEM: the server extension alignkit_server is off" in out
    assert "jupyter-config/alignkit.json" in out


@pytest.mark.browser
@pytest.mark.timeout(300)
@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_a_real_lab_kernel_websocket_has_tcp_nodelay(browser: Any, enabled: bool) -> None:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    config = {"ServerApp": {"jpserver_extensions": {"alignkit_server": enabled}}}
    with running_lab(timeout=120, server_config=config) as lab:
        nb = open_notebook(browser, lab, "00_welcome.ipynb", timeout=120)
        try:
            nb.kernel_eval("print(1 + 1)")
        finally:
            nb.close()
        log = lab.log_path.read_text(errors="replace")
    said = "websocket sends without delay" in log  # only after getsockopt confirmed it
    assert said == enabled, lab.log_tail()
