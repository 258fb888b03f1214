"""The FAIR scheduler has one pool per pipeline query: Spark never warns of a missing one."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lakehouse.spark import SCHEDULER_POOLS_FILE
from spark_jobs.pipeline import ALL_QUERIES, LAYERS


def test_every_query_and_layer_has_its_pool() -> None:
    pools = [pool.get("name") for pool in ET.parse(SCHEDULER_POOLS_FILE).getroot().iter("pool")]
    assert sorted(pools) == sorted({*ALL_QUERIES, *LAYERS})
