"""SVG drawing primitives for the report's charts (``charts.py``): shapes as strings, every
text and attribute escaped, numbers to one decimal place so the markup stays small."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK = "#1b1f23"


def document(chart_id: str, width: float, height: float, title: str, desc: str, parts: list[str]) -> str:
    """A standalone ``<svg>`` that scales to its container. Its ``<title>`` (first, as screen
    readers expect) names it and its ``<desc>`` is the text alternative."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} '
        f'viewBox="0 0 {n(width)} {n(height)}" role="img" aria-labelledby="{chart_id}-title" '
        f'aria-describedby="{chart_id}-desc" font-family={quoteattr(FONT)} font-size="11">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        + "".join(parts)
        + "</svg>"
    )


def legend(items: list[tuple[str, str]], y: float, width: float) -> tuple[list[str], float]:
    """Legend entries in rows across ``width`` from ``y``: (a marker drawn around 0,0; its
    words). Returns the parts and the height they take."""
    parts, x, row = [], 12.0, 0
    for marker, words in items:
        entry_width = 26 + 6.2 * len(words) + 18
        if x + entry_width > width and x > 12:
            x, row = 12.0, row + 1
        top = y + row * 20
        parts.append(f'<g transform="translate({n(x)} {n(top)})">{marker}</g>')
        parts.append(text(x + 22, top + 4, words, fill=INK, font_size=11))
        x += entry_width
    return ['<g class="legend">' + "".join(parts) + "</g>"], (row + 1) * 20


def hatch(pattern_id: str, colour: str) -> str:
    """A diagonal-line fill, ``url(#pattern_id)``: it reads in black and white too."""
    return (
        f'<defs><pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="1.5"/>'
        "</pattern></defs>"
    )


def titled(words: str, shapes: str) -> str:
    """Shapes with their own tooltip (screen readers get the chart's ``desc``)."""
    return f"<g><title>{escape(words)}</title>{shapes}</g>"


def rect(x, y, width, height, **attributes) -> str:
    return f'<rect x="{n(x)}" y="{n(y)}" width="{n(width)}" height="{n(height)}"{_attrs(attributes)}/>'


def line(x1, y1, x2, y2, **attributes) -> str:
    return f'<line x1="{n(x1)}" y1="{n(y1)}" x2="{n(x2)}" y2="{n(y2)}"{_attrs(attributes)}/>'


def text(x, y, words: str, anchor: str | None = None, **attributes) -> str:
    return f'<text x="{n(x)}" y="{n(y)}"{_attrs({"text_anchor": anchor, **attributes})}>{escape(words)}</text>'


def dot(x, y, r, colour) -> str:
    return f'<circle cx="{n(x)}" cy="{n(y)}" r="{n(r)}" fill="{colour}"/>'


def ring(x, y, r, colour) -> str:
    return f'<circle cx="{n(x)}" cy="{n(y)}" r="{n(r)}" fill="#fff" stroke="{colour}" stroke-width="1.5"/>'


def square(x, y, r, colour) -> str:
    return rect(x - r, y - r, 2 * r, 2 * r, fill="#fff", stroke=colour, stroke_width=1.5)


def diamond(x, y, r, colour) -> str:
    return (
        f'<polygon points="{n(x)},{n(y - r)} {n(x + r)},{n(y)} {n(x)},{n(y + r)} {n(x - r)},{n(y)}" fill="{colour}"/>'
    )


def cross(x, y, r, colour) -> str:
    return line(x - r, y - r, x + r, y + r, stroke=colour, stroke_width=2) + line(
        x - r, y + r, x + r, y - r, stroke=colour, stroke_width=2
    )


def numbered_circle(x, y, number: int, fill: str, ink: str = INK) -> str:
    return f'<circle cx="{n(x)}" cy="{n(y)}" r="7" fill="{fill}" stroke="{INK}" stroke-width="0.75"/>' + text(
        x, y + 3.5, str(number), anchor="middle", font_size=10, font_weight=700, fill=ink
    )


def numbered_triangle(x, y, number: int, fill: str, ink: str = INK) -> str:
    points = f"{n(x)},{n(y - 9)} {n(x + 8)},{n(y + 6)} {n(x - 8)},{n(y + 6)}"
    return f'<polygon points="{points}" fill="{fill}" stroke="{INK}" stroke-width="0.75"/>' + text(
        x, y + 4.5, str(number), anchor="middle", font_size=9, font_weight=700, fill=ink
    )


def n(value):
    """A number to at most one decimal place."""
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return value


def _attrs(attributes: dict) -> str:
    """Keyword attributes as SVG's: ``stroke_width`` is ``stroke-width``; None is left out."""
    return "".join(
        f" {key.replace('_', '-')}={quoteattr(str(n(value)))}" for key, value in attributes.items() if value is not None
    )
