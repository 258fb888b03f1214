"""A seeded population of users and merchants: who pays, where, how much and when.

Merchants are few and built up front. Users are many (a million by default), so
each one is derived on demand from (seed, index) by a hash: the same seed always
gives the same user, and start-up stays instant however large the population.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import NamedTuple

from lakehouse.mcc import mean_ticket_eur, merchant_categories
from producer.geography import CITIES, City

# MCC -> (description, typical ticket in EUR, sold online, sold in person), from the
# one reference table the compromised-merchant rule reads too.
MERCHANT_CATEGORIES: dict[str, tuple[str, float, bool, bool]] = {
    c.mcc: (c.description, float(c.typical_ticket_eur), c.online, c.in_person)
    for c in merchant_categories().values()
}
_CATEGORY_WEIGHTS = {c.mcc: c.weight for c in merchant_categories().values()}
MEAN_TICKET_EUR = mean_ticket_eur()
"""The typical ticket of a payment in EUR, averaged over categories by how often each is used."""

# Relative activity per hour of day (UTC): a daytime curve with an evening shoulder.
HOURLY_ACTIVITY = (0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.35, 0.7, 0.95, 1.0, 1.05, 1.15,
                   1.3, 1.2, 1.05, 1.0, 1.05, 1.2, 1.3, 1.2, 0.95, 0.7, 0.45, 0.25)
NIGHT_OWL_SHARE = 0.15
NIGHT_OWL_SHIFT_HOURS = 5
_MASK64 = (1 << 64) - 1
_NORMAL = NormalDist()
_CITY_CUM_WEIGHTS = tuple(itertools.accumulate(c.weight for c in CITIES))


def hourly_activity(hour: int, night_owl: bool) -> float:
    """How active a user is at this UTC hour, relative to the day's peak."""
    return HOURLY_ACTIVITY[(hour - NIGHT_OWL_SHIFT_HOURS) % 24 if night_owl else hour]


def splitmix64(value: int) -> int:
    """A fast, well-mixed 64-bit hash (SplitMix64's finaliser)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def is_night_owl(index: int) -> bool:
    """Night owls are a fixed slice of the index space, so each class can be drawn directly."""
    return index % 100 < NIGHT_OWL_SHARE * 100


class User(NamedTuple):
    """A cardholder: home city, one card, a typical spend level and a daily rhythm."""

    number: int
    user_id: str
    card_id: str
    home: City
    spend_factor: float
    night_owl: bool
    activity: float


@dataclass(frozen=True)
class Merchant:
    """A merchant: category code, place, typical ticket in EUR, and whether it sells online."""

    merchant_id: str
    mcc: str
    city: City
    ticket_eur: float
    online: bool
    in_person: bool


@dataclass(frozen=True)
class Population:
    """Users (derived on demand) and merchants, with the lookups the generator needs."""

    seed: int
    n_users: int
    merchants: tuple[Merchant, ...]
    merchants_by_city: dict[str, tuple[Merchant, ...]]
    online_merchants: tuple[Merchant, ...]
    _user_cache: dict[int, User] = field(default_factory=dict, repr=False, compare=False)

    def user(self, index: int) -> User:
        """The user at this index; the same seed always gives the same user."""
        cached = self._user_cache.get(index)
        if cached is None:
            cached = _derive_user(self.seed, index)
            if len(self._user_cache) < 500_000:
                self._user_cache[index] = cached
        return cached

    def random_user(self, rng: random.Random) -> User:
        """Any user, uniformly."""
        return self.user(int(rng.random() * self.n_users))

    def pick_user(self, rng: random.Random, hour: int) -> User:
        """A user drawn by how active each one is at this hour (rejection sampling)."""
        owl_weight = NIGHT_OWL_SHARE * hourly_activity(hour, True)
        day_weight = (1 - NIGHT_OWL_SHARE) * hourly_activity(hour, False)
        owl_slots = int(NIGHT_OWL_SHARE * 100)
        hundreds = max(1, self.n_users // 100)
        random = rng.random
        want_owl = random() * (owl_weight + day_weight) < owl_weight
        low, width = (0, owl_slots) if want_owl else (owl_slots, 100 - owl_slots)
        while True:
            index = (int(random() * hundreds) * 100 + low + int(random() * width)) % self.n_users
            user = self.user(index)
            if random() < user.activity:
                return user


def _derive_user(seed: int, index: int) -> User:
    """Derive a user from two 64-bit hashes of (seed, index)."""
    first = splitmix64(seed * 0x100000001B3 + index)
    second = splitmix64(first ^ 0x5DEECE66D)
    city_u = ((first & 0xFFFF) + 0.5) / 65536.0
    spend_u = (((first >> 16) & 0xFFFFF) + 0.5) / 1048576.0
    activity_u = ((first >> 36) & 0xFFFF) / 65536.0
    home = CITIES[min(bisect.bisect_left(_CITY_CUM_WEIGHTS, city_u * _CITY_CUM_WEIGHTS[-1]),
                      len(CITIES) - 1)]
    return User(
        number=index,
        user_id=f"u-{index:07d}",
        card_id=f"c-{second & 0xFFFFFFFFFFFF:012x}",
        home=home,
        spend_factor=math.exp(0.5 * _NORMAL.inv_cdf(spend_u)),
        night_owl=is_night_owl(index),
        activity=0.25 + 0.75 * activity_u,
    )


def build_population(seed: int, n_users: int = 1_000_000, n_merchants: int = 5_000) -> Population:
    """Build the same population for the same seed and sizes."""
    rng = random.Random(f"merchants-{seed}")
    city_weights = [c.weight for c in CITIES]
    mccs = list(_CATEGORY_WEIGHTS)
    mcc_weights = [_CATEGORY_WEIGHTS[m] for m in mccs]
    merchants = []
    for i in range(n_merchants):
        mcc = rng.choices(mccs, weights=mcc_weights)[0]
        _, ticket, online, in_person = MERCHANT_CATEGORIES[mcc]
        merchants.append(Merchant(
            merchant_id=f"m-{i:06d}",
            mcc=mcc,
            city=rng.choices(CITIES, weights=city_weights)[0],
            ticket_eur=ticket * math.exp(rng.gauss(0.0, 0.3)),
            online=online and (not in_person or rng.random() < 0.3),
            in_person=in_person,
        ))
    by_city: dict[str, list[Merchant]] = {}
    for merchant in merchants:
        if merchant.in_person:
            by_city.setdefault(merchant.city.name, []).append(merchant)
    online_merchants = tuple(m for m in merchants if m.online)
    return Population(seed, n_users, tuple(merchants),
                      {name: tuple(group) for name, group in by_city.items()}, online_merchants)
