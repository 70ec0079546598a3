"""Vega-Lite specifications of the report's charts (rendered in the browser by the vendored
Vega-Lite; see ``static/vendor/``). Plain dicts, JSON-ready."""

from __future__ import annotations

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
SERIES_COLORS = {"value": "#017cee", "gate minimum": "#e43921", "gate maximum": "#e43921"}


def _base(title: str, data: list[dict], height: int = 200) -> dict:
    """Full container width; ``height`` is the plot's own (axes and legend come on top)."""
    return {"$schema": SCHEMA, "title": title, "width": "container", "height": height,
            "data": {"values": data}, "autosize": {"type": "fit-x", "contains": "padding"}}


def trend(points: list[dict], metric: str, title: str, unit_title: str) -> dict:
    """A metric over logical dates with the gate's thresholds (dashed) and ``latest`` ringed."""
    data = [p for p in points if p["metric"] == metric]
    x = {"field": "date", "type": "temporal", "title": "logical date",
         "axis": {"format": "%Y-%m-%d", "labelAngle": 0, "labelOverlap": "greedy", "tickCount": "day"}}
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
