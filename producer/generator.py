"""The synthetic payment stream: legit traffic, labelled fraud scenarios and data faults.

Pure and deterministic: the same options give the same records, byte for byte,
when the clock is virtual. Ground truth travels in headers (`scenario`,
`scenario_id`, `fault`), never in the payload.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from lakehouse.event_contract import contract_limits, format_event_time, required_fields
from lakehouse.fx import eur_per_unit, to_eur
from producer.clock import VirtualClock, WallClock
from producer.geography import CITIES, City, haversine_km
from producer.population import (
    MEAN_TICKET_EUR,
    MERCHANT_CATEGORIES,
    Merchant,
    Population,
    User,
    build_population,
)
from producer.rule_params import ScenarioParams

SCENARIOS = (
    "high_amount",
    "velocity_burst",
    "card_testing",
    "impossible_travel",
    "compromised_merchant",
    "account_takeover",
)
"""The scenarios `paystream produce` mixes in by default: each crosses one rule."""
BEHAVIOUR_SCENARIOS = ("compromised_terminal", "compromised_customer")
"""Scenarios only behaviour catches (lakehouse.behaviour), asked for by name:
compromised_terminal turns every payment at one card-present terminal into fraud for weeks;
compromised_customer has a cloned card spend several times its owner's usual amounts for days."""
ALL_SCENARIOS = SCENARIOS + BEHAVIOUR_SCENARIOS
FAULTS = (
    "malformed_json",
    "missing_field",
    "wrong_type",
    "non_positive_amount",
    "unknown_currency",
    "bad_timestamp",
    "duplicate",
    "late_arrival",
    "oversized",
)
CARD_PRESENT = ("pos", "contactless", "atm")
LEGIT = "legit"


