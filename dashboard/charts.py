"""Time charts with a 24-hour UTC axis and dates (Vega-Lite defaults to a 12-hour clock)."""

from __future__ import annotations

from typing import Any

import pandas as pd

TIME_FORMAT = "%d %b %H:%M"


def time_chart(frame: pd.DataFrame, x: str, y: str, color: str | None = None,
               mark: str = "bar") -> Any:
    """An Altair chart of y over time x (UTC, 24-hour labels with the date), split by color."""
    import altair as alt

    axis = alt.Axis(format=TIME_FORMAT, formatType="utc", labelAngle=-30, title=f"{x} (UTC)")
    encoding: dict[str, Any] = {
        "x": alt.X(f"{x}:T", axis=axis, scale=alt.Scale(type="utc")),
        "y": alt.Y(f"{y}:Q", stack=True),
        "tooltip": [alt.Tooltip(f"{x}:T", format=TIME_FORMAT, formatType="utc"),
                    f"{y}:Q", *([f"{color}:N"] if color else [])],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N")
    chart = alt.Chart(frame)
    marked = chart.mark_area() if mark == "area" else chart.mark_bar()
    return marked.encode(**encoding)
