"""`/api/v1/places?q=...`: what the map's search box offers for a text: the coordinates it is (in
any common notation, places/coordinates.py), the catalog's images whose id or title hold it, and
the shipped gazetteer's places of that name (places/gazetteer.py), in that order.

Coordinates that cannot be (a latitude of 95°, an easting outside its UTM zone) are a 400 naming
the problem: the user meant coordinates, and a list of towns would hide the mistake.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from cogbrowser.catalog import queries
from cogbrowser.places import coordinates, gazetteer
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import endpoint
from cogbrowser.web.params import QueryModel

blueprint = Blueprint("places", __name__)
MAX_LIMIT = 50
MAX_QUERY = 200


class PlaceSearch(QueryModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY, description="a place's name (any case, accents optional), "
                   "coordinates (48.85, 2.35; 48°51'N 2°21'E; UTM 31N 452480 5411718; MGRS 31UDQ5248011718) "
                   "or an image's id")
    limit: int = Field(10, ge=1, le=MAX_LIMIT, description=f"matches at most (up to {MAX_LIMIT})")


class PlaceMatch(BaseModel):
    kind: Literal["coordinates", "image", "place"]
    label: str = Field(description="what the search box shows")
    lon: float
    lat: float
    bbox: list[float] | None = Field(None, description="west, south, east, north (WGS 84): an image's box")
    image_id: str | None = None
    population: int | None = None


class PlaceList(BaseModel):
    matches: list[PlaceMatch]
    attribution: str = Field(gazetteer.ATTRIBUTION, description="the credit the place names need")


@endpoint(blueprint, "GET", "/api/v1/places", query=PlaceSearch, responses={200: PlaceList},
          summary="Places, coordinates and images a text names (the map's search box)", tags=("places",))
def search_places(query: PlaceSearch) -> PlaceList:
    """The coordinates the text is, if it is coordinates; then images whose id or title hold it (an
    exact id first; half the list at most when places match too); then places of that name, best
    first (the name itself, the most populous).
    Coordinates out of range are a 400 naming the value."""
    text = query.q.strip()
    matches: list[PlaceMatch] = []
    point = coordinates.parse(text)
    if point is not None:
        lat, lon = point
        matches.append(PlaceMatch(kind="coordinates", label=f"{lat:.6f}, {lon:.6f}", lat=lat, lon=lon))
    places = [PlaceMatch(kind="place", label=f"{place.name}, {place.country}", lat=place.lat, lon=place.lon,
                         population=place.population) for place in gazetteer.search(text, query.limit)]
    # images may take half the list when places match too ("dem" is in every demo image's title)
    room = max((query.limit + 1) // 2, query.limit - len(matches) - len(places))
    matches += image_matches(text, room)
    return PlaceList(matches=(matches + places)[:query.limit])


def image_matches(text: str, limit: int) -> list[PlaceMatch]:
    with services().db.connection() as conn:
        exact = queries.get_image(conn, text)
        found = queries.search_images(conn, queries.ImageQuery(text=text, limit=limit, sort="id", descending=False))
    images = ([exact] if exact else []) + [image for image in found if not exact or image.id != exact.id]
    matches = []
    for image in images[:limit]:
        west, south, east, north = image.bbox
        matches.append(PlaceMatch(kind="image", label=image.id if not image.title else f"{image.id} ({image.title})",
                                  lon=(west + east) / 2, lat=(south + north) / 2, bbox=[west, south, east, north],
                                  image_id=image.id))
    return matches
