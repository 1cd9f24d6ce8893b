"""Electricity prices: sources (Octopus, aWATTar, ComEd, Tibber, HTTP JSON, fixed/time-of-use), the service, and pure helpers.

``PriceService`` is what the runtime builds; ``StaticPrices`` offers the same questions
(current, cheapest, slots) over a given list of slots, for benches and tests.
"""

from .config import PricesConfig
from .model import PriceNow, PriceSlot, StaticPrices, cheapest_slots, in_cheapest, make_slots, prices_at
from .service import PriceService
from .zone import Zone

__all__ = ["PriceNow", "PriceService", "PriceSlot", "PricesConfig", "StaticPrices", "Zone", "cheapest_slots",
           "in_cheapest", "make_slots", "prices_at"]
