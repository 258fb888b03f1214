"""How risky_terminal holds on histories other than the one it was fitted to (issue 24).

Generates `paystream history` files for a few seeds and label conditions, imports each into a
lake of its own, then backtests a rules file on the days after a 30-day warm-up; a grid mode
evaluates risky_terminal's thresholds on the features of one feature computation per window.
The README's held-out table comes from (run from the repository, with PAYSTREAM_JARS_DIR set):

    python -m benchmarks.terminal_holdout prepare --root /tmp/holdout --seeds 21,22,24,25
    python -m benchmarks.terminal_holdout grid --root /tmp/holdout --seeds 21,22 \\
        --conditions fast,lognormal7,lognormal15
    python -m benchmarks.terminal_holdout score --root /tmp/holdout --seeds 24,25 \\
        --rules config/rules.yaml --out after.json
    # "before": the same `score` run with PYTHONPATH at the main branch's tree and its rules

Conditions: `fast` (the default labels: 1 day plus an exponential of mean 3), `varied` (the
same labels, --varied-intensity), `lognormal7`, `lognormal15` (lognormal label delays of those
means), `lognormal30u` (mean 30 and a quarter of the frauds never reported; their truth is
loaded dated 2999-12-31, so the backtest scores them and no feature knows them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

START = date(2026, 9, 1)
DAYS, PER_DAY, USERS, MERCHANTS, WARM_UP = 50, 2000, 1500, 300, 30
SIZES = {"small": (DAYS, PER_DAY, USERS, MERCHANTS), "large": (60, 10_000, 8_000, 1_500)}
"""prepare --size: days, payments a day, users, merchants (`large`, the issue's 60 days x
10,000 payments, for benchmarks.model_holdout; its lakes are named SEED-CONDITION-large)."""
SCENARIOS = ("compromised_terminal", "compromised_customer")
CONDITIONS = {
    "fast": {"delay": {}, "varied": False, "unreported": 0.0},
    "varied": {"delay": {}, "varied": True, "unreported": 0.0},
    "lognormal7": {"delay": {"shape": "lognormal", "mean_days": 7.0, "max_days": 120.0},
                   "varied": False, "unreported": 0.0},
    "lognormal15": {"delay": {"shape": "lognormal", "mean_days": 15.0, "max_days": 120.0},
                    "varied": False, "unreported": 0.0},
    "lognormal30u": {"delay": {"shape": "lognormal", "mean_days": 30.0, "max_days": 120.0},
                     "varied": False, "unreported": 0.25},
}


def _say(text: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {text}", flush=True)


def _settings(lake: Path) -> Any:
    from lakehouse.settings import load_settings

    return load_settings(lake_root=lake)


def prepare(root: Path, seeds: list[int], conditions: list[str], size: str = "small") -> None:
    """Generate each seed's histories, import the payments once per payment stream and load
    each condition's labels into a copy of that lake."""
    from lakehouse.history_files import parse_mapping
    from lakehouse.spark import build_spark_session
    from producer.generator import GeneratorOptions
    from producer.history import LOCATION_MAP, LabelDelay, write_history
    from producer.rule_params import load_scenario_params
    from spark_jobs.gold_labels import run_label_file
    from spark_jobs.history_import import ImportRequest, run_import

    spark = build_spark_session(_settings(root / "scratch"), app_name="holdout-prepare")
    try:
        for seed in seeds:
            for condition in conditions:
                spec = CONDITIONS[condition]
                days, per_day, users, merchants = SIZES[size]
                suffix = "" if size == "small" else f"-{size}"
                folder = root / f"{seed}-{condition}{suffix}"
                if (folder / "done").exists():
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                options = GeneratorOptions(
                    seed=seed, fraud_rate=0.01, fault_rate=0.0, scenarios=SCENARIOS,
                    start=datetime.combine(START, datetime.min.time(), UTC),
                    step_seconds=86_400 / per_day, n_users=users, n_merchants=merchants,
                    params=load_scenario_params(), varied_intensity=bool(spec["varied"]))
                delay = LabelDelay(**spec["delay"])  # type: ignore[arg-type]
                summary = write_history(folder / "h.csv", folder / "cb.csv", options,
                                        days * per_day, delay, float(spec["unreported"]),  # type: ignore[arg-type]
                                        folder / "truth.csv")
                _say(f"{seed} {condition}: {summary}")
                base = root / f"{seed}-{'varied' if spec['varied'] else 'plain'}{suffix}-lake"
                if not (base / "imported").exists():
                    t0 = time.monotonic()
                    run_import(spark, _settings(base / "lake"), ImportRequest(
                        folder / "h.csv", parse_mapping(LOCATION_MAP), None, "scenario"))
                    (base / "imported").write_text("")
                    _say(f"imported {base} in {time.monotonic() - t0:.0f} s")
                lake = folder / "lake"
                if lake.exists():
                    shutil.rmtree(lake)
                shutil.copytree(base / "lake", lake)
                settings = _settings(lake)
                run_label_file(spark, settings, folder / "cb.csv", "chargebacks")
                if (folder / "truth.csv").exists():
                    run_label_file(spark, settings, folder / "truth.csv", "truth")
                (folder / "done").write_text("")
                _say(f"{seed} {condition}: labels loaded")
    finally:
        spark.stop()


