"""An --available-now run starts its queries in waves: the readers of `transactions` at once,
then the sinks of the topics they write, each layer query alone."""

from __future__ import annotations

from lakehouse.catalog import STREAMING_QUERIES
from spark_jobs.pipeline import ALL_QUERIES, LAYERS, catch_up_waves, queries_for


def test_the_whole_pipeline_catches_up_readers_first_then_their_sinks() -> None:
    waves = catch_up_waves(queries_for(LAYERS, ["high_amount", "velocity"]))
    assert waves == [["instant", "stateful", "medallion"],
                     ["alerts_postgres", "alerts_gold", "decisions_postgres"]]
    assert sorted(q for wave in waves for q in wave) == sorted(ALL_QUERIES)


def test_no_sink_runs_beside_a_query_that_writes_the_topic_it_reads() -> None:
    waves = catch_up_waves(list(ALL_QUERIES))
    for number, wave in enumerate(waves):
        later = {q for w in waves[number + 1:] for q in w}
        for name in wave:
            if STREAMING_QUERIES[name].topic != "transactions":
                assert not later & {"instant", "stateful", "medallion"}, name


def test_layer_queries_each_run_alone_in_layer_order() -> None:
    assert catch_up_waves(["bronze", "silver", "gold"]) == [["bronze"], ["silver"], ["gold"]]
    assert catch_up_waves(["medallion"]) == [["medallion"]]
    assert catch_up_waves([]) == []
