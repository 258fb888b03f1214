"""Create or reconcile the Kafka topics of config/kafka_topics.yaml, then verify them.

Same code as `paystream topics`: partitions are grown and configs set; what
reconcile cannot fix (shrinking partitions, replication factor) fails the
verify task with the topic and the difference.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="kafka_topic_setup",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["paystream", "kafka"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    doc_md=__doc__,
)
def kafka_topic_setup() -> None:
    """Reconcile, then verify."""

    @task
    def reconcile() -> list[str]:
        """Apply the changes the topics file asks for; return them as text."""
        from lakehouse.settings import load_settings
        from lakehouse.topics import reconcile_topics, topic_specs

        settings = load_settings()
        specs = topic_specs(settings)
        changes = reconcile_topics(settings.kafka, specs)
        return [f"{c.topic}: {c.action} ({c.detail})" for c in changes]

    @task
    def verify(applied: list[str]) -> None:
        """Fail when the cluster still differs from the topics file."""
        from lakehouse.settings import load_settings
        from lakehouse.topics import reconcile_topics, topic_specs

        settings = load_settings()
        specs = topic_specs(settings)
        left = reconcile_topics(settings.kafka, specs, dry_run=True)
        if left:
            raise RuntimeError("topics still differ from the file: " + "; ".join(
                f"{c.topic}: {c.action} ({c.detail})" for c in left))

    verify(reconcile())  # type: ignore[arg-type]  # TaskFlow resolves the XComArg at run time


kafka_topic_setup()
