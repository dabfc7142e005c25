"""The report's charts as server-rendered SVG: a calendar heatmap, a chronology plot and a
regimen-steps strip. Pure functions of one medication's section of ``reports.build``.

No JavaScript and no network: each chart is a self-contained ``<svg>`` string with a
``<title>`` and a ``<desc>`` (the text alternative, read out by screen readers and kept in the
page's text), and its legend drawn inside, so a printed page explains itself. Colours are
backed by shapes, patterns and text, so a black-and-white print still reads.

The chronology plot and the steps strip share one horizontal axis (``Axis``): a day is the
same width at the same x in both, so a side effect or an alert lines up with the doses and the
dose step above it. Times are the patient's local times, as the ledger stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from . import svg
from .times import parse_instant

WIDTH = 720
INK, MUTED, GRID = svg.INK, "#57606a", "#d0d7de"
# Marker colours; each marker also has its own shape (see the legends).
ON_TIME, LATE, SKIPPED, MISSED, UNKNOWN = "#116329", "#bc4c00", "#7d4e00", "#a40e26", "#57606a"
LEVEL_FILL = {1: "#fff1c2", 2: "#ffb77c", 3: "#d1242f"}  # a side effect's severity, an alert's level
SEVERITY_WORDS = {1: "mild", 2: "moderate", 3: "severe"}
STEP_FILL, STEP_LINE = "#b6e3ff", "#1f5f8b"


@dataclass(frozen=True)
class Axis:
    """Local days ``first_day``..``last_day`` across the chart, between ``left`` and
    ``WIDTH - right``; shared by the chronology plot and the steps strip."""

    first_day: date
    last_day: date
    left: float = 84
    right: float = 16

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def day_width(self) -> float:
        return (WIDTH - self.left - self.right) / self.days

    def x(self, day: date, hours: float = 0.0) -> float:
        """The x of ``hours`` into local ``day``."""
        return self.left + ((day - self.first_day).days + hours / 24) * self.day_width

    def labelled_days(self) -> list[date]:
        """The days that get a date label: every day for a week or two, Mondays for a few
        months, the first of each month beyond."""
        days = [self.first_day + timedelta(days=n) for n in range(self.days)]
        if self.days <= 14:
            return days
        if self.days <= 92:
            return [d for d in days if d.weekday() == 0]
        return [d for d in days if d.day == 1]


# ---------------------------------------------------------------- the calendar heatmap


CELL_W, CELL_H, WEEK_LABEL_W, HEAD_H = 88, 40, 72, 22
DAY_CLASSES = {  # what a day looks like: fill, words for the legend
    "all": ("#dafbe1", "every dose taken"),
    "some": ("#fff1c2", "some taken"),
    "none": ("#ffcecb", "none taken"),
    "open": ("#ffffff", "doses still to come"),
    "free": ("#f6f8fa", "nothing scheduled"),
}


def calendar_heatmap(medication: dict, chart_id: str) -> str:
    """One cell per local day, Monday to Sunday in rows of weeks, each showing
    "taken/prescribed" (``2/3``); drug-holiday days are hatched and outlined."""
    days = medication["calendar"]
    first, last = date.fromisoformat(days[0]["date"]), date.fromisoformat(days[-1]["date"])
    pending = {row["local_date"] for row in medication["chronology"] if row["status"] == "pending"}
    monday = first - timedelta(days=first.weekday())
    grid_h = HEAD_H + ((last - monday).days // 7 + 1) * CELL_H
    hatch = f"url(#{chart_id}-hatch)"
    legend, legend_h = svg.legend(
        [(_swatch(fill), words) for fill, words in DAY_CLASSES.values()]
        + [(_swatch(hatch, MISSED, 2), "drug holiday (≥ 3 days, none taken)")],
        grid_h + 12,
        WIDTH,
    )
    parts = [svg.hatch(f"{chart_id}-hatch", MISSED)]
    for column, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        parts.append(svg.text(WEEK_LABEL_W + (column + 0.5) * CELL_W, 15, name, anchor="middle", fill=MUTED))
    for week in range((last - monday).days // 7 + 1):
        parts.append(
            svg.text(
                WEEK_LABEL_W - 8,
                HEAD_H + (week + 0.5) * CELL_H + 4,
                _short(monday + timedelta(weeks=week)),
                anchor="end",
                fill=MUTED,
            )
        )
    for index, day in enumerate(days):
        parts.append(_day_cell(day, monday, day["date"] in pending, hatch, with_month=index == 0))
    return svg.document(
        chart_id,
        WIDTH,
        grid_h + legend_h + 12,
        f"{medication['name']}: doses taken each day",
        _calendar_summary(days, pending),
        parts + legend,
    )


def _day_cell(day: dict, monday: date, has_pending: bool, hatch: str, with_month: bool) -> str:
    local = date.fromisoformat(day["date"])
    offset = (local - monday).days
    x, y = WEEK_LABEL_W + (offset % 7) * CELL_W, HEAD_H + (offset // 7) * CELL_H
    parts = [
        svg.rect(x + 1, y + 1, CELL_W - 2, CELL_H - 2, fill=DAY_CLASSES[_day_class(day, has_pending)][0], stroke=GRID)
    ]
    if day["holiday"]:
        parts.append(svg.rect(x + 2, y + 2, CELL_W - 4, CELL_H - 4, fill=hatch, stroke=MISSED, stroke_width=2))
    parts.append(
        svg.text(
            x + 6, y + 13, _short(local) if local.day == 1 or with_month else str(local.day), fill=MUTED, font_size=10
        )
    )
    ratio = f"{day['taken']}/{day['prescribed']}" if day["prescribed"] else "–"
    parts.append(
        svg.text(
            x + CELL_W / 2,
            y + CELL_H - 9,
            ratio,
            anchor="middle",
            font_size=14,
            font_weight=700,
            fill=INK if day["prescribed"] else MUTED,
            paint_order="stroke",
            stroke="#fff",
            stroke_width=3,
        )
    )
    words = f"{local:%a %d %b}: {ratio if day['prescribed'] else 'nothing scheduled'}"
    return svg.titled(words + (", drug holiday" if day["holiday"] else ""), "".join(parts))


def _day_class(day: dict, has_pending: bool) -> str:
    if not day["prescribed"]:
        return "free"
    if day["taken"] >= day["prescribed"]:
        return "all"
    if has_pending:
        return "open"
    return "some" if day["taken"] else "none"


def _calendar_summary(days: list[dict], pending: set[str]) -> str:
    kinds = [_day_class(day, day["date"] in pending) for day in days]
    holidays = [day["date"] for day in days if day["holiday"]]
    text = (
        f"{len(days)} days from {_long(days[0]['date'])} to {_long(days[-1]['date'])}: every dose taken on "
        f"{kinds.count('all')} days, some on {kinds.count('some')}, none on {kinds.count('none')}"
    )
    if kinds.count("open"):
        text += f", {kinds.count('open')} with doses still to come"
    if kinds.count("free"):
        text += f", nothing scheduled on {kinds.count('free')}"
    if holidays:
        text += f"; {len(holidays)} drug-holiday days ({', '.join(_runs(holidays))})"
    return text + "."


def _swatch(fill: str, stroke: str = GRID, width: float = 1) -> str:
    return svg.rect(0, -7, 16, 14, fill=fill, stroke=stroke, stroke_width=width)


# ---------------------------------------------------------------- the chronology plot


HOUR_H, PLOT_TOP = 10, 8
MARKERS = {  # status -> shape and colour, at the scheduled time
    "skipped": (svg.square, SKIPPED),
    "missed": (svg.cross, MISSED),
    "unknown": (svg.ring, UNKNOWN),
}


def chronology_plot(medication: dict, first_day: date, last_day: date, chart_id: str) -> str:
    """The time of day each dose was taken (y, 00:00 at the top to 24:00 at the bottom)
    against its local date (x), over bands of ±on-time minutes around the scheduled times.
    Late intakes are diamonds tied to their scheduled time; skipped, missed and unconfirmed
    doses are marked at their scheduled time with their own shapes."""
    axis = Axis(first_day, last_day)
    on_time = medication["metrics"]["parameters"]["on_time_minutes"]
    bottom = PLOT_TOP + 24 * HOUR_H
    parts = [svg.rect(axis.left, PLOT_TOP, WIDTH - axis.left - axis.right, 24 * HOUR_H, fill="#fff", stroke=GRID)]
    for hour in range(0, 25, 3):
        y = PLOT_TOP + hour * HOUR_H
        parts.append(svg.line(axis.left, y, WIDTH - axis.right, y, stroke=GRID, stroke_width=0.5))
        parts.append(svg.text(axis.left - 6, y + 4, f"{hour:02d}:00", anchor="end", fill=MUTED, font_size=10))
    parts += _bands(medication["steps"], axis, on_time) + _day_grid(axis, PLOT_TOP, bottom)
    counts = dict.fromkeys(("on_time", "late", "skipped", "missed", "unknown"), 0)
    for kind, marker in filter(None, (_chronology_marker(row, axis, on_time) for row in medication["chronology"])):
        counts[kind] += 1
        parts.append(marker)
    parts += _date_labels(axis, bottom)
    legend, legend_h = svg.legend(
        [
            (svg.rect(0, -5, 14, 10, fill="#ddf4ff", stroke="#54aeff", stroke_width=0.5), f"scheduled ±{on_time} min"),
            (svg.dot(7, 0, 4.5, ON_TIME), "taken on time"),
            (svg.diamond(7, 0, 5.5, LATE), "taken late or early"),
            *(
                (shape(7, 0, 4.5, colour), words)
                for (shape, colour), words in zip(
                    MARKERS.values(), ("skipped", "missed", "not confirmed"), strict=False
                )
            ),
        ],
        bottom + 30,
        WIDTH,
    )
    times = sorted({t for step in medication["steps"] for t in step["times"]})
    summary = (
        f"{counts['on_time'] + counts['late']} doses taken, {counts['late']} of them more than {on_time} min "
        f"from the scheduled time; {counts['skipped']} skipped, {counts['missed']} missed, "
        f"{counts['unknown']} not confirmed. Scheduled at {', '.join(times) or 'no fixed times'}."
    )
    return svg.document(
        chart_id,
        WIDTH,
        bottom + 30 + legend_h + 6,
        f"{medication['name']}: time of day each dose was taken",
        summary,
        parts + legend,
    )


def _bands(steps: list[dict], axis: Axis, on_time: int) -> list[str]:
    parts = []
    for start, end, step in _steps_in(steps, axis):
        x0, x1 = axis.x(start), axis.x(end + timedelta(days=1))
        for hhmm in step["times"]:
            minutes = _minutes(hhmm)
            top, low = max(0, minutes - on_time) / 60, min(24 * 60, minutes + on_time) / 60
            parts.append(svg.rect(x0, PLOT_TOP + top * HOUR_H, x1 - x0, (low - top) * HOUR_H, fill="#ddf4ff"))
            y = PLOT_TOP + minutes / 60 * HOUR_H
            parts.append(svg.line(x0, y, x1, y, stroke="#54aeff", stroke_width=0.75, stroke_dasharray="3 2"))
    return parts


def _chronology_marker(row: dict, axis: Axis, on_time: int) -> tuple[str, str] | None:
    """(its kind for the summary, the marker) of one ledger row; None for a pending dose."""
    day = date.fromisoformat(row["local_date"])
    if not axis.first_day <= day <= axis.last_day or row["status"] == "pending":
        return None
    due = _minutes(row["local_time"])
    r = max(1.5, min(4.5, axis.day_width * 0.3))
    x, due_y = axis.x(day, 12), PLOT_TOP + due / 60 * HOUR_H
    if row["status"] != "taken":
        shape, colour = MARKERS[row["status"]]
        words = f"{_long(row['local_date'])} {row['local_time']}: {row['status']}"
        return row["status"], svg.titled(words, shape(x, due_y, r, colour))
    taken = _minutes(row["taken_local"])
    # An intake after midnight (or before it, for an early one) belongs to the next (previous)
    # local day: plot it where it happened.
    shift = 1 if taken - due < -12 * 60 else -1 if taken - due > 12 * 60 else 0
    x_taken, y_taken = axis.x(day + timedelta(days=shift), 12), PLOT_TOP + taken / 60 * HOUR_H
    words = f"{_long(row['local_date'])} {row['local_time']} dose: taken at {row['taken_local']}"
    if abs(taken - due + shift * 24 * 60) <= on_time:
        return "on_time", svg.titled(words, svg.dot(x_taken, y_taken, r, ON_TIME))
    tie = "" if shift else svg.line(x, due_y, x, y_taken, stroke=LATE, stroke_width=1)
    return "late", svg.titled(words, tie + svg.diamond(x_taken, y_taken, r + 1, LATE))


# ---------------------------------------------------------------- the regimen-steps strip


STEP_TOP, STEP_LANE, EVENT_LANE = 8, 64, 30
EFFECT_TOP = STEP_TOP + STEP_LANE + 6
ALERT_TOP = EFFECT_TOP + EVENT_LANE
STRIP_BOTTOM = ALERT_TOP + EVENT_LANE


def steps_strip(
    medication: dict,
    side_effects: list[dict],
    alerts: list[dict],
    first_day: date,
    last_day: date,
    tz: str,
    chart_id: str,
) -> str:
    """The amount per dose of each regimen step as bars on the chronology's time axis, with
    the side effects (a circle, its number the severity) and the alerts (a triangle, its
    number the level) below, at the local day and time they happened. Side effects and alerts
    not tied to any medication show on every medication's strip."""
    axis, zone = Axis(first_day, last_day), ZoneInfo(tz)
    ours = (None, medication["id"])
    effects = sorted((s for s in side_effects if s.get("medication_id") in ours), key=lambda s: s["at"])
    warnings = sorted((a for a in alerts if a.get("medication_id") in ours), key=lambda a: a["created_at"])
    steps = _steps_in(medication["steps"], axis)
    top_amount = max((step["amount"] for _, _, step in steps), default=0) or 1
    parts = _strip_frame(axis) + [
        _step_bar(start, end, step, axis, top_amount, medication["unit"]) for start, end, step in steps
    ]
    parts += _events(
        axis,
        zone,
        [
            (s["at"], f"{s['kind'].replace('_', ' ')}, {SEVERITY_WORDS[s['severity']]}", _numbered_dot, s["severity"])
            for s in effects
        ],
        EFFECT_TOP + EVENT_LANE / 2 - 2,
    )
    parts += _events(
        axis,
        zone,
        [(a["created_at"], f"level {a['level']} alert", _numbered_triangle, a["level"]) for a in warnings],
        ALERT_TOP + EVENT_LANE / 2,
    )
    parts += _date_labels(axis, STRIP_BOTTOM)
    legend, legend_h = svg.legend(
        [
            (svg.rect(0, -6, 14, 12, fill=STEP_FILL, stroke=STEP_LINE), "amount per dose (bar height)"),
            (_numbered_dot(8, 0, 2), "side effect, severity 1 mild – 3 severe"),
            (_numbered_triangle(8, 0, 3), "alert, level 1–3"),
        ],
        STRIP_BOTTOM + 30,
        WIDTH,
    )
    return svg.document(
        chart_id,
        WIDTH,
        STRIP_BOTTOM + 30 + legend_h + 6,
        f"{medication['name']}: dose steps, side effects and alerts",
        _strip_summary(steps, effects, warnings, medication["unit"], zone),
        parts + legend,
    )


