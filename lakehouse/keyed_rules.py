"""The per-user rules as pure Python over one user's recent payments: the streaming state's logic.

The stateful query keeps, per user, the payments the rules' windows (plus the
allowed lateness) still need, and calls `judge` with what arrived. A payment
that arrives late re-judges the later payments it affects; the rules are
monotone (more payments only add alerts), so the stream ends with exactly the
alerts the batch rules (lakehouse.rules, Spark SQL) find over the same payments,
which a test holds equal. `UserState` is what the state store keeps: plain
tuples, encoded as one compact JSON string per user (one read, one write).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lakehouse.rules import Rule

CARD_PRESENT = ("pos", "contactless", "atm")


@dataclass(frozen=True, order=True)
class Payment:
    """One accepted payment, as much of it as the user rules read."""

    ms: int
    transaction_id: str
    amount_eur: Decimal
    merchant_id: str
    channel: str
    lat: float
    lon: float
    city: str
    card_id: str = ""  # kept by the merchant state only
    user_id: str = ""  # kept by the merchant state only
    kafka_ms: int = 0  # the payment's Kafka time: the alert latency clock

    def encode(self) -> list[Any]:
        """A compact JSON-able form."""
        return [self.ms, self.transaction_id, str(self.amount_eur), self.merchant_id,
                self.channel, self.lat, self.lon, self.city, self.card_id, self.user_id,
                self.kafka_ms]

    @staticmethod
    def decode(item: list[Any]) -> Payment:
        """The inverse of encode."""
        ms, tx, amount, merchant, channel, lat, lon, city, card, user, kafka_ms = item
        return Payment(int(ms), tx, Decimal(amount), merchant, channel, float(lat), float(lon),
                       city, card, user, int(kafka_ms))


@dataclass
class UserState:
    """What the state store keeps per user: recent payments, seen ids, raised alerts."""

    payments: list[Payment] = field(default_factory=list)
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)  # tx -> (payload hash, ms)
    alerted: set[str] = field(default_factory=set)  # rule_id:transaction_id

    def encode(self) -> str:
        """One JSON string."""
        return json.dumps([[p.encode() for p in self.payments],
                           {tx: list(v) for tx, v in self.seen.items()}, sorted(self.alerted)],
                          separators=(",", ":"))

    @staticmethod
    def decode(text: str | None) -> UserState:
        """The inverse of encode (empty state for None)."""
        if not text:
            return UserState()
        payments, seen, alerted = json.loads(text)
        return UserState([Payment.decode(p) for p in payments],
                         {tx: (h, int(ms)) for tx, (h, ms) in seen.items()}, set(alerted))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, the formula the Spark rule uses."""
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1)
    a = (math.sin(dlat / 2) ** 2
         + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Hit:
    """A payment a rule flags, with the details the alert carries."""

    rule_id: str
    payment: Payment
    details: dict[str, Any]


def _in_range(payments: list[Payment], low_ms: int, high_ms: int) -> list[Payment]:
    keys = [p.ms for p in payments]
    return payments[bisect_left(keys, low_ms):bisect_right(keys, high_ms)]


def velocity(payments: list[Payment], judged: list[Payment], rule: Rule) -> list[Hit]:
    """Payments that make more than N payments within W seconds (range frame, ties included)."""
    limit, window_ms = int(rule.param("max_payments")), int(rule.param("window_seconds")) * 1000
    hits = []
    for p in judged:
        count = len(_in_range(payments, p.ms - window_ms, p.ms))
        if count > limit:
            hits.append(Hit("velocity", p, {"payments_in_window": count, "max_payments": limit,
                                            "window_seconds": window_ms // 1000}))
    return hits


def card_testing(payments: list[Payment], judged: list[Payment], rule: Rule) -> list[Hit]:
    """Tiny online payments that make the user's tiny payments span many distinct merchants."""
    ceiling = Decimal(str(rule.param("max_amount_eur")))
    need = int(rule.param("min_distinct_merchants"))
    window_ms = int(rule.param("window_seconds")) * 1000

    def tiny(p: Payment) -> bool:
        return p.amount_eur <= ceiling and p.channel == "ecommerce"

    hits = []
    for p in judged:
        if not tiny(p):
            continue
        merchants = {q.merchant_id for q in _in_range(payments, p.ms - window_ms, p.ms) if tiny(q)}
        if len(merchants) >= need:
            hits.append(Hit("card_testing", p, {"distinct_merchants": len(merchants),
                                                "max_amount_eur": str(ceiling)}))
    return hits


def impossible_travel(payments: list[Payment], judged: list[Payment], rule: Rule) -> list[Hit]:
    """Card-present payments too far from an earlier card-present one for the time between."""
    max_kmh = float(rule.param("max_speed_kmh"))
    min_km = float(rule.param("min_distance_km"))
    lookback_ms = int(float(rule.param("lookback_hours")) * 3_600_000)
    hits = []
    for p in judged:
        if p.channel not in CARD_PRESENT:
            continue
        for q in _in_range(payments, p.ms - lookback_ms, p.ms):
            if q.channel not in CARD_PRESENT or q.transaction_id == p.transaction_id:
                continue
            distance = haversine_km(q.lat, q.lon, p.lat, p.lon)
            hours = max((p.ms - q.ms) / 3_600_000.0, 1 / 3600)
            if distance >= min_km and distance / hours > max_kmh:
                hits.append(Hit("impossible_travel", p, {
                    "previous_transaction_id": q.transaction_id, "previous_city": q.city,
                    "city": p.city, "distance_km": round(distance, 1),
                    "speed_kmh": round(distance / hours, 1)}))
                break
    return hits


def compromised_merchant(payments: list[Payment], judged: list[Payment], rule: Rule) -> list[Hit]:
    """Payments that make a merchant's elevated tickets span many distinct cards.

    The merchant state keeps only elevated payments (see `elevated_ticket_eur`).
    """
    need = int(rule.param("min_distinct_users"))
    window_ms = int(rule.param("window_seconds")) * 1000
    multiple = Decimal(str(rule.param("ticket_multiple")))
    hits = []
    for p in judged:
        cards = {q.card_id for q in _in_range(payments, p.ms - window_ms, p.ms)}
        if len(cards) >= need:
            hits.append(Hit("compromised_merchant", p, {"distinct_cards": len(cards),
                                                        "ticket_multiple": str(multiple)}))
    return hits


def elevated_ticket_eur(rule: Rule) -> dict[str, Decimal]:
    """MCC -> the amount from which a payment counts as elevated for compromised_merchant."""
    from lakehouse.mcc import merchant_categories

    multiple = Decimal(str(rule.param("ticket_multiple")))
    return {c.mcc: c.typical_ticket_eur * multiple for c in merchant_categories().values()}


RULE_FUNCTIONS = {"velocity": velocity, "card_testing": card_testing,
                  "impossible_travel": impossible_travel}
MERCHANT_RULE_FUNCTIONS = {"compromised_merchant": compromised_merchant}


def horizon_ms(rules: dict[str, Rule]) -> int:
    """How far back any of the given rules looks from a payment it judges."""
    spans = [0]
    for rule in rules.values():
        if not rule.enabled:
            continue
        if "window_seconds" in rule.params:
            spans.append(int(rule.params["window_seconds"]) * 1000)
        if "lookback_hours" in rule.params:
            spans.append(int(float(rule.params["lookback_hours"]) * 3_600_000))
    return max(spans)


def judge(state: UserState, arrived: list[Payment], rules: dict[str, Rule],
          keep_ms: int, functions: dict[str, Any] | None = None) -> list[Hit]:
    """Add accepted payments to a user's state; return the hits not raised before.

    Every payment within the rules' horizon after an arrival is judged again (a late
    payment can complete a later one's window). `keep_ms` bounds the state: payments older
    than the newest minus keep_ms are dropped afterwards.
    """
    if not arrived:
        return []
    for payment in arrived:
        insort(state.payments, payment)
    functions = functions or RULE_FUNCTIONS
    horizon = horizon_ms({k: r for k, r in rules.items() if k in functions})
    arrival_ms = sorted(p.ms for p in arrived)

    def affected(p: Payment) -> bool:  # an arrival at or before p, within the horizon of it
        at = bisect_right(arrival_ms, p.ms)
        return at > 0 and p.ms - arrival_ms[at - 1] <= horizon

    judged = [p for p in state.payments if affected(p)]
    hits = []
    for rule_id, function in functions.items():
        rule = rules.get(rule_id)
        if rule is None or not rule.enabled:
            continue
        for hit in function(state.payments, judged, rule):
            key = f"{rule_id}:{hit.payment.transaction_id}"
            if key not in state.alerted:
                state.alerted.add(key)
                hits.append(hit)
    newest = state.payments[-1].ms
    state.payments = [p for p in state.payments if p.ms >= newest - keep_ms]
    kept = {p.transaction_id for p in state.payments}
    state.alerted = {key for key in state.alerted if key.split(":", 1)[1] in kept}
    return hits


def settle(state: UserState, transaction_id: str, payload_hash: str, ms: int,
           dedupe_ms: int) -> str:
    """`new`, `resend` (same payload) or `conflict` (another payload) for one arriving record.

    A transaction_id counts as seen when an earlier record of this user carried it with an
    event time within dedupe_ms of this one (silver's dedupe asks the same of its table).
    """
    earlier = state.seen.get(transaction_id)
    if earlier is not None and abs(earlier[1] - ms) <= dedupe_ms:
        return "resend" if earlier[0] == payload_hash else "conflict"
    state.seen[transaction_id] = (payload_hash, ms)
    return "new"


def forget_seen(state: UserState, dedupe_ms: int) -> None:
    """Drop seen ids no arriving record can match any more (older than newest - 2 x dedupe)."""
    if not state.payments:
        return
    floor = state.payments[-1].ms - 2 * dedupe_ms
    state.seen = {tx: v for tx, v in state.seen.items() if v[1] >= floor}
