"""The category factors learned from the lake (lakehouse.reference_stats), on hand-made daily
totals: the floor of history, the minimum payments, the rounding and the cold-start fallback."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lakehouse.mcc import category_factors
from lakehouse.reference_stats import (
    DEFAULT,
    LEARNED,
    MIN_HISTORY_DAYS,
    MIN_PAYMENTS,
    CategoryFactor,
    DailyTotal,
    cold_start_factors,
    factor_text,
    history_span,
    learn_factors,
)

DAY = date(2026, 10, 1)
DEFAULTS = {"5411": 0.8657, "5732": 5.3866, "5814": 0.2309}


def _days(category: str, days: int, payments_a_day: int, eur_a_payment: str,
          start: date = DAY) -> list[DailyTotal]:
    """`days` consecutive days of `payments_a_day` payments of one amount each."""
    return [DailyTotal(category, start + timedelta(days=n), payments_a_day,
                       Decimal(eur_a_payment) * payments_a_day) for n in range(days)]


def _by_category(factors: list[CategoryFactor]) -> dict[str, CategoryFactor]:
    return {f.merchant_category: f for f in factors}


def test_a_category_s_factor_is_its_mean_over_the_mean_of_every_payment() -> None:
    # 5411: 70 a day at 30 EUR; 5732: 30 a day at 330 EUR; overall mean (2100 + 9900) / 100
    daily = _days("5411", 7, 70, "30.00") + _days("5732", 7, 30, "330.00")
    got = _by_category(learn_factors(daily, DEFAULTS))
    assert got["5411"] == CategoryFactor("5411", 0.25, 490, Decimal("30.00"), LEARNED)
    assert got["5732"] == CategoryFactor("5732", 2.75, 210, Decimal("330.00"), LEARNED)
    # a category of the defaults without payments keeps its default
    assert got["5814"] == CategoryFactor("5814", 0.2309, 0, None, DEFAULT)


def test_factors_are_rounded_half_up_to_four_places() -> None:
    # overall mean 3 EUR: 1 / 3 = 0.33333.. and 5 / 3 = 1.66666..
    daily = _days("5411", 7, 40, "1.00") + _days("5732", 7, 40, "5.00") \
        + _days("5814", 7, 40, "3.00")
    got = _by_category(learn_factors(daily, DEFAULTS))
    assert (got["5411"].factor, got["5732"].factor, got["5814"].factor) == (0.3333, 1.6667, 1.0)
    # ties round half up, not to even: means 2.0001 and 1.9999 over an overall mean of 2
    tie = [DailyTotal("5411", DAY + timedelta(days=n), 100, Decimal("200.01")) for n in range(7)]
    tie += [DailyTotal("5814", DAY + timedelta(days=n), 100, Decimal("199.99")) for n in range(7)]
    got = _by_category(learn_factors(tie, DEFAULTS))
    assert (got["5411"].factor, got["5814"].factor) == (1.0001, 1.0)
    assert factor_text(1.00005) == "1.0001" and factor_text(5.0) == "5.0000"


def test_a_category_below_the_minimum_payments_keeps_its_default() -> None:
    short = MIN_PAYMENTS - 1
    daily = _days("5411", 7, 100, "20.00") + [DailyTotal("5732", DAY, short,
                                                         Decimal("900.00") * short)]
    got = _by_category(learn_factors(daily, DEFAULTS))
    assert got["5732"] == CategoryFactor("5732", 5.3866, short, Decimal("900.00"), DEFAULT)
    assert got["5411"].source == LEARNED
    # the overall mean still counts the short category's payments
    overall = (Decimal("20.00") * 700 + Decimal("900.00") * short) / (700 + short)
    assert got["5411"].factor == float(
        (Decimal("20.00") / overall).quantize(Decimal("0.0001"), ROUND_HALF_UP))
    at_the_minimum = _by_category(learn_factors(
        daily + [DailyTotal("5732", DAY, 1, Decimal("900.00"))], DEFAULTS))
    assert at_the_minimum["5732"].source == LEARNED


def test_below_the_floor_of_history_every_category_keeps_its_default() -> None:
    # plenty of payments, but one day short of the floor, with a gap that spans more days
    days = [DAY + timedelta(days=2 * n) for n in range(MIN_HISTORY_DAYS - 1)]
    daily = [DailyTotal(c, d, 500, Decimal(eur) * 500) for d in days
             for c, eur in (("5411", "10.00"), ("5732", "90.00"))]
    assert history_span(daily).days == MIN_HISTORY_DAYS - 1
    got = learn_factors(daily, DEFAULTS)
    assert [(f.merchant_category, f.factor, f.source) for f in got] == [
        ("5411", 0.8657, DEFAULT), ("5732", 5.3866, DEFAULT), ("5814", 0.2309, DEFAULT)]
    one_more = daily + [DailyTotal("5411", DAY + timedelta(days=1), 1, Decimal("10.00"))]
    assert {f.source for f in learn_factors(one_more, DEFAULTS)
            if f.merchant_category != "5814"} == {LEARNED}


def test_a_category_the_defaults_lack_falls_back_to_one() -> None:
    daily = _days("5411", 7, 100, "20.00") + [DailyTotal("0000", DAY, 3, Decimal("60.00"))]
    got = _by_category(learn_factors(daily, DEFAULTS))
    assert got["0000"] == CategoryFactor("0000", 1.0, 3, Decimal("20.00"), DEFAULT)


def test_no_history_at_all_is_the_cold_start_defaults() -> None:
    assert history_span([]).days == 0 and history_span([]).first is None
    got = learn_factors([], category_factors())
    assert {f.merchant_category: f.factor for f in got} == category_factors()
    assert {f.source for f in got} == {DEFAULT}
    cold = cold_start_factors()
    assert (cold.factors, cold.version, cold.source) == (category_factors(), None, DEFAULT)


def test_the_span_counts_days_with_payments() -> None:
    daily = _days("5411", 3, 5, "1.00") + _days("5732", 2, 5, "1.00", DAY + timedelta(days=9))
    span = history_span(daily + [DailyTotal("5814", DAY + timedelta(days=20), 0, Decimal(0))])
    assert (span.first, span.last, span.days) == (DAY, DAY + timedelta(days=10), 5)
