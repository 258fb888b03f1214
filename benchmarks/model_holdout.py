"""The learned risk model out of time and on held-out seeds (issue 24, item 5).

On lakes `benchmarks.terminal_holdout prepare` made (labels loaded with their arrival times),
for each lake: the model is trained on the day the last TEST_DAYS days begin, with the labels
known then (spark_jobs.risk_model_training.default_periods: the MATURITY_DAYS before that day
left for labels to arrive, VALID_DAYS of validation before them, training on every day
before), promoted over the rules alone when better on the validation days, and the TEST days
(truth: every label) are backtested with the rules alone and with it; the training is timed.
Run from the repository, with PAYSTREAM_JARS_DIR set:

    python -m benchmarks.terminal_holdout prepare --root /tmp/ho --seeds 21,27 \\
        --conditions lognormal7 --size large
    python -m benchmarks.model_holdout --root /tmp/ho --lakes 27-lognormal7-large
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

TEST_DAYS, MATURITY_DAYS, VALID_DAYS = 11, 9, 7


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
    from spark_jobs.backtest import run_backtest, silver_range
    from spark_jobs.risk_model import live_model
    from spark_jobs.risk_model_training import default_periods, promote_if_better, train_model

    lake = root / f"{lake_name}-model" / "lake"
    if lake.exists():
        shutil.rmtree(lake)
    shutil.copytree(root / lake_name / "lake", lake)
    settings = load_settings(lake_root=lake)
    spark = build_spark_session(settings, app_name="model-holdout")
    try:
        first, last = silver_range(spark, settings)
        test = (last - timedelta(days=TEST_DAYS - 1), last)
        periods = default_periods(first, test[0] - timedelta(days=1),
                                  datetime.combine(test[0], clock_time(), UTC), MATURITY_DAYS,
                                  VALID_DAYS, train_days=(last - first).days)
        began = time.monotonic()
        trained = train_model(spark, settings, periods, _say)
        seconds = time.monotonic() - began
        verdict = promote_if_better(spark, settings, trained.version, _say)
        rules, risk = load_rules(settings.rules_file), load_risk(settings.rules_file)
        alone = run_backtest(spark, settings, rules, *test, risk)
        model = live_model(spark, settings)
        with_model = run_backtest(spark, settings, rules, *test, risk, model) if model else None
        return {"lake": lake_name, "periods": periods, "test": test,
                "train_seconds": round(seconds, 1),
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
