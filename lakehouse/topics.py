"""Create or reconcile the Kafka topics listed in config/kafka_topics.yaml.

`plan_topic_changes` is pure: desired specs plus the cluster's current state in,
a list of changes out. `reconcile_topics` does the I/O with kafka-python's admin
client and applies the plan. Running it twice is a no-op the second time. With
`manage_topics` false (Event Hubs) it only lists and describes topics, the calls
Event Hubs supports (it has no DescribeConfigs), and reports the differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lakehouse.errors import PaystreamError
from lakehouse.settings import KafkaSettings, Settings
from lakehouse.stores.kafka import admin_client

Action = Literal["create", "grow_partitions", "set_config", "cannot_shrink", "replication_differs"]
APPLIED_ACTIONS: frozenset[str] = frozenset({"create", "grow_partitions", "set_config"})


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the config file asks for it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster has it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicChange:
    """One difference between the config file and the cluster, and what to do about it."""

    topic: str
    action: Action
    detail: str

    @property
    def applies(self) -> bool:
        """True for changes that reconcile performs; False for ones it can only report."""
        return self.action in APPLIED_ACTIONS


def load_topic_specs(path: Path, replication_factor: int | None = None,
                     min_insync_replicas: int | None = None) -> list[TopicSpec]:
    """Read the topics file; defaults apply to every topic and per-topic keys win; the two
    overrides (a profile's, e.g. the cluster's 3 and 2) win over both."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PaystreamError(f"cannot read topics file {path}: {error}") from error
    defaults = document.get("defaults", {})
    specs = []
    for name, entry in (document.get("topics") or {}).items():
        entry = entry or {}
        config = {**defaults.get("config", {}), **entry.get("config", {})}
        partitions = int(entry.get("partitions", defaults.get("partitions", 1)))
        replication = replication_factor or int(
            entry.get("replication_factor", defaults.get("replication_factor", 1)))
        if min_insync_replicas is not None:
            config["min.insync.replicas"] = min_insync_replicas
        if partitions < 1 or replication < 1:
            raise PaystreamError(f"topic {name} in {path}: partitions and replication must be >= 1")
        specs.append(TopicSpec(name, partitions, replication,
                               {str(k): str(v) for k, v in config.items()}))
    if not specs:
        raise PaystreamError(f"{path} lists no topics")
    return specs


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of these settings: the topics file with the profile's overrides."""
    kafka = settings.kafka
    return load_topic_specs(kafka.topics_file, kafka.replication_factor, kafka.min_insync_replicas)


def plan_topic_changes(specs: list[TopicSpec], actual: dict[str, TopicState]) -> list[TopicChange]:
    """What must change so that the cluster matches the specs (pure)."""
    changes: list[TopicChange] = []
    for spec in specs:
        state = actual.get(spec.name)
        if state is None:
            changes.append(TopicChange(
                spec.name, "create",
                f"{spec.partitions} partitions, replication {spec.replication_factor}"))
            continue
        if state.partitions < spec.partitions:
            changes.append(TopicChange(
                spec.name, "grow_partitions", f"{state.partitions} -> {spec.partitions}"))
        elif state.partitions > spec.partitions:
            changes.append(TopicChange(
                spec.name, "cannot_shrink",
                f"has {state.partitions} partitions, config asks {spec.partitions}; "
                "Kafka cannot remove partitions"))
        if state.replication_factor != spec.replication_factor:
            changes.append(TopicChange(
                spec.name, "replication_differs",
                f"has replication {state.replication_factor}, config asks "
                f"{spec.replication_factor}; change it with a partition reassignment"))
        for key, value in sorted(spec.config.items()):
            if state.config.get(key) != value:
                changes.append(TopicChange(
                    spec.name, "set_config", f"{key}: {state.config.get(key)} -> {value}"))
    return changes


UNMANAGED_VISIBLE: frozenset[str] = frozenset({"create", "grow_partitions", "cannot_shrink"})
"""What list/describe topics can show without DescribeConfigs: presence and partitions."""


def plan_unmanaged_differences(specs: list[TopicSpec],
                                actual: dict[str, TopicState]) -> list[TopicChange]:
    """What differs when the topics belong to a template: the plan's changes that listing and
    describing topics can see (a missing topic, another partition count); pure."""
    return [change for change in plan_topic_changes(specs, actual)
            if change.action in UNMANAGED_VISIBLE]