@dataclass(frozen=True, slots=True)
class ProducedRecord:
    """One Kafka record: key, value and headers, plus its labels for counting."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    scenario: str
    fault: str | None = None


@dataclass(frozen=True)
class GeneratorOptions:
    """Everything that shapes the stream; the same options give the same stream."""

    seed: int = 42
    fraud_rate: float = 0.01
    fault_rate: float = 0.0
    scenarios: tuple[str, ...] = SCENARIOS
    faults: tuple[str, ...] = FAULTS
    start: datetime | None = None
    step_seconds: float = 0.001
    n_users: int = 1_000_000
    n_merchants: int = 5_000
    params: ScenarioParams = field(default_factory=ScenarioParams)
    varied_intensity: bool = False
    """A breached terminal makes 20-100 % of its payments fraud (drawn per breach) instead of
    all; a cloned card spends 3-12 times its owner's usual amount (drawn per card) instead of
    5-12 times drawn per payment. Drawn apart: without it the stream is as before, byte for
    byte."""

    def __post_init__(self) -> None:
        unknown = set(self.scenarios) - set(ALL_SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios: {', '.join(sorted(unknown))}")
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        if not 0 <= self.fraud_rate <= 1 or not 0 <= self.fault_rate <= 1:
            raise ValueError("fraud and fault rates must lie between 0 and 1")
        if self.fraud_rate + self.fault_rate > 1:
            raise ValueError("fraud rate plus fault rate must not exceed 1")


def cents_text(cents: int) -> str:
    """Integer cents as a decimal string: 123456 -> '1234.56', -5 -> '-0.05'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def encode(event: dict[str, object]) -> bytes:
    """Compact JSON in a stable key order."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def encode_contract_event(event: dict[str, object]) -> bytes:
    """The same bytes as `encode` for a well-formed event, about four times faster.

    Every string in a generated event is plain ASCII without quotes or
    backslashes (ids, codes, city names), so no JSON escaping is needed; a unit
    test checks byte equality with `encode`.
    """
    loc = event["location"]
    return (
        f'{{"schema_version":{event["schema_version"]},"transaction_id":"{event["transaction_id"]}",'
        f'"user_id":"{event["user_id"]}","card_id":"{event["card_id"]}",'
        f'"amount":"{event["amount"]}","currency":"{event["currency"]}",'
        f'"merchant_id":"{event["merchant_id"]}","merchant_category":"{event["merchant_category"]}",'
        f'"timestamp":"{event["timestamp"]}","location":{{"country":"{loc["country"]}",'  # type: ignore[index]
        f'"city":"{loc["city"]}","lat":{loc["lat"]!r},"lon":{loc["lon"]!r}}},'  # type: ignore[index]
        f'"channel":"{event["channel"]}"}}'
    ).encode()


@dataclass(order=True)
class _Pending:
    due: datetime
    order: int
    record: ProducedRecord = field(compare=False)


class PaymentStream:
    """Iterates over ProducedRecords: legit traffic with fraud and faults mixed in."""

    def __init__(self, options: GeneratorOptions, population: Population | None = None) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.population = population or build_population(
            options.seed, options.n_users, options.n_merchants)
        self.clock = (VirtualClock(options.start, options.step_seconds)
                      if options.start is not None else WallClock())
        self.params = options.params
        self._rates = eur_per_unit()
        self._pending: list[_Pending] = []
        self._order = itertools.count()
        self._scenario_ids = itertools.count(1)
        self._recent_legit: deque[ProducedRecord] = deque(maxlen=1024)
        self._compromised: dict[str, tuple[datetime, str]] = {}  # merchant -> (until, id)
        self._intensity: dict[str, float] = {}  # merchant -> share of fraud (varied_intensity)
        self._varied = random.Random(f"intensity-{options.seed}")
        self._thinned = False
        self._scenario_id = ""
        self._last_paid = array("d", [-math.inf]) * self.population.n_users
        # A legit user never pays more than `velocity_max_payments` times per window.
        self._legit_gap_s = self.params.velocity_window_s / self.params.velocity_max_payments + 1
        self._legit_cap_eur = float(self.params.high_amount_eur) * 0.6
        self._far_cities = {
            c.name: tuple(o for o in CITIES if haversine_km(c.lat, c.lon, o.lat, o.lon) >= max(
                1500.0, self.params.travel_min_distance_km * 2))
            for c in CITIES
        }

    # ---- the stream ---------------------------------------------------------------

    def __iter__(self) -> Iterator[ProducedRecord]:
        options = self.options
        fraud, fault_edge = options.fraud_rate, options.fraud_rate + options.fault_rate
        scenarios, faults = options.scenarios, options.faults
        random_ = self.rng.random
        for index in itertools.count():
            now = self.clock.now(index)
            draw = random_()
            if draw < fraud and scenarios:
                yield self._fraud(now)
            elif draw < fault_edge and faults:
                yield self._fault(now)
            else:
                yield self._legit(now)

    # ---- building blocks ----------------------------------------------------------

    def _amount_cents(self, amount_eur: float, currency: str) -> int:
        local = amount_eur / float(self._rates[currency])
        return max(1, round(local * 100))

    def _event(self, moment: datetime, user: User, merchant: Merchant, amount_eur: float,
               channel: str, place: City) -> dict[str, object]:
        currency = place.currency if channel in CARD_PRESENT else merchant.city.currency
        return {
            "schema_version": 1,
            "transaction_id": f"tx-{self.rng.getrandbits(64):016x}",
            "user_id": user.user_id,
            "card_id": user.card_id,
            "amount": cents_text(self._amount_cents(amount_eur, currency)),
            "currency": currency,
            "merchant_id": merchant.merchant_id,
            "merchant_category": merchant.mcc,
            "timestamp": format_event_time(moment),
            "location": {"country": place.country, "city": place.name,
                         "lat": place.lat, "lon": place.lon},
            "channel": channel,
        }

    def _record(self, event: dict[str, object], scenario: str, scenario_id: str | None = None,
                fault: str | None = None, value: bytes | None = None) -> ProducedRecord:
        headers = [("scenario", scenario.encode())]
        if scenario_id is not None:
            headers.append(("scenario_id", scenario_id.encode()))
        if fault is not None:
            headers.append(("fault", fault.encode()))
        return ProducedRecord(str(event["user_id"]).encode(),
                              value if value is not None else encode_contract_event(event),
                              headers, scenario, fault)

    def _merchant_near(self, city: City, online: bool = False) -> Merchant:
        rng, population = self.rng, self.population
        if online and population.online_merchants:
            return rng.choice(population.online_merchants)
        local = population.merchants_by_city.get(city.name)
        if local:
            return rng.choice(local)
        return rng.choice(population.merchants)

    def _typical_eur(self, user: User, merchant: Merchant) -> float:
        return merchant.ticket_eur * user.spend_factor * math.exp(self.rng.gauss(0.0, 0.45))

    def _pick_legit_user(self, now: datetime) -> User:
        """An active user who has not paid within the legit gap (legit never trips velocity)."""
        population, last, gap = self.population, self._last_paid, self._legit_gap_s
        seconds = now.timestamp()
        for _ in range(64):
            user = population.pick_user(self.rng, now.hour)
            if seconds - last[user.number] >= gap:
                last[user.number] = seconds
                return user
        raise RuntimeError(
            "population too small for this event rate: raise n_users or lower the rate")

    def _legit_event(self, now: datetime) -> dict[str, object]:
        user = self._pick_legit_user(now)
        online = self.rng.random() < 0.18
        merchant = self._merchant_near(user.home, online=online)
        if online or not merchant.in_person:
            channel = "ecommerce"
        elif merchant.mcc == "6011":
            channel = "atm"
        else:
            channel = "contactless" if self.rng.random() < 0.55 else "pos"
        amount = min(self._typical_eur(user, merchant), self._legit_cap_eur)
        return self._event(now, user, merchant, amount, channel, user.home)

    def _legit(self, now: datetime) -> ProducedRecord:
        event = self._legit_event(now)
        if self._compromised:
            breach = self._compromised.get(str(event["merchant_id"]))
            if breach is not None and now < breach[0] and (
                    not self.options.varied_intensity
                    or self._varied.random() < self._intensity[str(event["merchant_id"])]):
                return self._record(event, "compromised_terminal", breach[1])
        record = self._record(event, LEGIT)
        self._recent_legit.append(record)
        return record

    # ---- fraud scenarios ----------------------------------------------------------

    def _fraud(self, now: datetime) -> ProducedRecord:
        if self._pending and self._pending[0].due <= now:
            return heapq.heappop(self._pending).record
        scenario = self.rng.choice(self.options.scenarios)
        scenario_id = f"{scenario}-{next(self._scenario_ids)}"
        self._scenario_id = scenario_id
        self._thinned = False
        planned = getattr(self, f"_plan_{scenario}")(now)
        first_time, first_event = planned[0]
        if self._thinned:  # varied_intensity: this payment at a breached terminal is honest
            return self._record(first_event, LEGIT)
        for moment, event in planned[1:]:
            record = self._record(event, scenario, scenario_id)
            heapq.heappush(self._pending, _Pending(moment, next(self._order), record))
        return self._record(first_event, scenario, self._scenario_id)

    def _offsets(self, count: int, span_s: float) -> list[float]:
        """`count` seconds from 0 within span_s, sorted: when a scenario's payments fall."""
        return sorted([0.0] + [self.rng.uniform(0, span_s) for _ in range(count - 1)])

    def _plan_high_amount(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        rng, params = self.rng, self.params
        user = self.population.random_user(rng)
        merchant = self._merchant_near(user.home)
        floor = float(params.high_amount_eur) * rng.uniform(1.2, 4.0)
        amount = max(floor, self._typical_eur(user, merchant) * 30)
        channel = "ecommerce" if not merchant.in_person else "pos"
        return [(now, self._event(now, user, merchant, amount, channel, user.home))]

    def _plan_velocity_burst(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        rng, params = self.rng, self.params
        user = self.population.random_user(rng)
        count = params.velocity_max_payments + rng.randint(1, 4)
        span = params.velocity_window_s * 0.8
        offsets = self._offsets(count, span)
        plan = []
        for offset in offsets:
            moment = now + timedelta(seconds=offset)
            merchant = self._merchant_near(user.home)
            amount = min(self._typical_eur(user, merchant), self._legit_cap_eur)
            plan.append((moment, self._event(moment, user, merchant, amount, "contactless",
                                             user.home)))
        return plan

    def _plan_card_testing(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        rng, params = self.rng, self.params
        user = self.population.random_user(rng)
        count = params.card_testing_min_merchants + rng.randint(1, 6)
        online = self.population.online_merchants or self.population.merchants
        merchants = rng.sample(online, k=min(count, len(online)))
        span = params.card_testing_window_s * 0.6
        offsets = sorted([0.0] + [rng.uniform(0, span) for _ in range(len(merchants) - 1)])
        plan = []
        ceiling_eur = float(params.card_testing_max_eur) * 0.95
        for offset, merchant in zip(offsets, merchants, strict=True):
            moment = now + timedelta(seconds=offset)
            currency = merchant.city.currency
            rate = float(self._rates[currency])
            amount_eur = rng.uniform(0.10, ceiling_eur)
            # Stay under the ceiling after rounding to the local currency's cents.
            amount_eur = min(amount_eur, (math.floor(ceiling_eur / rate * 100) / 100) * rate)
            plan.append((moment, self._event(moment, user, merchant, amount_eur, "ecommerce",
                                             user.home)))
        return plan

    def _plan_impossible_travel(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        rng, params = self.rng, self.params
        user = self.population.random_user(rng)
        far = rng.choice(self._far_cities[user.home.name])
        distance = haversine_km(user.home.lat, user.home.lon, far.lat, far.lon)
        fastest_hours = distance / (params.travel_max_speed_kmh * 2)
        gap = max(60.0, rng.uniform(0.2, 1.0) * fastest_hours * 3600)
        second = now + timedelta(seconds=gap)
        first_merchant = self._merchant_near(user.home)
        second_merchant = self._merchant_near(far)
        return [
            (now, self._event(now, user, first_merchant,
                              min(self._typical_eur(user, first_merchant), self._legit_cap_eur),
                              "pos", user.home)),
            (second, self._event(second, user, second_merchant,
                                 min(self._typical_eur(user, second_merchant), self._legit_cap_eur),
                                 "pos", far)),
        ]

    def _plan_compromised_merchant(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        """An online shop skimmed (e-skimming): many cards pay far above its category's ticket."""
        rng, params = self.rng, self.params
        shops = self.population.online_merchants or self.population.merchants
        merchant = rng.choice(shops)
        count = params.merchant_min_users + rng.randint(2, 8)
        users = [self.population.user(i)
                 for i in rng.sample(range(self.population.n_users), count)]
        span = params.merchant_window_s * 0.8
        offsets = self._offsets(count, span)
        category_ticket = MERCHANT_CATEGORIES[merchant.mcc][1]
        plan = []
        for offset, user in zip(offsets, users, strict=True):
            moment = now + timedelta(seconds=offset)
            amount = min(category_ticket * rng.uniform(params.merchant_ticket_multiple * 1.25,
                                                       params.merchant_ticket_multiple * 2.5),
                         self._legit_cap_eur)
            plan.append((moment, self._event(moment, user, merchant, amount, "ecommerce",
                                             user.home)))
        return plan

    def _plan_account_takeover(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        rng = self.rng
        user = self.population.random_user(rng)
        count = rng.randint(6, 12)
        span = rng.uniform(1, 3) * 86_400
        offsets = self._offsets(count, span)
        plan = []
        for offset in offsets:
            moment = now + timedelta(seconds=offset)
            merchant = self._merchant_near(user.home, online=True)
            amount = min(self._typical_eur(user, merchant) * rng.uniform(4, 10),
                         float(self.params.high_amount_eur) * 0.9)
            plan.append((moment, self._event(moment, user, merchant, amount, "ecommerce",
                                             user.home)))
        return plan

    def _plan_compromised_terminal(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        """A skimmed card-present terminal: every payment there is fraud for 2 to 6 weeks (with
        varied_intensity, each payment there is fraud with the breach's drawn share, 20 to
        100 %, this one too). At most one merchant in a hundred is breached at once; past
        that, this fraud joins a breach."""
        rng, population = self.rng, self.population
        active = [m for m, (until, _) in self._compromised.items() if now < until]
        terminals = [m for m in population.merchants if m.in_person]
        if len(active) >= max(1, len(population.merchants) // 100):
            merchant_id = rng.choice(sorted(active))
            merchant = next(m for m in terminals if m.merchant_id == merchant_id)
            self._scenario_id = self._compromised[merchant_id][1]
        else:
            merchant = rng.choice([m for m in terminals if m.merchant_id not in active])
            until = now + timedelta(days=rng.uniform(14, 42))
            self._compromised[merchant.merchant_id] = (until, self._scenario_id)
            if self.options.varied_intensity:
                self._intensity[merchant.merchant_id] = self._varied.uniform(0.2, 1.0)
        if self.options.varied_intensity:
            self._thinned = self._varied.random() >= self._intensity[merchant.merchant_id]
        local = [self.population.user(i) for i in rng.sample(range(population.n_users), 32)]
        user = next((u for u in local if u.home.name == merchant.city.name), local[0])
        amount = min(self._typical_eur(user, merchant), self._legit_cap_eur)
        channel = "atm" if merchant.mcc == "6011" else "pos"
        return [(now, self._event(now, user, merchant, amount, channel, merchant.city))]

    def _plan_compromised_customer(self, now: datetime) -> list[tuple[datetime, dict[str, object]]]:
        """A cloned card: for 1 to 6 days its payments, at the kind of merchants its owner uses,
        are 5 to 12 times the owner's usual amount (the mean ticket of the categories, scaled
        by the owner's spend level), below the high_amount threshold; with varied_intensity,
        one multiple of 3 to 12 drawn for the card, each payment within 10 % of it."""
        rng = self.rng
        user = self._pick_legit_user(now)
        multiple = self._varied.uniform(3, 12) if self.options.varied_intensity else 0.0
        count = rng.randint(3, 8)
        span = rng.uniform(1, 6) * 86_400
        offsets = self._offsets(count, span)
        plan = []
        for offset in offsets:
            moment = now + timedelta(seconds=offset)
            online = rng.random() < 0.5
            merchant = self._merchant_near(user.home, online=online)
            channel = "ecommerce" if online or not merchant.in_person else "pos"
            times = rng.uniform(5, 12)
            if multiple:
                times = multiple * self._varied.uniform(0.9, 1.1)
            amount = min(MEAN_TICKET_EUR * user.spend_factor * times,
                         float(self.params.high_amount_eur) * 0.9)
            plan.append((moment, self._event(moment, user, merchant, amount, channel,
                                             user.home)))
        return plan

    # ---- data faults --------------------------------------------------------------

    def _fault(self, now: datetime) -> ProducedRecord:
        kind = self.rng.choice(self.options.faults)
        if kind == "duplicate":
            if not self._recent_legit:
                return self._legit(now)
            original = self.rng.choice(self._recent_legit)
            return ProducedRecord(original.key, original.value,
                                  [("scenario", b"legit"), ("fault", b"duplicate")],
                                  LEGIT, "duplicate")
        event = self._legit_event(now)
        fault: Callable[..., ProducedRecord] = getattr(
            self, f"_fault_{kind}")
        return fault(event, now)

    def _fault_malformed_json(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        raw = encode(event)
        cut = self.rng.randrange(1, len(raw) - 1)
        return self._record(event, LEGIT, fault="malformed_json", value=raw[:cut])

    def _fault_missing_field(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        missing = self.rng.choice([f for f in required_fields() if f != "user_id"])
        broken = {k: v for k, v in event.items() if k != missing}
        return self._record(event, LEGIT, fault="missing_field", value=encode(broken))

    def _fault_wrong_type(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        broken = dict(event)
        choice = self.rng.randrange(4)
        if choice == 0:
            broken["amount"] = float(str(event["amount"]))
        elif choice == 1:
            broken["schema_version"] = "1"
        elif choice == 2:
            broken["location"] = f"{event['location']}"
        else:
            location = dict(event["location"])  # type: ignore[call-overload]
            location["lat"] = str(location["lat"])
            broken["location"] = location
        return self._record(event, LEGIT, fault="wrong_type", value=encode(broken))

    def _fault_non_positive_amount(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        broken = dict(event)
        broken["amount"] = "0.00" if self.rng.random() < 0.4 else f"-{event['amount']}"
        return self._record(event, LEGIT, fault="non_positive_amount", value=encode(broken))

    def _fault_unknown_currency(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        broken = dict(event)
        broken["currency"] = self.rng.choice(["XXX", "ZZZ", "ABC", "XBT", "usd", "EURO"])
        return self._record(event, LEGIT, fault="unknown_currency", value=encode(broken))

    def _fault_bad_timestamp(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        broken = dict(event)
        # In the future only when events are sent as they are made (the wall clock): the
        # contract judges at the Kafka time, and a virtual clock's "now" may lag that by days,
        # so "an hour ahead of the event" could be valid when sent. Too old is too old at any
        # send time after the event's (and up to 30 days before it).
        if self.rng.random() < 0.5 and isinstance(self.clock, WallClock):
            moment = now + timedelta(hours=self.rng.uniform(1, 24 * 30))
        else:
            moment = now - timedelta(days=self.rng.uniform(60, 365 * 20))
        broken["timestamp"] = format_event_time(moment)
        return self._record(event, LEGIT, fault="bad_timestamp", value=encode(broken))

    def _fault_late_arrival(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        late = dict(event)
        late["timestamp"] = format_event_time(now - timedelta(seconds=self.rng.uniform(120, 7200)))
        return self._record(late, LEGIT, fault="late_arrival")

    def _fault_oversized(self, event: dict[str, object], now: datetime) -> ProducedRecord:
        broken = dict(event)
        limit = contract_limits()["max_event_bytes"]
        broken["memo"] = "x" * (limit + self.rng.randrange(1024, 4 * limit))
        return self._record(event, LEGIT, fault="oversized", value=encode(broken))


def amount_eur_of(event: dict[str, object]) -> Decimal:
    """The EUR value of an event's amount, by the reference FX table."""
    return to_eur(Decimal(str(event["amount"])), str(event["currency"]))
