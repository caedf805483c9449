"""A live panel's FigureWidget edits as one comm message each (see :func:`one_message`).

Measured in JupyterLab on this kit's 2-core machine: each comm message goes through the
kernel's IOPub thread, the Jupyter server and JupyterLab's widget manager, and plotly.py
sends four for one edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go

from alignkit._checks import check_instance

__all__ = ["MESSAGE_TRAITS", "SENDERS", "one_message"]

#: plotly.py's message traits (a FigureWidget's edits for plotly.js)
MESSAGE_TRAITS = ("_py2js_update", "_py2js_animate", "_py2js_relayout", "_py2js_restyle")
#: plotly.py's senders that :func:`one_message` wraps
SENDERS = ("_send_update_msg", "_send_animate_msg", "_send_relayout_msg", "_send_restyle_msg")


def one_message(fig: go.FigureWidget, send: Callable[..., None]) -> Callable[..., None]:
    """plotly.py's ``fig._send_*_msg`` (``send``) as one comm message instead of four.

    plotly.py sets the trace edit id, the layout edit id, the message trait and then the
    message back to None, and ipywidgets syncs each as a message of its own: four messages
    through the kernel's IOPub thread, the server and JupyterLab for one edit. plotly.js
    acts on the message alone (it ignores None and reads the edit ids only when a view is
    created). The wrapper holds the sync (``hold_sync``) while ``send`` runs and sends the
    ids and the message together; the trait then goes back to None without a message, as
    plotly.py leaves it. Observers of the message traits see plotly.py's own sequence
    (message, None); an edit an observer makes then is sent after this one, in a message
    of its own, as plotly.py orders them. Inside an outer ``hold_sync`` (plotly.py and the
    kit never hold one) it is ``send`` itself.
    """

    check_instance(fig, "fig", go.FigureWidget, "a plotly FigureWidget")
    if not callable(send):
        raise TypeError(f"send must be callable (one of fig's _send_*_msg), got {send!r}")

    def sent(*args: Any, **kwargs: Any) -> None:
        queue: list[tuple[Callable[..., None], Any, Any]] | None = getattr(
            fig, "_one_message_queue", None
        )
        if queue is not None:  # an observer's edit inside a send below: after it
            queue.append((sent, args, kwargs))
            return
        if fig._holding_sync:
            send(*args, **kwargs)
            return
        kept: dict[str, Any] = {}

        def keep(change: Mapping[str, Any]) -> None:
            if change["new"] is not None and change["name"] not in kept:
                kept[change["name"]] = change["new"]

        later: list[tuple[Callable[..., None], Any, Any]] = []
        fig._one_message_queue = later
        fig.observe(keep, names=list(MESSAGE_TRAITS))
        try:
            with fig.hold_sync():
                send(*args, **kwargs)  # (the ids, the message and its None: held)
                fig._trait_values.update(kept)  # what the held sync then sends
        finally:
            fig.unobserve(keep, names=list(MESSAGE_TRAITS))
            fig._one_message_queue = None
            fig._states_to_send.clear()  # (hold_sync keeps them if its send raised)
            for name in kept:  # back to None, as plotly.py left it (no message: not synced)
                fig._trait_values[name] = None
        for again, a, k in later:
            again(*a, **k)

    return sent
