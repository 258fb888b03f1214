"""Time charts with a 24-hour UTC axis and dates (Vega-Lite defaults to a 12-hour clock)."""

from __future__ import annotations

from typing import Any

import pandas as pd

TIME_FORMAT = "%d %b %H:%M"


def time_chart(frame: pd.DataFrame, x: str, y: str, color: str | None = None,
               mark: str = "bar", bucket: str = "minute") -> Any:
    """An Altair chart of y over time x (UTC, 24-hour labels with the date), split by color;
    ticks fall on whole buckets (minute or hour), never between them."""
    import altair as alt

    # A label only on whole buckets (ticks may fall between them), as a 24-hour UTC time.
    whole = ("utcseconds(datum.value) == 0" if bucket == "minute"
             else "utcminutes(datum.value) == 0 && utcseconds(datum.value) == 0")
    axis = alt.Axis(labelExpr=f"{whole} ? utcFormat(datum.value, '{TIME_FORMAT}') : ''",
                    labelAngle=-30, title=f"{x} (UTC)", labelOverlap=True)
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
