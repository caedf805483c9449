"""alignkit's Jupyter server extension: kernel websockets send at once (``TCP_NODELAY``).

Why. A slider move is a round trip: the browser sends the new value, the kernel answers
with a burst of small messages (``status: busy``, the value's echo, the figure's update,
``status: idle``). Tornado leaves Nagle's algorithm on for websockets, so the server
holds every write after the first until the browser acknowledges the first one, and the
browser delays that acknowledgement by up to 40 ms (Linux's minimum delayed ACK). Measured
in JupyterLab on this kit's test machine (``benchmarks/results/latency_nagle.json``, two
pairs of runs in opposite orders), 25-27 % of a bare slider + ``FigureWidget``'s moves and
10-80 % of theme 1's explorers' moves took over 45 ms with Nagle on; 3-4 % and 0-30 %
without. Browsers and most websocket servers turn
Nagle off for the same reason.

A package of its own, so that a Jupyter server loading it imports nothing of the kit
(no torch, no plotly).

What. Every kernel websocket of the server gets ``TCP_NODELAY`` when it opens. Nothing
else changes: messages, their order and their content are the same.

How it is switched on. ``pip install`` (and ``make install``, for the editable install)
puts ``alignkit.json`` in the environment's ``etc/jupyter/jupyter_server_config.d``, which
enables the extension for every Jupyter
server started from that environment. Turn it off with
``jupyter server extension disable alignkit_server``, or per server with
``--ServerApp.jpserver_extensions='{"alignkit_server": false}'``.
"""

from __future__ import annotations

import socket
from typing import Any

EXTENSION = "alignkit_server"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION}]


def no_delay(base: type) -> type:
    """A subclass of the kernel websocket connection class ``base`` that sets ``TCP_NODELAY``.

    ``base`` is whatever the server uses (its default ``ZMQChannelsWebsocketConnection``,
    a gateway connection, or a user's configured class); its behaviour is otherwise kept.
    """
    if getattr(base, "_alignkit_no_delay", False):
        return base

    base_connect = base.connect  # type: ignore[attr-defined]

    def connect(self: Any) -> Any:
        try:  # best effort: a socket that cannot take the option connects as before
            handler = self.websocket_handler
            stream = getattr(getattr(handler, "ws_connection", None), "stream", None)
            sock = getattr(stream, "socket", None)
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                handler.set_nodelay(True)  # (a Unix socket, ``--sock``, has no Nagle)
                if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                    self.log.info(
                        "alignkit: kernel %s websocket sends without delay", self.kernel_id
                    )
        except Exception:  # noqa: BLE001 (never stop a kernel connecting)
            self.log.debug("alignkit: TCP_NODELAY not set", exc_info=True)
        return base_connect(self)

    return type(
        f"NoDelay{base.__name__}",
        (base,),
        {"connect": connect, "_alignkit_no_delay": True, "__module__": __name__},
    )


def _load_jupyter_server_extension(serverapp: Any) -> None:
    settings = serverapp.web_app.settings
    base = settings.get("kernel_websocket_connection_class")
    if base is None:  # a server without kernel websockets: nothing to do
        return
    settings["kernel_websocket_connection_class"] = no_delay(base)
    serverapp.log.info("alignkit: kernel websockets send without delay (TCP_NODELAY)")
