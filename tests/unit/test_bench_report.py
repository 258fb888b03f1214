"""bench e2e's report: each stage's task count and the executors that ran them, and targets."""

from benchmarks.e2e import TARGET_P99_MS, E2EReport


def test_the_report_names_each_stage_s_tasks_and_executors() -> None:
    report = E2EReport(1000, 40, 40_000, 40_000, 500.0, 30.0, 10,
                       {("stateful", "topic"): (900.0, 1_500.0, 1_900.0)}, 20_000.0, 0,
                       (5_000.0, 6_000.0, 3), {"stateful": 950.0},
                       {"stateful": [(6, ["0", "1"]), (6, ["1"]), (2, ["0"])]})
    lines = report.lines()
    assert "stateful       last batch: 3 stages of 6, 6, 2 tasks, on executors 0+1" in lines
    assert any("p99   1,900 ms  (target p99 2,000 ms)" in line for line in lines)
    # PostgreSQL within 500 ms of the topic, as issue 22 asks
    assert TARGET_P99_MS["stateful", "postgres"] - TARGET_P99_MS["stateful", "topic"] == 500
    assert TARGET_P99_MS["instant", "postgres"] - TARGET_P99_MS["instant", "topic"] == 500
