"""Find populated places by name: the shipped GeoNames extract (data/places.tsv.gz, made by
tools/make_places.py), read once on first use.

A query matches a place whose name, or one of its Latin-letter alternate names (Munich, Cologne),
starts with it, or one of whose name's words does (“york” finds New York): case and accents do not
matter. Best first: the name itself, then names that start so, then a word of the name or an
alternate name, then alternates that start so; the most populous first within each.
"""

from __future__ import annotations

import bisect
import gzip
import heapq
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "places.tsv.gz"
ATTRIBUTION = "Place names © GeoNames (CC BY 4.0)"
NAME, WORD, ALTERNATE = 0, 1, 2  # what a search key is: a place's name, a later word of it, another name


@dataclass(frozen=True)
class Place:
    name: str
    country: str  # the country's name ("France"); its ISO code when GeoNames has no name for it
    country_code: str
    lat: float
    lon: float
    population: int


class Gazetteer:
    """The places, biggest first, and a sorted index of folded names for prefix search."""

    def __init__(self, places: list[Place], alternates: list[list[str]]) -> None:
        self.places = places
        keys: list[tuple[str, int, int]] = []  # folded text, place, kind: NAME, WORD or ALTERNATE
        for index, (place, others) in enumerate(zip(places, alternates)):
            words = fold(place.name).split(" ")
            keys += [(" ".join(words[start:]), index, NAME if start == 0 else WORD) for start in range(len(words))]
            keys += [(fold(name), index, ALTERNATE) for name in others]
        keys.sort()
        self._keys = [key for key, _, _ in keys]
        self._entries = [(index, kind) for _, index, kind in keys]

    def search(self, query: str, limit: int = 10) -> list[Place]:
        """The places the query names, best first (exact names, then by population)."""
        folded = fold(query)
        if not folded or limit <= 0:
            return []
        tiers: dict[int, int] = {}
        start = bisect.bisect_left(self._keys, folded)
        for position in range(start, len(self._keys)):
            key = self._keys[position]
            if not key.startswith(folded):
                break
            index, kind = self._entries[position]
            exact = key == folded
            tier = {NAME: 0 if exact else 1, WORD: 2, ALTERNATE: 2 if exact else 3}[kind]
            tiers[index] = min(tier, tiers.get(index, tier))
        # places are stored biggest first, so the index is the population's rank
        best = heapq.nsmallest(limit, tiers, key=lambda index: (tiers[index], index))
        return [self.places[index] for index in best]


_LETTERS = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "æ": "ae",
                          "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "þ": "th", "ð": "d", "‘": "'", "’": "'", "ʻ": "'"})


def unaccented(text: str) -> str:
    """The text in plain Latin letters (Köln: Koln, Łódź: Lodz): what is compared, and what the
    labels' font can draw."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower case, without accents, words separated by single spaces: what a search compares."""
    plain = unaccented(text.casefold())
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def read(path: Path = DATA) -> Gazetteer:
    countries: dict[str, str] = {}
    places: list[Place] = []
    alternates: list[list[str]] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "country":
                countries[fields[1]] = fields[2]
                continue
            name, code, lat, lon, population, others = fields
            places.append(Place(name, countries.get(code, code), code, float(lat), float(lon), int(population)))
            alternates.append(others.split("|") if others else [])
    return Gazetteer(places, alternates)


_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The shipped gazetteer, read on first use (about a second) and kept."""
    global _gazetteer
    with _lock:
        if _gazetteer is None:
            _gazetteer = read()
        return _gazetteer


def search(query: str, limit: int = 10) -> list[Place]:
    """Places named by the query, best first: see Gazetteer.search."""
    return gazetteer().search(query, limit)
