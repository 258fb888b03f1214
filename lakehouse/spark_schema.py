"""The Spark schema of the payment event, derived from the JSON Schema (the single source)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.event_contract import event_schema

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType


def _spark_type(node: dict[str, Any]) -> DataType:
    from pyspark.sql import types as T

    kind = str(node.get("type"))
    if kind == "object":
        return T.StructType([
            T.StructField(name, _spark_type(child), nullable=True)
            for name, child in node["properties"].items()
        ])
    return {
        "string": T.StringType(),
        "integer": T.LongType(),
        "number": T.DoubleType(),
        "boolean": T.BooleanType(),
    }[kind]


def event_spark_schema() -> StructType:
    """The event as a Spark struct: JSON strings stay strings (amount is cast later)."""
    from pyspark.sql.types import StructType

    schema = _spark_type(event_schema())
    if not isinstance(schema, StructType):
        raise TypeError("the event JSON Schema must describe an object")
    return schema
