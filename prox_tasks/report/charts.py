"""Vega-Lite specifications of the report's charts (rendered in the browser by the vendored
Vega-Lite; see ``static/vendor/``). Plain dicts, JSON-ready."""

from __future__ import annotations

from datetime import date

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
SERIES_COLORS = {"value": "#017cee", "gate minimum": "#e43921", "gate maximum": "#e43921"}
#: Tick intervals of a trend's date axis (Vega-Lite ``TimeIntervalStep``), shortest first,
#: with their length in days: the first that gives at most ``MAX_DATE_TICKS`` over the
#: charted dates is used. A tick every day over a backfill of January beside last night's
#: run drew 340 ticks and grid lines in a 300 px chart (a grey wall, labels run together).
DATE_TICKS = (("day", 1, 1), ("day", 2, 2), ("week", 1, 7), ("week", 2, 14), ("month", 1, 31),
              ("month", 2, 62), ("month", 3, 92), ("month", 6, 183), ("year", 1, 366))
MAX_DATE_TICKS = 6


def _base(title: str, data: list[dict], height: int = 200) -> dict:
    """Full container width; ``height`` is the plot's own (axes and legend come on top)."""
    return {"$schema": SCHEMA, "title": title, "width": "container", "height": height,
            "data": {"values": data}, "autosize": {"type": "fit-x", "contains": "padding"}}


def trend(points: list[dict], metric: str, title: str, unit_title: str) -> dict:
    """A metric over logical dates with the gate's thresholds (dashed) and ``latest`` ringed."""
    data = [p for p in points if p["metric"] == metric]
    # whole days only (no "12:00" ticks between two dates), as few as the dates' span needs;
    # labels that would still touch are left out, with a gap between those shown
    x = {"field": "date", "type": "temporal", "title": "logical date",
         "axis": {"format": "%Y-%m-%d", "labelAngle": 0, "labelOverlap": "greedy",
                  "labelSeparation": 8, "tickCount": date_ticks([p["date"] for p in data])}}
    y = {"field": "value", "type": "quantitative", "title": unit_title,
         "axis": {"format": ".0%"}, "scale": {"zero": True}}
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": list(SERIES_COLORS), "range": list(SERIES_COLORS.values())},
             "legend": {"orient": "bottom"}}
    tooltip = [{"field": "date", "type": "temporal", "format": "%Y-%m-%d"},
               {"field": "snapshot"}, {"field": "series"},
               {"field": "value", "format": ".2%"}, {"field": "gate"}]
    values = {"filter": "datum.series == 'value'"}
    limits = {"filter": "datum.series != 'value'"}
    spec = _base(title, data)
    spec["encoding"] = {"x": x, "y": y, "color": color, "tooltip": tooltip}
    spec["layer"] = [
        {"transform": [limits], "mark": {"type": "line", "strokeDash": [6, 4],
                                         "interpolate": "step-after"},
         "encoding": {"detail": {"field": "series"}}},
        {"transform": [values], "mark": {"type": "line", "point": {"size": 50}}},
        {"transform": [values, {"filter": "datum.latest"}],
         "mark": {"type": "point", "size": 260, "strokeWidth": 2, "color": "#00ad46"}},
        {"transform": [values, {"filter": "datum.latest"}],
         "mark": {"type": "text", "dy": -14, "text": "latest", "color": "#00ad46"}},
    ]
    return spec


def date_ticks(dates: list[str]) -> dict:
    """The date axis's tick interval for ``dates`` (``YYYY-MM-DD``): every day while they
    span fewer than ``MAX_DATE_TICKS`` days, else the shortest of ``DATE_TICKS`` that gives
    fewer ticks than that."""
    days = [date.fromisoformat(d[:10]) for d in dates]
    span = (max(days) - min(days)).days if days else 0
    interval, step = next(((i, s) for i, s, length in DATE_TICKS
                           if span // length < MAX_DATE_TICKS), DATE_TICKS[-1][:2])
    return {"interval": interval, "step": step}


def histogram(bins: list[list], title: str, x_title: str, y_title: str,
              percent_x: bool = False) -> dict:
    """Counts over precomputed bins ``[low, high, count]``."""
    spec = _base(title, [{"low": lo, "high": hi, "count": n} for lo, hi, n in bins])
    spec["mark"] = {"type": "bar", "color": "#017cee", "binSpacing": 1}
    axis = {"format": ".0%"} if percent_x else {"tickMinStep": 1}
    spec["encoding"] = {
        "x": {"field": "low", "type": "quantitative", "title": x_title, "axis": axis,
              "bin": {"binned": True}},
        "x2": {"field": "high"},
        "y": {"field": "count", "type": "quantitative", "title": y_title},
        "tooltip": [{"field": "low", "title": "from"}, {"field": "high", "title": "to"},
                    {"field": "count"}],
    }
    return spec


def columns(counts: list[list], title: str, x_title: str, y_title: str) -> dict:
    """Vertical bars of ``[value, count]`` pairs over a discrete axis, in their order."""
    spec = _base(title, [{"value": v, "count": n} for v, n in counts])
    spec["mark"] = {"type": "bar", "color": "#017cee"}
    spec["encoding"] = {
        # labels of ranges ("100–199") side by side ran into each other on a narrow chart
        "x": {"field": "value", "type": "ordinal", "title": x_title, "sort": None,
              "axis": {"labelAngle": -45 if any(len(str(v)) > 3 for v, _ in counts) else 0}},
        "y": {"field": "count", "type": "quantitative", "title": y_title,
              "axis": {"tickMinStep": 1}},
        "tooltip": [{"field": "value", "title": x_title}, {"field": "count"}],
    }
    return spec


def bars(counts: dict, title: str, x_title: str) -> dict:
    """Horizontal bars of ``{label: count}``."""
    spec = _base(title, [{"label": k, "count": v} for k, v in counts.items()],
                 height=max(40, 28 * len(counts)))
    spec["mark"] = {"type": "bar", "color": "#e43921"}
    spec["encoding"] = {
        "y": {"field": "label", "type": "nominal", "title": None, "sort": "-x"},
        "x": {"field": "count", "type": "quantitative", "title": x_title,
              "axis": {"tickMinStep": 1}},
        "tooltip": [{"field": "label"}, {"field": "count"}],
    }
    return spec
