"""The places core: the gazetteer's search, coordinates in every notation, and the label tiles
(no two labels overlap; a label across a tile edge is drawn the same on both sides)."""

from __future__ import annotations

import io

import numpy as np
import pygeodesy
import pyproj
import pytest
from PIL import Image

from cogbrowser.errors import InvalidInput
from cogbrowser.places import coordinates, gazetteer, labels

PARIS = (48.8566072, 2.3521654)  # 31U 452480 5411718


# ------------------------------------------------------------------------------ gazetteer

def names(query: str, limit: int = 5) -> list[tuple[str, str]]:
    return [(place.name, place.country) for place in gazetteer.search(query, limit)]


def test_a_name_finds_the_biggest_place_of_that_name_first() -> None:
    assert names("paris")[0] == ("Paris", "France")
    assert names("Paris")[1] == ("Paris", "United States")  # the other exact name before Paris 15 Vaugirard


@pytest.mark.parametrize("typed", ["zurich", "ZÜRICH", "Zürich", "zur"])
def test_case_and_accents_do_not_matter(typed: str) -> None:
    assert names(typed)[0] == ("Zürich", "Switzerland")


def test_alternate_names_and_words_of_a_name_match() -> None:
    assert names("cologne")[0] == ("Köln", "Germany")
    assert names("munchen")[0] == ("Munich", "Germany")
    assert ("New York City", "United States") in names("new y")
    assert names("chi minh")[0] == ("Ho Chi Minh City", "Vietnam")


def test_a_place_carries_what_the_map_needs() -> None:
    place = gazetteer.search("Tokyo", 1)[0]
    assert place.country == "Japan" and place.country_code == "JP"
    assert place.population > 5_000_000
    assert abs(place.lat - 35.69) < 0.1 and abs(place.lon - 139.69) < 0.1


def test_nothing_for_nothing() -> None:
    assert gazetteer.search("", 5) == [] and gazetteer.search("  ,; ", 5) == []
    assert gazetteer.search("xqzxqzxqz", 5) == []


# ------------------------------------------------------------------------------ coordinates

@pytest.mark.parametrize(("text", "expected"), [
    ("48.85, 2.35", (48.85, 2.35)),
    ("48.85 2.35", (48.85, 2.35)),
    ("-33.9; -70.6", (-33.9, -70.6)),
    ("48.85 N 2.35 E", (48.85, 2.35)),
    ("48.85N, 2.35W", (48.85, -2.35)),
    ("N48.85 E2.35", (48.85, 2.35)),
    ("2.35E 48.85N", (48.85, 2.35)),
    ("33.9 S 151.2 E", (-33.9, 151.2)),
    ("48°51'24\"N 2°21'03\"E", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 3 / 3600)),
    ("48°51′24″N, 2°21′03″E", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 3 / 3600)),
    ("48 51 24 N 2 21 3 E", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 3 / 3600)),
    ("48d51m24s N 2d21m3s W", (48 + 51 / 60 + 24 / 3600, -(2 + 21 / 60 + 3 / 3600))),
])
def test_latitude_and_longitude_in_decimal_and_dms(text: str, expected: tuple[float, float]) -> None:
    assert coordinates.parse(text) == pytest.approx(expected, abs=1e-6)


def utm_to_latlon(zone: int, south: bool, easting: float, northing: float) -> tuple[float, float]:
    """PROJ's answer, to check pygeodesy's through ours."""
    crs = pyproj.CRS.from_dict({"proj": "utm", "zone": zone, "south": south, "ellps": "WGS84"})
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(easting, northing)
    return lat, lon


@pytest.mark.parametrize("text", ["31N 452480 5411718", "31U 452480 5411718", "31 N 452480 5411718",
                                  "31u 452480m 5411718m", "31N 452480, 5411718"])
def test_utm_agrees_with_proj(text: str) -> None:
    assert coordinates.parse(text) == pytest.approx(utm_to_latlon(31, False, 452480, 5411718), abs=1e-6)


def test_utm_in_the_south_agrees_with_proj() -> None:
    assert coordinates.parse("56H 334369 6250948") == pytest.approx(
        utm_to_latlon(56, True, 334369, 6250948), abs=1e-6)  # Sydney, band H
    assert coordinates.parse("56S 334369 6250948") == pytest.approx(utm_to_latlon(56, True, 334369, 6250948), abs=1e-6)


@pytest.mark.parametrize("text", ["31UDQ5248011718", "31U DQ 52480 11718", "31UDQ 52480 11718", "31udq5248011718"])
def test_mgrs_with_or_without_spaces(text: str) -> None:
    # MGRS 31U DQ 52480 11718 is UTM 31N 452480 5411718 (the 100 km square D, Q), to the metre
    assert coordinates.parse(text) == pytest.approx(utm_to_latlon(31, False, 452480, 5411718), abs=2e-5)


def test_mgrs_round_trips_through_pygeodesy() -> None:
    for lat, lon in [(48.8566, 2.3522), (-33.8688, 151.2093), (64.1466, -21.9426), (-0.5, -78.5)]:
        reference = str(pygeodesy.toMgrs(pygeodesy.toUtm8(lat, lon)))
        assert coordinates.parse(reference) == pytest.approx((lat, lon), abs=2e-5)
        assert coordinates.parse(reference.replace(" ", "")) == pytest.approx((lat, lon), abs=2e-5)


def test_an_mgrs_square_alone_is_its_centre() -> None:
    lat, lon = coordinates.parse("31UDQ")
    assert coordinates.parse("31UDQ5000050000") == pytest.approx((lat, lon), abs=1e-6)


