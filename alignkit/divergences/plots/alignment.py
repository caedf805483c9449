"""Figures of the toy-LM alignment (notebook 04): distributions, training curve, trade-off."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.divergences.views import AlignmentView, TradeoffView
from alignkit.plotting import COLORS, apply_traces, base_layout, finish

__all__ = ["plot_alignment", "update_alignment", "plot_tradeoff"]


def _alignment_traces(view: AlignmentView) -> dict[str, dict[str, object]]:
    m, b = view.metrics, view.base_metrics
    what = "E_π[r]" if view.target == "reward" else "π(constraint)"
    state = " — D = ∞ (model mass off the target's support): not trained" if view.infinite else ""
    change = still_changing(view.objective)
    if not view.infinite and change is not None:
        state = (f" — not converged: D_f moved {change:.1%} over the last tenth of the "
                 f"{len(view.objective) - 1} steps")  # fmt: skip
    which = f"reward target (β = {view.beta:g})" if view.target == "reward" else "constraint target"
    title = (
        f"{view.label}, {which}: {what} = {m['alignment']:.3f} "
        f"(base {b['alignment']:.3f}), entropy {m['entropy']:.2f} nats "
        f"(target {m['target_entropy']:.2f}), KL(π‖a) = {m['kl_base']:.2f}{state}"
    )
    x = np.arange(len(view.sequences))
    return {
        "target p": {"x": x, "y": view.target_probs, "text": list(view.sequences)},
        "base a": {"x": x, "y": view.base_probs, "text": list(view.sequences)},
        "model π": {"x": x, "y": view.model_probs, "text": list(view.sequences)},
        "D_f(P‖π)": {"x": np.arange(len(view.objective)), "y": view.objective},
        "_layout": {"title.text": title},
    }


#: A run has stopped when D_f moved by less than this (relative) over its last tenth.
STOPPED_RTOL = 1e-3


def still_changing(objective: np.ndarray) -> float | None:
    """D_f's relative change over the last tenth of a training curve (T + 1,) when it is
    at least :data:`STOPPED_RTOL` (the run has not converged), else None."""
    d = np.asarray(objective, dtype=float)
    if d.size < 2 or not np.isfinite(d[-1]):
        return None
    k = max(1, (d.size - 1) // 10)
    change = abs(d[-1] - d[-1 - k]) / max(abs(d[-1]), 1e-300)
    return float(change) if change >= STOPPED_RTOL else None


def plot_alignment(
    view: AlignmentView, *, title: str | None = None, width: int | None = 980, height: int = 440
) -> go.Figure:
    """The target's most likely sequences under target, base and model (left, log scale);
    the divergence during training (right)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.64, 0.36],
                        subplot_titles=("top sequences of the target", "training"))  # fmt: skip
    hover = "%{text}: %{y:.4f}"
    fig.add_traces(
        [
            go.Bar(name="target p", marker_color=COLORS["neutral"], hovertemplate=hover,
                   textposition="none"),  # the sequences on hover, not squeezed into bars
            go.Scatter(name="base a", mode="markers", marker={"color": COLORS["third"], "size": 7},
                       hovertemplate=hover),
            go.Scatter(name="model π", mode="markers+lines",
                       marker={"color": COLORS["main"], "size": 7}, hovertemplate=hover),
            go.Scatter(name="D_f(P‖π)", mode="lines", line={"color": COLORS["second"]}),
        ],
        rows=[1, 1, 1, 1], cols=[1, 1, 1, 2],
    )  # fmt: skip
    fig.update_xaxes(title_text="sequence (rank under the target)", row=1, col=1)
    fig.update_yaxes(title_text="probability", type="log", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_yaxes(title_text="D_f(P‖π)", type="log", row=1, col=2)
    return finish(fig, _alignment_traces(view), title=title, width=width, height=height)


def update_alignment(fig: go.Figure, view: AlignmentView) -> None:
    """Move a :func:`plot_alignment` figure to a new run (traces by name)."""
    apply_traces(fig, _alignment_traces(view))


def plot_tradeoff(
    view: TradeoffView, *, title: str | None = None, width: int | None = 720, height: int = 460
) -> go.Figure:
    """Alignment (E_π[r]) against diversity (entropy) per divergence as β moves; the target's
    own curve for reference."""
    fig = go.Figure()
    labels = [f"β = {b:g}" for b in view.betas]
    fig.add_trace(go.Scatter(x=view.target_entropy, y=view.target_alignment, name="target p",
                             mode="lines+markers", text=labels,
                             line={"color": COLORS["neutral"], "dash": "dash"}))  # fmt: skip
    colors = [COLORS["main"], COLORS["third"], COLORS["second"], COLORS["accent"]]
    for d, label in enumerate(view.labels):
        fig.add_trace(go.Scatter(x=view.entropy[:, d], y=view.alignment[:, d], name=label,
                                 mode="lines+markers", text=labels,
                                 line={"color": colors[d % len(colors)]}))  # fmt: skip
    fig.update_xaxes(title_text="diversity: entropy H(π) (nats)")
    fig.update_yaxes(title_text="alignment: E_π[r]")
    base_layout(fig, width=width, height=height)
    fig.update_layout(title_text=title or "Alignment vs diversity as β moves (f-DPG, exact)")
    return fig
