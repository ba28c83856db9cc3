"""Small inline-SVG charts for the run report: line charts, grouped bars, box plots, histograms.

Pure string building (no plotting library, no network): each function returns one ``<svg>``
element sized by its ``viewBox`` so the page scales it. Values of ``None`` (or NaN) are gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e")
_MARGIN = (44, 12, 28, 40)  # left, right, top, bottom


@dataclass(frozen=True)
class Series:
    """One line (or set of points) of a chart, in data units."""

    name: str
    xs: list[float]
    ys: list[float | None]
    color: str = PALETTE[0]
    dashed: bool = False
    markers: bool = False
    line: bool = True


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v: float) -> str:
    return f"{v:.1f}"


class _Frame:
    """Maps data coordinates to pixels inside a chart's plot area."""

    def __init__(self, width: int, height: int, x_range, y_range):
        left, right, top, bottom = _MARGIN
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = height - bottom, top
        self.xr, self.yr = x_range, y_range

    def x(self, v: float) -> float:
        lo, hi = self.xr
        return self.x0 + (v - lo) / ((hi - lo) or 1) * (self.x1 - self.x0)

    def y(self, v: float) -> float:
        lo, hi = self.yr
        return self.y0 + (v - lo) / ((hi - lo) or 1) * (self.y1 - self.y0)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values between lo and hi."""
    span = (hi - lo) or 1.0
    raw = span / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) >= 0.01 or v == 0 else f"{v:.0e}"


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    )


def _axes(f: _Frame, x_label: str, y_label: str, x_ticks=None, y_ticks=None) -> list[str]:
    out = []
    for v in y_ticks if y_ticks is not None else _ticks(*f.yr):
        y = _fmt(f.y(v))
        out.append(f'<line class="grid" x1="{f.x0}" x2="{f.x1}" y1="{y}" y2="{y}"/>')
        out.append(
            f'<text class="tick" x="{f.x0 - 4}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{_tick_label(v)}</text>'
        )
    for v in x_ticks if x_ticks is not None else _ticks(*f.xr):
        x = _fmt(f.x(v))
        out.append(
            f'<text class="tick" x="{x}" y="{f.y0 + 12}" text-anchor="middle">'
            f"{_tick_label(v)}</text>"
        )
    out.append(f'<line class="axis" x1="{f.x0}" x2="{f.x1}" y1="{f.y0}" y2="{f.y0}"/>')
    out.append(f'<line class="axis" x1="{f.x0}" x2="{f.x0}" y1="{f.y0}" y2="{f.y1}"/>')
    cx, cy = (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2
    out.append(
        f'<text class="label" x="{_fmt(cx)}" y="{f.y0 + 26}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text class="label" transform="translate(11 {_fmt(cy)}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return out


def _legend(items: list[tuple[str, str, bool, bool]], x: float, y: float) -> list[str]:
    """One row of (name, color, dashed, marker-only) keys, above the plot area."""
    out = []
    for name, color, dashed, marker in items:
        if marker:
            out.append(f'<circle cx="{x + 8}" cy="{y}" r="3.5" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            out.append(
                f'<line x1="{x}" x2="{x + 16}" y1="{y}" y2="{y}" stroke="{color}" '
                f'stroke-width="2"{dash}/>'
            )
        out.append(
            f'<text class="legend" x="{x + 20}" y="{y}" dominant-baseline="middle">'
            f"{escape(name)}</text>"
        )
        x += 34 + 5.8 * len(name)
    return out


def _segments(xs, ys) -> list[list[tuple[float, float]]]:
    """Split a series at missing values into runs of points."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if _missing(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def line_chart(
    series: list[Series],
    *,
    label: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int = 440,
    height: int = 320,
    diagonal: bool = False,
    x_ticks: list[float] | None = None,
) -> str:
    """Lines and/or markers on linear axes; ``diagonal`` draws y = x (ROC, calibration)."""
    f = _Frame(width, height, x_range, y_range)
    out = [_svg_open(width, height, label), *_axes(f, x_label, y_label, x_ticks=x_ticks)]
    if diagonal:
        lo, hi = max(x_range[0], y_range[0]), min(x_range[1], y_range[1])
        out.append(
            f'<line class="diagonal" x1="{_fmt(f.x(lo))}" y1="{_fmt(f.y(lo))}" '
            f'x2="{_fmt(f.x(hi))}" y2="{_fmt(f.y(hi))}"/>'
        )
    for s in series:
        name = escape(s.name)
        if s.line:
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            for run in _segments(s.xs, s.ys):
                pts = " ".join(f"{_fmt(f.x(x))},{_fmt(f.y(y))}" for x, y in run)
                out.append(
                    f'<polyline data-series="{name}" points="{pts}" fill="none" '
                    f'stroke="{s.color}" stroke-width="2"{dash}/>'
                )
        if s.markers:
            for x, y in zip(s.xs, s.ys, strict=True):
                if not _missing(y):
                    out.append(
                        f'<circle data-series="{name}" cx="{_fmt(f.x(x))}" cy="{_fmt(f.y(y))}" '
                        f'r="3.5" fill="{s.color}"><title>{name}: ({x:.3g}, {y:.3g})</title>'
                        "</circle>"
                    )
    out += _legend([(s.name, s.color, s.dashed, not s.line) for s in series], f.x0, 10)
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    groups: list[str],
    series: dict[str, list[float | None]],
    *,
    label: str,
    y_label: str,
    y_range: tuple[float, float] = (0.0, 1.0),
    width: int = 560,
    height: int = 300,
    colors: tuple[str, ...] = PALETTE,
) -> str:
    """Grouped vertical bars: one group per entry of ``groups``, one bar per series."""
    f = _Frame(width, height, (0, len(groups)), y_range)
    out = [_svg_open(width, height, label), *_axes(f, "", y_label, x_ticks=[])]
    group_w = (f.x1 - f.x0) / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for g, group in enumerate(groups):
        gx = f.x0 + g * group_w
        out.append(
            f'<text class="tick" x="{_fmt(gx + group_w / 2)}" y="{f.y0 + 12}" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
        for s, (name, values) in enumerate(series.items()):
            v = values[g]
            if _missing(v):
                continue
            x = gx + group_w * 0.1 + s * bar_w
            top = f.y(v)
            out.append(
                f'<rect data-series="{escape(name)}" x="{_fmt(x)}" y="{_fmt(top)}" '
                f'width="{_fmt(bar_w - 1)}" height="{_fmt(f.y0 - top)}" '
                f'fill="{colors[s % len(colors)]}"><title>{escape(name)} {escape(group)}: '
                f"{v:.3f}</title></rect>"
            )
    out += _legend(
        [(n, colors[i % len(colors)], False, False) for i, n in enumerate(series)], f.x0, 10
    )
    out.append("</svg>")
    return "".join(out)


def box_chart(
    boxes: dict[str, tuple[float, float, float, float, float] | None],
    *,
    label: str,
    y_label: str,
    width: int = 300,
    height: int = 220,
) -> str:
    """One box per category: whiskers at the 1st and 5th values, box from 2nd to 4th, median."""
    values = [v for b in boxes.values() if b for v in b]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or 1.0
    f = _Frame(width, height, (0, len(boxes)), (lo - pad, hi + pad))
    out = [_svg_open(width, height, label), *_axes(f, "", y_label, x_ticks=[])]
    slot = (f.x1 - f.x0) / max(len(boxes), 1)
    for i, (name, box) in enumerate(boxes.items()):
        cx = f.x0 + (i + 0.5) * slot
        out.append(
            f'<text class="tick" x="{_fmt(cx)}" y="{f.y0 + 12}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
        if not box:
            continue
        w10, q25, q50, q75, w90 = (f.y(v) for v in box)
        half = slot * 0.28
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<line x1="{_fmt(cx)}" x2="{_fmt(cx)}" y1="{_fmt(w10)}" y2="{_fmt(w90)}" '
            f'stroke="{color}"/>'
        )
        out.append(
            f'<rect data-series="{escape(name)}" x="{_fmt(cx - half)}" y="{_fmt(q75)}" '
            f'width="{_fmt(2 * half)}" height="{_fmt(max(q25 - q75, 0.5))}" fill="{color}" '
            f'fill-opacity="0.35" stroke="{color}"><title>{escape(name)}: median '
            f"{box[2]:.3g}, quartiles {box[1]:.3g} to {box[3]:.3g}</title></rect>"
        )
        out.append(
            f'<line x1="{_fmt(cx - half)}" x2="{_fmt(cx + half)}" y1="{_fmt(q50)}" '
            f'y2="{_fmt(q50)}" stroke="{color}" stroke-width="2"/>'
        )
    out.append("</svg>")
    return "".join(out)


def histogram(counts: list[float], *, label: str, width: int = 120, height: int = 28) -> str:
    """A tiny bar histogram (no axes), for statistics tables."""
    top = max(counts, default=0) or 1.0
    bar = width / max(len(counts), 1)
    out = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, c in enumerate(counts):
        h = c / top * (height - 2)
        out.append(
            f'<rect x="{_fmt(i * bar)}" y="{_fmt(height - h)}" width="{_fmt(bar - 1)}" '
            f'height="{_fmt(h)}" fill="{PALETTE[0]}"/>'
        )
    out.append("</svg>")
    return "".join(out)
