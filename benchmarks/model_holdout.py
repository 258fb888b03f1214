"""The learned risk model out of time and on held-out seeds (issue 24, item 5).

On lakes `benchmarks.terminal_holdout prepare` made (50 days from 2026-09-01, labels loaded
with their arrival times), for each lake: train a model on TRAIN with the labels known at
KNOWN_AT, validate on VALID, promote it over the rules alone when better, then backtest the
later TEST days (truth: every label) with the rules alone and with the model, and time the
training. Run from the repository, with PAYSTREAM_JARS_DIR set:

    python -m benchmarks.terminal_holdout prepare --root /tmp/ho --seeds 21,26 \\
        --conditions fast,lognormal7
    python -m benchmarks.model_holdout --root /tmp/ho --lakes 26-fast,26-lognormal7
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

TRAIN = (date(2026, 9, 5), date(2026, 9, 21))
VALID = (date(2026, 9, 22), date(2026, 9, 28))
KNOWN_AT = datetime(2026, 10, 9, tzinfo=UTC)
TEST = (date(2026, 10, 9), date(2026, 10, 20))
"""The model is trained on 2026-10-09 with the labels known then, leaving the 10 days before
it for the labels of the validation days to arrive, and judged on the 12 days after."""


def _say(text: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {text}", flush=True)


def _figures(report: Any) -> dict[str, Any]:
    flagged = next(d for d in report.decisions if d.rule_id == "decision:review+block")
    return {"precision": flagged.precision, "recall": flagged.recall,
            "flagged": flagged.alerts, "frauds": report.frauds,
            "scenarios": {s.scenario: s.flagged_recall for s in report.scenarios}}


def measure(root: Path, lake_name: str) -> dict[str, Any]:
    """Train, promote and backtest on one lake (a copy, so the prepared lake stays clean)."""
    from lakehouse.risk import load_risk
    from lakehouse.rules import load_rules
    from lakehouse.settings import load_settings
    from lakehouse.spark import build_spark_session
    from spark_jobs.backtest import run_backtest
    from spark_jobs.risk_model import live_model
    from spark_jobs.risk_model_training import Periods, promote_if_better, train_model

    lake = root / f"{lake_name}-model" / "lake"
    if lake.exists():
        shutil.rmtree(lake)
    shutil.copytree(root / lake_name / "lake", lake)
    settings = load_settings(lake_root=lake)
    spark = build_spark_session(settings, app_name="model-holdout")
    try:
        began = time.monotonic()
        trained = train_model(spark, settings, Periods(*TRAIN, *VALID, KNOWN_AT), _say)
        seconds = time.monotonic() - began
        verdict = promote_if_better(spark, settings, trained.version, _say)
        rules, risk = load_rules(settings.rules_file), load_risk(settings.rules_file)
        alone = run_backtest(spark, settings, rules, *TEST, risk)
        model = live_model(spark, settings)
        with_model = run_backtest(spark, settings, rules, *TEST, risk, model) if model else None
        return {"lake": lake_name, "train_seconds": round(seconds, 1),
                "train_payments": trained.train_payments, "train_frauds": trained.train_frauds,
                "threshold": trained.threshold.value,
                "valid": {"precision": trained.threshold.precision,
                          "recall": trained.threshold.recall, "auc_pr": trained.auc_pr},
                "status": verdict.status, "rules_alone": _figures(alone),
                "with_model": _figures(with_model) if with_model else None,
                "importances": trained.importances}
    finally:
        spark.stop()


def main() -> None:
    """Measure each lake named and print (or write) the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--lakes", required=True, help="comma list like 26-fast")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [measure(args.root, name) for name in args.lakes.split(",")]
    text = json.dumps(results, indent=2, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
