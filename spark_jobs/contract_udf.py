"""The contract check as a vectorised Spark UDF (kept apart: pandas UDFs need real type hints)."""

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType


@F.pandas_udf(ArrayType(StringType()))  # type: ignore[call-overload]
def _contract_reasons(values: pd.Series, millis: pd.Series) -> pd.Series:
    from datetime import UTC, datetime

    from lakehouse.event_contract import contract_violations

    out = []
    for raw, ms in zip(values, millis, strict=True):
        now = datetime.fromtimestamp(ms / 1000, tz=UTC)
        codes = [v.reason for v in contract_violations(bytes(raw), now)]
        out.append(list(dict.fromkeys(codes)))
    return pd.Series(out)


def contract_reasons(value: Column, kafka_ms: Column) -> Column:
    """An array of contract reason codes per record (empty when valid), judged at Kafka time."""
    return _contract_reasons(value, kafka_ms)  # type: ignore[no-any-return]
