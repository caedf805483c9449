"""A live panel's FigureWidget edits as one comm message each (see :func:`one_message`).

Measured in JupyterLab on this kit's 2-core machine: each comm message goes through the
kernel's IOPub thread, the Jupyter server and JupyterLab's widget manager, and plotly.py
sends four for one edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go

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
    (message, None). Inside an outer ``hold_sync`` it is ``send`` itself.
    """

    def sent(*args: Any, **kwargs: Any) -> None:
        if fig._holding_sync:
            send(*args, **kwargs)
            return
        kept: dict[str, Any] = {}

        def keep(change: Mapping[str, Any]) -> None:
            if change["new"] is not None:
                kept[change["name"]] = change["new"]

        fig.observe(keep, names=list(MESSAGE_TRAITS))
        try:
            with fig.hold_sync():
                send(*args, **kwargs)  # (the ids, the message and its None: held)
                fig._trait_values.update(kept)  # what the held sync then sends
        finally:
            fig.unobserve(keep, names=list(MESSAGE_TRAITS))
            for name in kept:  # back to None, as plotly.py left it (no message: not synced)
                fig._trait_values[name] = None

    return sent
