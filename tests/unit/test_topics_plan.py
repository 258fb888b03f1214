"""The pure topic plan: create, grow, configure, and what it can only report."""

from pathlib import Path

import pytest

from lakehouse import PROJECT_ROOT
from lakehouse.errors import PaystreamError
from lakehouse.topics import TopicSpec, TopicState, load_topic_specs, plan_topic_changes

SPEC = TopicSpec("transactions", 6, 1, {"retention.ms": "604800000"})


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, [("create", True)]),
        (TopicState("transactions", 6, 1, {"retention.ms": "604800000"}), []),
        (TopicState("transactions", 3, 1, {"retention.ms": "604800000"}),
         [("grow_partitions", True)]),
        (TopicState("transactions", 8, 1, {"retention.ms": "604800000"}),
         [("cannot_shrink", False)]),
        (TopicState("transactions", 6, 3, {"retention.ms": "604800000"}),
         [("replication_differs", False)]),
        (TopicState("transactions", 6, 1, {"retention.ms": "1000"}), [("set_config", True)]),
        (TopicState("transactions", 2, 1, {}), [("grow_partitions", True), ("set_config", True)]),
    ],
)
def test_plan(state: TopicState | None, expected: list[tuple[str, bool]]) -> None:
    actual = {} if state is None else {state.name: state}
    changes = plan_topic_changes([SPEC], actual)
    assert [(c.action, c.applies) for c in changes] == expected
    assert all(c.topic == "transactions" for c in changes)


def test_project_topics_file_has_the_six_topics() -> None:
    specs = {s.name: s for s in load_topic_specs(PROJECT_ROOT / "config" / "kafka_topics.yaml")}
    assert set(specs) == {"transactions", "transactions_clean", "alerts", "transactions_dlq",
                          "decisions", "labels"}
    assert all(s.replication_factor == 1 and "retention.ms" in s.config for s in specs.values())
    assert specs["transactions"].config["cleanup.policy"] == "delete"  # defaults merged in


def test_topic_defaults_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "defaults: {replication_factor: 3, partitions: 2, config: {retention.ms: 10}}\n"
        "topics:\n  a: {}\n  b: {partitions: 5, config: {retention.ms: 20}}\n"
    )
    a, b = load_topic_specs(path)
    assert (a.partitions, a.replication_factor, a.config) == (2, 3, {"retention.ms": "10"})
    assert (b.partitions, b.config) == (5, {"retention.ms": "20"})


@pytest.mark.parametrize("content", ["topics: {}\n", "topics:\n  a: {partitions: 0}\n", ": bad: ["])
def test_bad_topics_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(content)
    with pytest.raises(PaystreamError):
        load_topic_specs(path)