def score(root: Path, seeds: list[int], conditions: list[str], rules_path: Path,
          out: Path) -> None:
    """Backtest a rules file (with the risk decisions) on each lake's days after warm-up."""
    from lakehouse.risk import load_risk
    from lakehouse.rules import load_rules
    from lakehouse.spark import build_spark_session
    from spark_jobs.backtest import run_backtest

    rules, risk = load_rules(rules_path), load_risk(rules_path)
    first, last = START + timedelta(days=WARM_UP), START + timedelta(days=DAYS - 1)
    results = json.loads(out.read_text()) if out.exists() else {}
    spark = build_spark_session(_settings(root / "scratch"), app_name="holdout-score")
    try:
        for seed, condition in itertools.product(seeds, conditions):
            key = f"{seed}-{condition}"
            if key in results:
                continue
            t0 = time.monotonic()
            report = run_backtest(spark, _settings(root / key / "lake"), rules, first, last,
                                  risk)
            row = {
                "frauds": report.frauds,
                "overall": [report.overall.precision, report.overall.recall,
                            report.overall.alerts, report.overall.true_positives],
                "rules": {s.rule_id: [s.precision, s.recall, s.alerts, s.true_positives]
                          for s in report.rules},
                "scenarios": {s.scenario: [s.frauds, s.caught, s.recall]
                              for s in report.scenarios},
                "decisions": {s.rule_id: [s.precision, s.recall] for s in report.decisions},
            }
            results[key] = row
            out.write_text(json.dumps(results, indent=1, default=str))
            _say(f"{key} ({time.monotonic() - t0:.0f} s): {json.dumps(row, default=str)}")
    finally:
        spark.stop()


