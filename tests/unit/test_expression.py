"""Band math as a user writes it in a URL: right numbers, safe refusals, messages that point at the error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.expression import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    parse,
    parse_many,
    used_bands,
)

S2 = ["B02", "B03", "B04", "B08"]  # blue, green, red, nir: Sentinel-2 names with leading zeros


@pytest.fixture
def stack() -> np.ndarray:
    """A (bands, H, W) uint16 stack, so a naive red - nir would wrap around."""
    rng = np.random.default_rng(42)
    data = rng.integers(0, 10000, size=(4, 5, 6), dtype=np.uint16)
    data[2, 0, 0], data[3, 0, 0] = 9000, 100  # red > nir: negative NDVI
    return data


def value(text: str, names=S2) -> float:
    """Evaluate an expression without bands to a Python float."""
    return float(parse(text, names).evaluate({}, dtype=np.float64))


def error(text: str, names=S2, many: bool = False) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        (parse_many if many else parse)(text, names)
    return info.value


# --- values -------------------------------------------------------------------------------------


def test_ndvi_matches_numpy(stack):
    expression = parse("(B08-B04)/(B08+B04)", S2)
    nir, red = stack[3].astype(np.float64), stack[2].astype(np.float64)
    expected = (nir - red) / (nir + red)
    result = expression.evaluate(stack)
    assert result.dtype == np.float32
    assert result.shape == (5, 6)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert result[0, 0] < 0  # no uint16 wrap-around
    assert expression.bands == (3, 4)


def test_mapping_with_only_the_used_bands(stack):
    expression = parse("(B08-B04)/(B08+B04)", S2)
    from_mapping = expression.evaluate({index: stack[index - 1] for index in expression.bands})
    np.testing.assert_array_equal(from_mapping, expression.evaluate(stack))


def test_missing_band_is_a_programming_error(stack):
    with pytest.raises(ValueError, match="band 4"):
        parse("B08", S2).evaluate({3: stack[2]})
    with pytest.raises(ValueError, match="shaped"):
        parse("B08", S2).evaluate(stack[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2+3*4", 14),
        ("(2+3)*4", 20),
        ("10-4-3", 3),
        ("24/4/3", 2),
        ("-2**2", -4),
        ("(-2)**2", 4),
        ("-2^2", -4),
        ("2**3**2", 512),
        ("2^3^2", 512),
        ("2**-1", 0.5),
        ("--3", 3),
        ("+3", 3),
        ("1e-3*1000", 1),
        (".5+1.", 1.5),
        ("2E+2", 200),
        ("1+2 < 4", 1),
        ("2*3 >= 7", 0),
    ],
)
def test_precedence_and_numbers(text, expected):
    assert value(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abs(-3)", 3),
        ("sqrt(16)", 4),
        ("log(exp(2))", 2),
        ("log10(1000)", 3),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2, 5)", 5),
        ("clip(7, 0, 5)", 5),
        ("clip(-7, 0, 5)", 0),
        ("where(1 > 0, 10, 20)", 10),
        ("where(0, 10, 20)", 20),
        ("MAX(1, 2)", 2),
    ],
)
def test_functions(text, expected):
    assert value(text) == pytest.approx(expected)


def test_comparisons_give_one_or_zero():
    for text, expected in [("1 < 2", 1), ("2 <= 2", 1), ("1 > 2", 0), ("2 >= 3", 0), ("2 == 2", 1), ("2 != 2", 0)]:
        assert value(text) == expected, text


def test_where_over_bands(stack):
    result = parse("where(B08 > B04, B08, -1)", S2).evaluate(stack)
    expected = np.where(stack[3] > stack[2], stack[3].astype(np.float32), -1)
    np.testing.assert_array_equal(result, expected)


def test_band_by_index_and_by_name_case_insensitively(stack):
    names = ["blue", "green", "Red", "NIR"]
    by_name = parse("(nir - RED) / (Nir + red)", names)
    by_index = parse("(b4 - b3) / (B4 + B3)", names)
    assert by_name == by_index
    assert by_name.bands == by_index.bands == (3, 4)
    np.testing.assert_array_equal(by_name.evaluate(stack), by_index.evaluate(stack))
    assert parse("b1", S2).bands == (1,)  # S2 has no 'B01', so b1 is plainly band 1
    assert parse("b08 + B02", S2).bands == (1, 4)


def test_index_that_looks_like_another_band_name_is_refused():
    # With names B02, B03 …, 'b2' would silently be B03; refuse rather than render the wrong band.
    assert str(error("b2 + 1")) == ("ambiguous band 'b2' at position 0: band 2 is 'B03' but 'B02' is also a band; "
                                    "write the name")


def test_bands_property_is_sorted_and_unique():
    assert parse("B08 + B02 * B08 - 1", S2).bands == (1, 4)
    assert parse("1 + 2", S2).bands == ()
    assert used_bands(parse_many("B08; B02/B03; 1", S2)) == (1, 2, 4)


def test_constant_expression_takes_the_shape_of_the_data(stack):
    result = parse("1 + 2", S2).evaluate(stack)
    assert result.shape == (5, 6) and np.all(result == 3)


def test_division_by_zero_and_domain_errors_give_inf_nan_without_warnings():
    data = {1: np.array([[0.0, 1.0, -1.0]]), 2: np.zeros((1, 3))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ratio = parse("b1 / b2", ["a", "b"]).evaluate(data)
        assert np.isnan(ratio[0, 0]) and ratio[0, 1] == np.inf and ratio[0, 2] == -np.inf
        assert np.isnan(parse("sqrt(b1)", ["a", "b"]).evaluate(data)[0, 2])
        assert parse("log(b2)", ["a", "b"]).evaluate(data)[0, 0] == -np.inf
        assert parse("0 ** -1", []).evaluate({}) == np.inf
        assert parse("exp(1000)", []).evaluate({}) == np.inf


def test_nan_propagates_through_comparisons_and_where():
    data = {1: np.array([[np.nan, 1.0]]), 2: np.array([[5.0, 5.0]])}
    names = ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for text in ["a + 1", "a > 0", "a == a", "where(a > 0, 1, 2)", "min(a, b)", "max(b, a)", "clip(a, 0, 1)"]:
            result = parse(text, names).evaluate(data)
            assert np.isnan(result[0, 0]), text
            assert not np.isnan(result[0, 1]), text
    # where() keeps the chosen side: NaN in the unchosen branch does not leak.
    assert parse("where(b > 0, b, a)", names).evaluate(data)[0, 0] == 5


def test_masked_input_gives_masked_output():
    band = np.ma.MaskedArray([[1, 2], [3, 4]], mask=[[True, False], [False, False]], dtype=np.uint16)
    result = parse("b1 * 2", ["x"]).evaluate({1: band})
    assert isinstance(result, np.ma.MaskedArray)
    assert result.mask.tolist() == [[True, False], [False, False]]
    assert result[1, 1] == 8


def test_parse_many_gives_one_expression_per_output(stack):
    red, green, blue = parse_many("B04 ; B03; (B08-B04)/(B08+B04)", S2)
    assert (red.bands, green.bands, blue.bands) == ((3,), (2,), (3, 4))
    np.testing.assert_array_equal(red.evaluate(stack), stack[2].astype(np.float32))
    assert len(parse_many("b1", S2)) == 1


def test_str_is_normalised_and_parses_back():
    expression = parse("( b08-B04 )/(B08+  b04)", S2)
    assert str(expression) == "(B08 - B04) / (B08 + B04)"
    cases = {
        "-2**2": "-2 ** 2",
        "(-2)^2": "(-2) ** 2",
        "2**3**2": "2 ** 3 ** 2",
        "(2**3)**2": "(2 ** 3) ** 2",
        "1-(2-3)": "1 - (2 - 3)",
        "(1-2)-3": "1 - 2 - 3",
        "1.50*2.0": "1.5 * 2",
        "WHERE(b1>=0.5,b1,-B03)": "where(B02 >= 0.5, B02, -B03)",
        "(1 < 2) == 1": "(1 < 2) == 1",
    }
    for text, normal in cases.items():
        parsed = parse(text, S2)
        assert str(parsed) == normal, text
        assert parse(str(parsed), S2) == parsed, text
    assert str(parse("b1 + b2", ["", "red edge"])) == "b1 + b2"  # no usable name: index form


# --- errors -------------------------------------------------------------------------------------


def test_error_is_invalid_input_with_position():
    exc = error("B08 * * B04")
    assert isinstance(exc, InvalidInput)
    assert exc.position == 6
    assert str(exc) == "unexpected token '*' at position 6"


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("(B99 - B04)", "unknown band 'B99' at position 1 (bands: B02, B03, B04, B08)", 1),
        ("b5", "unknown band 'b5' at position 0 (bands: B02, B03, B04, B08)", 0),
        ("b0", "unknown band 'b0' at position 0 (bands: B02, B03, B04, B08)", 0),
        (
            "1 + foo(B08)",
            "unknown function 'foo' at position 4 (functions: abs, clip, exp, log, log10, max, min, sqrt, where)",
            4,
        ),
        ("B08 -", "unexpected end of expression at position 5", 5),
        ("B08 - B04 *", "unexpected end of expression at position 11", 11),
        ("(B08 - B04", "unclosed '(' at position 0", 0),
        ("max(B08, (B04)", "unclosed '(' at position 3", 3),
        ("B08 - B04)", "unmatched ')' at position 9", 9),
        ("()", "unexpected token ')' at position 1", 1),
        ("(B08 B04)", "unexpected token 'B04' at position 5", 5),
        ("B08, B04", "unexpected token ',' at position 3", 3),
        ("max(B08,)", "unexpected token ')' at position 8", 8),
        ("", "empty expression at position 0", 0),
        ("   ", "empty expression at position 0", 0),
        ("1.2.3", "invalid number '1.2.3' at position 0", 0),
        ("2 * 1.2.3", "invalid number '1.2.3' at position 4", 4),
        ("3B08", "invalid number '3B08' at position 0", 0),
        ("1e", "invalid number '1e' at position 0", 0),
        ("1e999", "number '1e999' at position 0 is too large", 0),
        ("__import__('os')", "illegal character \"'\" at position 11", 11),
        ("`B08`", "illegal character '`' at position 0", 0),
        ("B08 @ B04", "illegal character '@' at position 4", 4),
        ("B08 = B04", "illegal character '=' at position 4 (did you mean '=='?)", 4),
        ("B08 and B04", "unexpected token 'and' at position 4", 4),
        ("B08; B04", "unexpected ';' at position 3: one expression is expected here", 3),
        ("1 < 2 < 3", "chained comparison '<' at position 6; add parentheses", 6),
        ("sqrt(1, 2)", "function 'sqrt' at position 0 takes 1 argument, got 2", 0),
        ("clip(B08, 0)", "function 'clip' at position 0 takes 3 arguments, got 2", 0),
        ("max(B08)", "function 'max' at position 0 takes at least 2 arguments, got 1", 0),
        ("abs()", "function 'abs' at position 0 takes 1 argument, got 0", 0),
    ],
)
def test_error_messages_and_positions(text, message, position):
    exc = error(text)
    assert str(exc) == message
    assert exc.position == position


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__class__", "unknown band '__class__' at position 0 (bands: B02, B03, B04, B08)"),
        ("B08.__class__", "illegal character '.' at position 3"),
        ("a.b", "illegal character '.' at position 1"),
        ("B08[0]", "illegal character '[' at position 3"),
        ("__import__(1)", ("unknown function '__import__' at position 0 "
                           "(functions: abs, clip, exp, log, log10, max, min, sqrt, where)")),
        ("eval(1)", ("unknown function 'eval' at position 0 "
                     "(functions: abs, clip, exp, log, log10, max, min, sqrt, where)")),
        ("lambda: 1", "illegal character ':' at position 6"),
        ('"B08"', "illegal character '\"' at position 0"),
        ("B08 \\ 2", "illegal character '\\\\' at position 4"),
        ("B08 + é", "illegal character 'é' at position 6"),
        ("B08\x00", "illegal character '\\x00' at position 3"),
    ],
)
def test_python_syntax_is_rejected(text, message):
    assert str(error(text)) == message


def test_parse_many_errors_count_positions_in_the_whole_text():
    assert str(error("B04; B03;; B02", many=True)) == "empty expression at position 9"
    assert str(error("B04;B03;", many=True)) == "empty expression at position 8"
    assert str(error("B04; B03 +", many=True)) == "unexpected end of expression at position 10"
    assert str(error("B04; B99", many=True)) == "unknown band 'B99' at position 5 (bands: B02, B03, B04, B08)"


def test_too_long():
    text = "+".join(["1"] * (MAX_LENGTH // 2 + 1))  # 1001 characters
    exc = error(text)
    assert str(exc) == f"expression too long: {len(text)} characters (limit {MAX_LENGTH})"
    assert exc.position == MAX_LENGTH
    assert str(error(text, many=True)) == str(exc)
    fits = "+".join(["1"] * (MAX_LENGTH // 2))  # 999 characters of a long, flat sum
    assert value(fits) == MAX_LENGTH // 2


def test_too_deep():
    assert value("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1
    exc = error("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    assert str(exc) == f"expression nested too deeply at position {MAX_DEPTH} (limit {MAX_DEPTH})"
    assert exc.position == MAX_DEPTH
    assert "nested too deeply" in str(error("-" * (MAX_DEPTH + 1) + "1"))
    assert "nested too deeply" in str(error("abs(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)))
    assert "nested too deeply" in str(error("2**" * (MAX_DEPTH + 1) + "1"))


def test_expressions_are_hashable_values():
    assert isinstance(parse("B08", S2), Expression)
    assert len({parse("B08 + 1", S2), parse("b08+1", S2), parse("B08 + 2", S2)}) == 2


@pytest.mark.parametrize("text", ["1", "2*3", "-1.5; 4"])
def test_expressions_without_any_band_are_refused(text):
    """Nothing would be read for them, so there are no pixels to compute them on (issue 12, item 11)."""
    with pytest.raises(ExpressionError, match="uses no band"):
        parse_many(text, S2)
    assert len(parse_many("b1; 0", S2)) == 2, "a constant beside a band is fine"


# --- cost, memory and deadline (issue 12, item 2) ----------------------------------------------


def test_cost_counts_every_node():
    assert parse("(B08-B04)/(B08+B04)", S2).cost == 7
    assert parse("min(" + ",".join(["b1+0"] * 199) + ")", S2).cost == 598
    assert parse("+".join(["b1"] * 246), S2).cost == 491  # a chain as long as this is deep: no recursion


def test_a_long_min_is_evaluated_in_bounded_memory():
    """`min` of 199 terms held every term at once in float64 (199 x 2 MB here); now a few chunks."""
    import tracemalloc

    band = np.arange(512 * 512, dtype=np.uint16).reshape(512, 512)
    expression = parse("min(" + ",".join(["b1+0"] * 199) + ")", S2)
    tracemalloc.start()
    try:
        result = expression.evaluate({1: band})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(result, band.astype(np.float32))
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MB for a 1 MB result"


def test_evaluation_stops_at_the_deadline(stack):
    from cogbrowser.raster.budget import RenderDeadlineExceeded, render_limits

    expression = parse("(B08-B04)/(B08+B04)", S2)
    with render_limits(10**9, 1e-9), pytest.raises(RenderDeadlineExceeded, match="deadline"):
        expression.evaluate(stack)
    with render_limits(10**9, 60):
        assert expression.evaluate(stack).shape == (5, 6)