@pytest.mark.parametrize("text", ["Paris", "S2A_MSIL2A_20240101", "2024", "", "new york 5th avenue", "image-12"])
def test_text_that_is_no_coordinates_is_none(text: str) -> None:
    assert coordinates.parse(text) is None


@pytest.mark.parametrize(("text", "named"), [
    ("95, 10", "latitude 95°"),
    ("-91 10", "latitude -91°"),
    ("10, 200", "longitude 200°"),
    ("91°N 2°E", "latitude 91°"),
    ("48.85 E 2.35 E", "cannot be a latitude"),
    ("61N 452480 5411718", "zone 61"),
    ("31N 952480 5411718", "easting"),
    ("31N 452480 12000000", "northing"),
    ("31C 452480 5411718", "band C"),
    ("31UDQ524801171", "as many easting as northing digits"),
])
def test_coordinates_out_of_range_say_which(text: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        coordinates.parse(text)


# ------------------------------------------------------------------------------ labels

@pytest.mark.parametrize("zoom", [2, 4, 6, 9])
def test_no_two_labels_overlap(zoom: int) -> None:
    placed = labels.placement(zoom).labels
    assert len(placed) > 20
    boxes = np.array([label.box for label in placed])
    for index, box in enumerate(boxes[:-1]):
        rest = boxes[index + 1:]
        overlapping = ((rest[:, 0] < box[2]) & (box[0] < rest[:, 2]) & (rest[:, 1] < box[3]) & (box[1] < rest[:, 3]))
        others = [placed[index + 1 + i].name for i in overlapping.nonzero()[0]]
        assert not overlapping.any(), (placed[index].name, others)


def test_big_places_are_named_before_small_ones() -> None:
    names_at_3 = {label.name for label in labels.placement(3).labels}
    assert {"Tokyo", "Mexico City", "Cairo"} <= names_at_3
    assert "Kiel" not in names_at_3 and "Kiel" in {label.name for label in labels.placement(7).labels}


def tile(zoom: int, x: int, y: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(labels.tile_png(zoom, x, y))).convert("RGBA"))


def stitched(zoom: int, x: int, y: int) -> np.ndarray:
    """Tiles x, x+1 (columns) and y, y+1 (rows) as one 512 px picture."""
    return np.vstack([np.hstack([tile(zoom, x, y), tile(zoom, x + 1, y)]),
                      np.hstack([tile(zoom, x, y + 1), tile(zoom, x + 1, y + 1)])])


def test_a_label_across_a_tile_edge_is_whole_when_the_tiles_meet() -> None:
    zoom = 6
    placed = labels.placement(zoom)
    inset = labels.MARGIN + 4  # the ink, not only the free margin, crosses the edge
    crossing = [label for label in placed.labels
                if (label.box[0] + inset) // 256 != (label.box[2] - inset) // 256
                and label.box[1] // 256 == (label.box[3] - 1) // 256]
    assert crossing
    for label in crossing[:5]:
        x, y = label.box[0] // 256, label.box[1] // 256
        picture = stitched(zoom, x, y)
        # drawn alone on one 512 px canvas at the same world pixels: what the two tiles must add up to
        alone = np.zeros_like(picture)
        canvas = Image.fromarray(alone)
        _draw_alone(canvas, placed, x, y)
        expected = np.asarray(canvas)
        assert (picture == expected).all(), label.name
        left, top, right, bottom = (v - o for v, o in zip(label.box, (x * 256, y * 256, x * 256, y * 256)))
        assert picture[top:bottom, left:256, 3].any() and picture[top:bottom, 256:right, 3].any()


def _draw_alone(canvas: Image.Image, placed: labels.Placement, x: int, y: int) -> None:
    """Every label of the four tiles drawn once on one canvas, as tile_png draws them on one tile."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    font = labels.default_font(labels.FONT_SIZE)
    seen = set()
    for dx in (0, 1):
        for dy in (0, 1):
            for label in placed.tile_labels(x + dx, y + dy):
                if label in seen:
                    continue
                seen.add(label)
                px, py = label.x - x * 256, label.y - y * 256
                r = labels.DOT_RADIUS
                draw.ellipse((px - r - 1, py - r - 1, px + r + 1, py + r + 1), fill=labels.HALO)
                draw.ellipse((px - r, py - r, px + r, py + r), fill=labels.DOT)
                draw.text((label.text_origin[0] - x * 256, label.text_origin[1] - y * 256), label.name, font=font,
                          fill=labels.INK, stroke_width=labels.HALO_WIDTH, stroke_fill=labels.HALO)


def test_a_tile_is_transparent_but_where_a_label_is() -> None:
    # zoom 5 around Paris: x 16, y 11
    paris = tile(5, 16, 11)
    assert paris.shape == (256, 256, 4)
    drawn = paris[:, :, 3] > 0
    assert 0.005 < drawn.mean() < 0.3
    dark = (paris[:, :, 3] == 255) & (paris[:, :, :3].max(axis=2) < 80)
    assert dark.sum() > 30  # the letters
    ocean = tile(5, 3, 20)  # the South Pacific, far from any town
    assert not ocean[:, :, 3].any()


def test_names_are_drawn_in_the_fonts_letters() -> None:
    assert labels.printable("Zürich") == "Zurich" and labels.printable("Łódź") == "Lodz"
    assert "Koln" in {label.name for label in labels.placement(6).labels}
