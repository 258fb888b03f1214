"""Backtest results as a terminal table, JSON and a self-contained HTML report (pure, no Spark).

The HTML report's charts are Vega-Lite specs (Altair) rendered to inline SVG by vl-convert,
so the file opens offline in any browser, with no script to fetch.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from spark_jobs.backtest import BacktestReport, RuleScore

HEADER = ("rule", "alerts", "per day", "TP", "FP", "precision", "recall", "alerted EUR",
          "fraud EUR caught")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _eur(value: Decimal) -> str:
    return f"{value:,.2f}"


def score_row(score: RuleScore) -> tuple[str, ...]:
    """One table row of a rule's score."""
    return (score.rule_id, f"{score.alerts:,}", f"{score.alerts_per_day:,.1f}",
            f"{score.true_positives:,}", f"{score.false_positives:,}", _pct(score.precision),
            _pct(score.recall), _eur(score.alerted_eur), _eur(score.fraud_eur_caught))


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Rows as aligned text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return "\n".join([line(header), *(line(r) for r in rows)])


def format_report(report: BacktestReport) -> str:
    """The report as the terminal shows it."""
    lines = [f"backtest {report.first} .. {report.last} ({report.days} days): "
             f"{report.payments:,} payments, {report.frauds:,} labelled fraud "
             f"({_eur(report.fraud_eur)} EUR)",
             table([*(score_row(s) for s in report.rules), score_row(report.overall)], HEADER)]
    if report.decisions:
        lines.append(table([score_row(d) for d in report.decisions], HEADER))
    if report.scenarios and report.decisions:
        lines.append(table([(s.scenario, f"{s.frauds:,}", f"{s.caught:,}", _pct(s.recall),
                             f"{s.flagged or 0:,}", _pct(s.flagged_recall))
                            for s in report.scenarios],
                           ("scenario", "frauds", "caught", "recall", "review+block",
                            "recall")))
    elif report.scenarios:
        lines.append(table([(s.scenario, f"{s.frauds:,}", f"{s.caught:,}", _pct(s.recall))
                            for s in report.scenarios],
                           ("scenario", "frauds", "caught", "recall")))
    return "\n\n".join(lines)


def format_comparison(base: BacktestReport, candidate: BacktestReport, added: int | None,
                      dropped: int | None) -> str:
    """Two rule sets (or models) side by side (shadow mode): per rule and decision band, then
    what the candidate's rules change (None: the rules are the same)."""
    scores = {s.rule_id: s for s in (*candidate.rules, *candidate.decisions)}
    rows = []
    for rule in [*base.rules, base.overall, *base.decisions]:
        other = candidate.overall if rule.rule_id == base.overall.rule_id else scores.get(
            rule.rule_id)
        rows.append((rule.rule_id, f"{rule.alerts:,}", f"{other.alerts:,}" if other else "-",
                     _pct(rule.precision), _pct(other.precision) if other else "-",
                     _pct(rule.recall), _pct(other.recall) if other else "-"))
    for rule_id in sorted(set(scores) - {s.rule_id for s in (*base.rules, *base.decisions)}):
        other = scores[rule_id]
        rows.append((rule_id, "-", f"{other.alerts:,}", "-", _pct(other.precision), "-",
                     _pct(other.recall)))
    told = table(rows, ("rule", "alerts", "candidate", "precision", "candidate", "recall",
                        "candidate"))
    if added is None or dropped is None:
        return told
    return f"{told}\n\nthe candidate adds {added:,} alerts and drops {dropped:,}"


def format_sweep(target: str, points: Sequence[tuple[Any, RuleScore]]) -> str:
    """A parameter's precision/recall curve as a table."""
    return table([(str(value), f"{s.alerts:,}", _pct(s.precision), _pct(s.recall))
                  for value, s in points], (target, "alerts", "precision", "recall"))


def _svg(chart: Any) -> str:
    import vl_convert

    return str(vl_convert.vegalite_to_svg(chart.to_dict()))


def charts(report: BacktestReport, sweep: tuple[str, Sequence[tuple[Any, RuleScore]]] | None
           = None) -> dict[str, str]:
    """The report's charts as inline SVG, by title."""
    import altair as alt
    import pandas as pd

    found: dict[str, str] = {}
    daily = pd.DataFrame([{"date": d.isoformat(), "rule": r, "alerts": n}
                          for d, r, n in report.daily])
    if not daily.empty:
        found["Alerts per day per rule"] = _svg(
            alt.Chart(daily).mark_line(point=True).encode(
                x=alt.X("date:T", title="event date (UTC)"), y=alt.Y("alerts:Q"),
                color=alt.Color("rule:N")).properties(width=640, height=260))
    quality = pd.DataFrame([{"rule": s.rule_id, "measure": name, "value": value}
                            for s in [*report.rules, report.overall]
                            for name, value in (("precision", s.precision), ("recall", s.recall))
                            if value is not None])
    if not quality.empty:
        found["Precision and recall per rule"] = _svg(
            alt.Chart(quality).mark_bar().encode(
                x=alt.X("rule:N", title=None), xOffset="measure:N",
                y=alt.Y("value:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                color="measure:N").properties(width=640, height=260))
    if sweep is not None:
        target, points = sweep
        curve = pd.DataFrame([{"value": str(v), "precision": s.precision or 0.0,
                               "recall": s.recall or 0.0} for v, s in points])
        found[f"Sweep of {target}"] = _svg(
            alt.Chart(curve).mark_line(point=True).encode(
                x=alt.X("recall:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("precision:Q", axis=alt.Axis(format="%"),
                        scale=alt.Scale(domain=[0, 1])),
                tooltip=["value", "precision", "recall"])
            .properties(width=420, height=320)
            + alt.Chart(curve).mark_text(dx=8, align="left").encode(
                x="recall:Q", y="precision:Q", text="value:N"))
    return found


def html_report(report: BacktestReport, rules_file: str, text: str,
                sweep: tuple[str, Sequence[tuple[Any, RuleScore]]] | None = None) -> str:
    """A self-contained HTML page: the tables as text and the charts as SVG."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures = "".join(f'<figure><figcaption>{html.escape(title)}</figcaption>{svg}</figure>'
                      for title, svg in charts(report, sweep).items())
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Paystream backtest {report.first} .. {report.last}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}"
        "pre{background:#f6f8fa;padding:1rem;overflow-x:auto}"
        "figure{margin:2rem 0}figcaption{font-weight:600;margin-bottom:.5rem}</style>"
        "</head><body>"
        f"<h1>Backtest {report.first} .. {report.last}</h1>"
        f"<p>Rules: <code>{html.escape(rules_file)}</code> · made {made}</p>"
        f"<pre>{html.escape(text)}</pre>{figures}</body></html>")