def _strip_frame(axis: Axis) -> list[str]:
    """The strip's box, its three lanes and their names."""
    right = WIDTH - axis.right
    parts = [
        svg.rect(axis.left, STEP_TOP, right - axis.left, STRIP_BOTTOM - STEP_TOP, fill="#fff", stroke=GRID),
        svg.line(axis.left, EFFECT_TOP - 3, right, EFFECT_TOP - 3, stroke=GRID, stroke_width=0.5),
        svg.line(axis.left, ALERT_TOP, right, ALERT_TOP, stroke=GRID, stroke_width=0.5),
    ]
    for label, y in (
        ("dose", STEP_TOP + STEP_LANE / 2),
        ("side effects", EFFECT_TOP + EVENT_LANE / 2),
        ("alerts", ALERT_TOP + EVENT_LANE / 2),
    ):
        parts.append(svg.text(axis.left - 6, y + 4, label, anchor="end", fill=MUTED, font_size=10))
    return parts + _day_grid(axis, STEP_TOP, STRIP_BOTTOM)


def _step_bar(start: date, end: date, step: dict, axis: Axis, top_amount: float, unit: str) -> str:
    x0, x1 = axis.x(start), axis.x(end + timedelta(days=1))
    height = (STEP_LANE - 22) * step["amount"] / top_amount
    y = STEP_TOP + STEP_LANE - 4 - height
    label = f"{step['amount']:g} {unit} × {len(step['times'])} a day"
    parts = [svg.rect(x0, y, x1 - x0, height, fill=STEP_FILL, stroke=STEP_LINE)]
    if x1 - x0 >= 7 * len(label):
        parts.append(svg.text(x0 + 4, y - 4, label, font_size=10, fill=INK))
    return svg.titled(f"from {_long(step['start_date'])}: {label} at {', '.join(step['times'])}", "".join(parts))


