"""Cities the synthetic population lives and shops in, and great-circle distance."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A city with its country, coordinates, local currency and a population weight."""

    country: str
    name: str
    lat: float
    lon: float
    currency: str
    weight: float


CITIES: tuple[City, ...] = (
    City("DE", "Berlin", 52.5200, 13.4050, "EUR", 8),
    City("DE", "Munich", 48.1372, 11.5756, "EUR", 5),
    City("FR", "Paris", 48.8566, 2.3522, "EUR", 8),
    City("FR", "Lyon", 45.7640, 4.8357, "EUR", 3),
    City("ES", "Madrid", 40.4168, -3.7038, "EUR", 6),
    City("IT", "Milan", 45.4642, 9.1900, "EUR", 5),
    City("NL", "Amsterdam", 52.3676, 4.9041, "EUR", 4),
    City("IE", "Dublin", 53.3498, -6.2603, "EUR", 2),
    City("PT", "Lisbon", 38.7223, -9.1393, "EUR", 2),
    City("GB", "London", 51.5074, -0.1278, "GBP", 8),
    City("GB", "Manchester", 53.4808, -2.2426, "GBP", 3),
    City("CH", "Zurich", 47.3769, 8.5417, "CHF", 2),
    City("SE", "Stockholm", 59.3293, 18.0686, "SEK", 2),
    City("NO", "Oslo", 59.9139, 10.7522, "NOK", 1),
    City("DK", "Copenhagen", 55.6761, 12.5683, "DKK", 1),
    City("PL", "Warsaw", 52.2297, 21.0122, "PLN", 3),
    City("CZ", "Prague", 50.0755, 14.4378, "CZK", 2),
    City("HU", "Budapest", 47.4979, 19.0402, "HUF", 1),
    City("US", "New York", 40.7128, -74.0060, "USD", 4),
    City("US", "San Francisco", 37.7749, -122.4194, "USD", 2),
    City("CA", "Toronto", 43.6532, -79.3832, "CAD", 1),
    City("JP", "Tokyo", 35.6762, 139.6503, "JPY", 1),
    City("SG", "Singapore", 1.3521, 103.8198, "SGD", 1),
    City("AU", "Sydney", -33.8688, 151.2093, "AUD", 1),
    City("BR", "Sao Paulo", -23.5505, -46.6333, "BRL", 1),
    City("IN", "Mumbai", 19.0760, 72.8777, "INR", 1),
    City("AE", "Dubai", 25.2048, 55.2708, "AED", 1),
    City("TR", "Istanbul", 41.0082, 28.9784, "TRY", 1),
)

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))