def describe_topics(admin: Any, names: list[str],
                    with_configs: bool = True) -> dict[str, TopicState]:
    """The current state of the named topics that exist; `with_configs=False` uses only
    ListTopics and Metadata (no DescribeConfigs, which Event Hubs lacks) and leaves config
    empty."""
    existing = set(admin.list_topics()) & set(names)
    if not existing:
        return {}
    states: dict[str, TopicState] = {}
    metadata = {t["name"]: t for t in admin.describe_topics(sorted(existing))}
    configs: dict[str, dict[str, dict[str, str]]] = {}
    if with_configs:
        from kafka.admin import ConfigResource, ConfigResourceType

        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in sorted(existing)]
        configs = admin.describe_configs(resources, config_filter="all")["topic"]
    for name in sorted(existing):
        partitions = metadata[name]["partitions"]
        replication = max((len(p["replica_nodes"]) for p in partitions), default=0)
        config = {key: entry["value"] for key, entry in configs.get(name, {}).items()}
        states[name] = TopicState(name, len(partitions), replication, config)
    return states


def missing_topic_names(specs: list[TopicSpec], existing: set[str]) -> list[str]:
    """The specs' topic names that are not among the existing ones, in the specs' order (pure)."""
    return [spec.name for spec in specs if spec.name not in existing]


def require_topics(kafka: KafkaSettings, specs: list[TopicSpec]) -> None:
    """Fail in one line when a topic of the specs is missing; lists topics only (a call every
    Kafka endpoint, Event Hubs included, supports)."""
    from kafka.errors import KafkaError

    admin = admin_client(kafka)
    try:
        missing = missing_topic_names(specs, set(admin.list_topics()))
    except KafkaError as error:
        raise PaystreamError(
            f"listing topics on {kafka.bootstrap_servers} failed: {error}") from error
    finally:
        admin.close()
    if missing:
        raise PaystreamError(
            f"topics missing on {kafka.bootstrap_servers}: {', '.join(missing)}: create them "
            "with `paystream topics` (or the platform's template)")


def apply_changes(admin: Any, specs: list[TopicSpec], changes: list[TopicChange]) -> None:
    """Perform the creatable part of a plan against the cluster."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

    by_name = {spec.name: spec for spec in specs}
    creates = [by_name[c.topic] for c in changes if c.action == "create"]
    if creates:
        admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
             for s in creates],
            wait_for_metadata=True,
        )
    grows = {c.topic: by_name[c.topic].partitions for c in changes if c.action == "grow_partitions"}
    if grows:
        admin.create_partitions(grows)
    to_configure = sorted({c.topic for c in changes if c.action == "set_config"})
    if to_configure:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(by_name[name].config))
             for name in to_configure],
            incremental=True,
        )


def reconcile_with(admin: Any, kafka: KafkaSettings, specs: list[TopicSpec],
                   dry_run: bool = False) -> list[TopicChange]:
    """`reconcile_topics` on an open admin client; unmanaged topics are only listed and
    described (partition counts), a missing one is an error."""
    names = [spec.name for spec in specs]
    if kafka.manage_topics:
        changes = plan_topic_changes(specs, describe_topics(admin, names))
        if not dry_run:
            apply_changes(admin, specs, changes)
        return changes
    changes = plan_unmanaged_differences(
        specs, describe_topics(admin, names, with_configs=False))
    missing = [change.topic for change in changes if change.action == "create"]
    if missing:
        raise PaystreamError(
            f"topics missing on {kafka.bootstrap_servers}: {', '.join(missing)} "
            "(PAYSTREAM_KAFKA__MANAGE_TOPICS is false: create them with the "
            "platform's template)")
    return changes


def reconcile_topics(
    kafka: KafkaSettings, specs: list[TopicSpec], dry_run: bool = False
) -> list[TopicChange]:
    """Bring the cluster's topics in line with the specs; return the changes found.

    With `manage_topics` off (topics owned by a template, as on Event Hubs) nothing is
    changed, and a missing topic is an error.
    """
    from kafka.errors import KafkaError

    admin = admin_client(kafka)
    try:
        return reconcile_with(admin, kafka, specs, dry_run)
    except KafkaError as error:
        raise PaystreamError(
            f"reconciling topics on {kafka.bootstrap_servers} failed: {error}") from error
    finally:
        admin.close()