def _events(axis: Axis, zone: ZoneInfo, events: list[tuple], y: float) -> list[str]:
    """Markers at their local day and time; (instant, words, marker, number) in time order.
    Markers close in time are nudged apart, so each stays readable."""
    parts, last_x = [], None
    for instant, words, marker, number in events:
        local = parse_instant(instant).astimezone(zone)
        x = axis.x(local.date(), local.hour + local.minute / 60)
        x = x if last_x is None else max(x, last_x + 18)
        parts.append(svg.titled(f"{_when(instant, zone)}: {words}", marker(x, y, number)))
        last_x = x
    return parts


def _strip_summary(steps, effects, alerts, unit: str, zone: ZoneInfo) -> str:
    text = (
        "Dose steps: "
        + (
            "; ".join(
                f"{step['amount']:g} {unit} at {', '.join(step['times'])} from {_long(start.isoformat())}"
                f"{' to ' + _long(end.isoformat()) if step['end_date'] else ''}"
                for start, end, step in steps
            )
            or "none"
        )
        + "."
    )
    listed = [
        f"{s['kind'].replace('_', ' ')} ({SEVERITY_WORDS[s['severity']]}) on {_when(s['at'], zone)}"
        for s in effects[:5]
    ]
    text += f" {len(effects)} side effect{'s' if len(effects) != 1 else ''}" + (
        f": {'; '.join(listed)}" if listed else ""
    )
    text += ", and more." if len(effects) > 5 else "."
    levels = [a["level"] for a in alerts]
    text += f" {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    if levels:
        text += " (" + ", ".join(f"{levels.count(n)} at level {n}" for n in sorted(set(levels))) + ")"
    return text + "."


