"""A live panel's figure sends each edit as one comm message (alignkit.live.messages.one_message).

plotly.py syncs a FigureWidget edit as four messages (the two edit ids, the message, the
message back to None); the panel's sender sends the same ids and message in one. Checked
on what reaches the comm (``Widget._send``), against a plain FigureWidget making the same
edits; the replays in ``test_redraw_browser.py`` check what plotly.js draws from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import pytest

from alignkit.live.messages import MESSAGE_TRAITS, one_message
from alignkit.live.redraw import Sender


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Every widget message sent: (widget, its state)."""
    sent: list[tuple[Any, dict[str, Any]]] = []
    send = W.Widget._send

    def spy(self: W.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        sent.append((self, dict(msg.get("state", {}))))
        send(self, msg, buffers)

    monkeypatch.setattr(W.Widget, "_send", spy)
    yield sent


def _figure() -> go.FigureWidget:
    fig = go.FigureWidget(
        [go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], name="a"), go.Scatter(y=[2.0, 3.0], name="b")]
    )
    fig.update_layout(xaxis_range=[0, 2], yaxis_range=[0, 4], title_text="t")
    return fig


def _merged(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The states of plotly's messages in one dict, without its None resets."""
    out: dict[str, Any] = {}
    for state in states:
        out.update({k: v for k, v in state.items() if v is not None})
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (np.ndarray, memoryview, bytes)) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


@pytest.mark.parametrize("path", ["points", "figure"])
def test_an_edit_goes_as_one_message_with_plotlys_content(wire: list, path: str) -> None:
    plain, live = _figure(), _figure()
    sender = Sender(live)

    def edit(fig: go.FigureWidget) -> None:
        fig.data[0].y = [0.5, 0.8]
        if path == "figure":
            fig.data[1].line.color = "red"  # (a colour: a full update)

    wire.clear()
    if path == "figure":
        with plain.batch_update():  # plotly's own route for a full update
            edit(plain)
    else:  # plotly's animate route, as the sender takes it
        plain._in_batch_mode = True
        plain.data[0].y = [0.5, 0.8]
        plain._in_batch_mode = False
        plain._perform_batch_animate({"frame": {"duration": 0, "redraw": False}})
    mine = [state for widget, state in wire if widget is plain]
    wire.clear()
    assert sender.send(lambda: edit(live)) == path
    sent = [state for widget, state in wire if widget is live]
    assert len(mine) == 4 and len(sent) == 1, (mine, sent)
    assert (
        sorted(sent[0])
        == sorted(_merged(mine))
        == [
            "_last_layout_edit_id",
            "_last_trace_edit_id",
            "_py2js_animate" if path == "points" else "_py2js_update",
        ]
    )
    ours, theirs = sent[0], _merged(mine)
    key = "_py2js_animate" if path == "points" else "_py2js_update"
    if path == "figure":  # (the sender's own update: the same edits, as plotly's)
        assert _same(ours[key]["style_data"], theirs[key]["style_data"])
        assert ours[key]["style_traces"] == theirs[key]["style_traces"]
    else:
        k = ours[key]["style_traces"].index(0)  # (the sender's frame: its own choice)
        assert list(ours[key]["style_data"][k]["y"]) == [0.5, 0.8]
    # plotly.py's own state afterwards, as without the wrapper
    assert getattr(live, key) is None
    assert live._last_trace_edit_id == ours["_last_trace_edit_id"] >= 1
    assert live._last_layout_edit_id == ours["_last_layout_edit_id"] >= 1


def test_observers_see_plotlys_sequence_and_a_failed_send_leaves_none(wire: list) -> None:
    fig = _figure()
    seen: list[Any] = []
    fig.observe(lambda c: seen.append(c["new"] is None), names=list(MESSAGE_TRAITS))
    Sender(fig).send(lambda: setattr(fig.data[0], "y", [1.0, 0.0]))
    assert seen == [False, True]  # the message, then None: once each

    def broken(*args: Any, **kwargs: Any) -> None:
        fig._py2js_relayout = {"relayout_data": {"title.text": "x"}}
        raise RuntimeError("lost")

    wrapped = one_message(fig, broken)
    with pytest.raises(RuntimeError, match="lost"):
        wrapped()
    assert fig._py2js_relayout is None
    assert not fig._holding_sync and not fig._states_to_send
    wire.clear()
    fig.layout.title.text = "after"  # the figure syncs as before
    assert [sorted(s) for w, s in wire if w is fig] and all(w is fig for w, _ in wire)


def test_inside_an_outer_hold_it_is_plotlys_send(wire: list) -> None:
    """Nested in a held sync the wrapper only calls plotly's sender (neither plotly.py nor
    the kit holds one; there the outer hold sends what plotly.py leaves: the trait's None)."""
    fig = _figure()
    calls: list[tuple] = []
    wrapped = one_message(fig, lambda *a, **k: calls.append((a, k)))
    with fig.hold_sync():
        wrapped(1, b=2)
        assert getattr(fig, "_one_message_queue", None) is None  # (nothing deferred)
    assert calls == [((1,), {"b": 2})]


@pytest.mark.parametrize("how", ["relayout", "restyle"])
def test_relayouts_and_restyles_go_as_one_message(wire: list, how: str) -> None:
    fig = _figure()
    Sender(fig)
    wire.clear()
    if how == "relayout":  # (the sender's route for a title without a caption, pictures)
        fig.plotly_relayout({"title.text": "new"})
    else:
        fig.plotly_restyle({"marker.color": "red"}, [1])
    sent = [state for widget, state in wire if widget is fig]
    assert len(sent) == 1, sent
    msg = sent[0][f"_py2js_{how}"]
    data = msg["relayout_data"] if how == "relayout" else msg["restyle_data"]
    assert data == ({"title.text": "new"} if how == "relayout" else {"marker.color": "red"})
    assert getattr(fig, f"_py2js_{how}") is None


def test_an_observers_edit_goes_after_the_edit_that_fired_it(wire: list) -> None:
    """An observer of a message trait that edits the figure: plotly.py sends the edit that
    fired it first, then the observer's; so does the wrapper (each in one message)."""
    fig = _figure()
    Sender(fig)
    fired: list[bool] = []

    def again(change: dict) -> None:
        if change["new"] is not None and not fired:
            fired.append(True)
            fig.plotly_relayout({"title.text": "second"})

    fig.observe(again, names=["_py2js_relayout"])
    wire.clear()
    fig.plotly_relayout({"title.text": "first"})
    sent = [s for w, s in wire if w is fig and s.get("_py2js_relayout") is not None]
    titles = [s["_py2js_relayout"]["relayout_data"]["title.text"] for s in sent]
    assert titles == ["first", "second"]
    ids = [s["_py2js_relayout"]["layout_edit_id"] for s in sent]
    assert ids[1] == ids[0] + 1 == fig._last_layout_edit_id
    assert fig.layout.title.text == "second"


def test_a_failed_comm_send_leaves_nothing_for_the_next_message(
    wire: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    fig = _figure()
    Sender(fig)

    def broken(self: W.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        raise OSError("the comm is gone")

    with monkeypatch.context() as m:
        m.setattr(W.Widget, "_send", broken)
        with pytest.raises(OSError, match="gone"):
            fig.plotly_relayout({"title.text": "lost"})
    assert not fig._holding_sync and not fig._states_to_send
    wire.clear()
    fig.plotly_restyle({"marker.color": "red"}, [0])
    sent = [sorted(state) for widget, state in wire if widget is fig]
    assert sent == [["_last_layout_edit_id", "_last_trace_edit_id", "_py2js_restyle"]]