def grid(root: Path, seeds: list[int], conditions: list[str], windows: list[int],
         out: Path) -> None:
    """Per lake and window, collect every scored payment's terminal features, truth and
    whether another rule fired; then every (min_frauds, min_fraud_rate, fade_days) of the
    grid scored in Python, as the rule's expression reads them."""
    from pyspark.sql import functions as F

    from lakehouse.rules import BEHAVIOUR_RULES, evaluate_rules, load_rules
    from lakehouse.spark import build_spark_session
    from spark_jobs.backtest import labelled_payments
    from spark_jobs.gold_batch import batch_alerts, featured_payments

    shipped = load_rules()
    first, last = START + timedelta(days=WARM_UP), START + timedelta(days=DAYS - 1)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    cache = root / "grid-rows.json"
    if cache.exists():
        rows = {k: [tuple(r) for r in v] for k, v in json.loads(cache.read_text()).items()}
    spark = build_spark_session(_settings(root / "scratch"), app_name="holdout-grid")
    try:
        for seed, condition, window in itertools.product(seeds, conditions, windows):
            key = f"{seed}-{condition}-w{window}"
            if key in rows:
                continue
            settings = _settings(root / f"{seed}-{condition}" / "lake")
            rules = {**shipped, "risky_terminal": replace(shipped["risky_terminal"], params={
                **shipped["risky_terminal"].params, "window_days": window})}
            others = {k: r for k, r in rules.items() if k != "risky_terminal"}
            featured = featured_payments(spark, settings, first, last, rules).localCheckpoint()
            plain = batch_alerts(spark, settings, first, last,
                                 {k: r for k, r in others.items() if k not in BEHAVIOUR_RULES})
            behavioural = evaluate_rules(featured, {k: r for k, r in others.items()
                                                    if k in BEHAVIOUR_RULES and r.enabled},
                                         F.current_timestamp())
            fired = plain.select("transaction_id").unionByName(
                behavioural.select("transaction_id")).distinct().withColumn("other", F.lit(True))
            truth = labelled_payments(spark, settings, first, last)
            table = (featured.select("transaction_id", "terminal_frauds", "terminal_fraud_rate",
                                     "terminal_days_since_fraud", "terminal_label_lag_days")
                     .join(truth.select("transaction_id", "is_fraud", "scenario"),
                           "transaction_id")
                     .join(fired, "transaction_id", "left"))
            rows[key] = [(r[1], r[2], r[3], r[4], bool(r[5]), r[6], bool(r[7]))
                         for r in table.collect()]
            cache.write_text(json.dumps(rows))
            _say(f"{key}: {len(rows[key])} payments")
    finally:
        spark.stop()
    results = []
    for window in windows:
        for min_frauds, rate, fade in itertools.product(
                (2, 3, 4, 5), (0.03, 0.06, 0.1, 0.15, 0.2, 0.3), (0, 1, 2, 3, 5)):
            per = {}
            for seed, condition in itertools.product(seeds, conditions):
                data = rows[f"{seed}-{condition}-w{window}"]
                tp = fp = frauds = rule_tp = rule_n = 0
                for n, r, since, lag, fraud, _, other in data:
                    hit = (n >= min_frauds and r >= rate and since is not None
                           and since <= lag + fade)
                    frauds += fraud
                    rule_n += hit
                    rule_tp += hit and fraud
                    if hit or other:
                        tp += fraud
                        fp += not fraud
                per[f"{seed}-{condition}"] = {
                    "precision": tp / (tp + fp) if tp + fp else None,
                    "recall": tp / frauds if frauds else None,
                    "rule_precision": rule_tp / rule_n if rule_n else None}
            results.append({"window_days": window, "min_frauds": min_frauds,
                            "min_fraud_rate": rate, "fade_days": fade, "per": per})
    out.write_text(json.dumps(results, indent=1))
    _say(f"grid: {len(results)} combinations written to {out}")
    best = choose(results)
    _say(f"chosen: {json.dumps(best)}")


def choose(results: list[dict[str, Any]], floor: float = 0.7) -> dict[str, Any]:
    """The combination with the highest worst-case recall (then mean recall, then the larger
    min_frauds) whose precision reaches `floor` on every history; the most precise one when
    none does (pure)."""
    def figures(item: dict[str, Any]) -> tuple[float, float, float]:
        per = list(item["per"].values())
        recalls = [v["recall"] or 0.0 for v in per]
        return (min(v["precision"] or 0.0 for v in per), min(recalls),
                sum(recalls) / len(recalls))

    feasible = [r for r in results if figures(r)[0] >= floor]
    if not feasible:
        return max(results, key=lambda r: figures(r)[0])
    return max(feasible, key=lambda r: (figures(r)[1], figures(r)[2], r["min_frauds"]))


def main() -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("prepare", "score", "grid"))
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--seeds", default="21,22,24,25")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--rules", type=Path)
    parser.add_argument("--windows", default="7,10,14,21")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--size", choices=tuple(SIZES), default="small",
                        help="prepare: the histories' size (SIZES)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    conditions = args.conditions.split(",")
    if args.mode == "prepare":
        prepare(args.root, seeds, conditions, args.size)
    elif args.mode == "score":
        score(args.root, seeds, conditions, args.rules, args.out)
    else:
        grid(args.root, seeds, conditions, [int(w) for w in args.windows.split(",")],
             args.out or args.root / "grid.json")


if __name__ == "__main__":
    main()