def _numbered_dot(x, y, severity: int) -> str:
    return svg.numbered_circle(x, y, severity, LEVEL_FILL[severity], "#fff" if severity == 3 else INK)


def _numbered_triangle(x, y, level: int) -> str:
    return svg.numbered_triangle(x, y, level, LEVEL_FILL.get(level, "#fff"), "#fff" if level == 3 else INK)


# ---------------------------------------------------------------- shared pieces


def _steps_in(steps: list[dict], axis: Axis) -> list[tuple[date, date, dict]]:
    """Each step clipped to the axis's days, with its first and last day there."""
    result = []
    for step in steps:
        start = max(date.fromisoformat(step["start_date"]), axis.first_day)
        end = min(date.fromisoformat(step["end_date"]) if step["end_date"] else axis.last_day, axis.last_day)
        if start <= end:
            result.append((start, end, step))
    return result


def _day_grid(axis: Axis, top: float, bottom: float) -> list[str]:
    """A faint line between days, while days are wide enough to tell apart."""
    if axis.day_width < 4:
        return []
    xs = (axis.x(axis.first_day + timedelta(days=n)) for n in range(1, axis.days))
    return [svg.line(x, top, x, bottom, stroke="#eaeef2", stroke_width=0.5) for x in xs]


def _date_labels(axis: Axis, y: float) -> list[str]:
    parts = []
    for day in axis.labelled_days():
        x = axis.x(day, 12) if axis.days <= 14 else axis.x(day)
        parts.append(svg.line(x, y, x, y + 4, stroke=MUTED))
        parts.append(svg.text(x, y + 16, _short(day), anchor="middle", fill=MUTED, font_size=10))
    return parts


def _when(instant: str, zone: ZoneInfo) -> str:
    local = parse_instant(instant).astimezone(zone)
    return f"{local:%a %d %b} {local:%H:%M}"


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _runs(days: list[str]) -> list[str]:
    """Consecutive ISO days as ranges: ``10 Mar–13 Mar``."""
    runs: list[list[date]] = []
    for day in map(date.fromisoformat, days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [_short(run[0]) + (f"–{_short(run[-1])}" if len(run) > 1 else "") for run in runs]


def _short(day: date) -> str:
    return f"{day.day} {day:%b}"


def _long(iso_day: str) -> str:
    return f"{date.fromisoformat(iso_day):%a %d %b %Y}"
