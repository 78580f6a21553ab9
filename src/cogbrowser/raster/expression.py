"""Band math: parse a user's expression such as `(B08-B04)/(B08+B04)` and evaluate it with numpy.

The text comes straight from a URL, so it is never handed to eval/exec/compile or to Python's `ast`:
a small tokenizer and a recursive-descent parser build a tree of five node kinds (number, band,
unary, binary, call), and only those nodes are evaluated, each by a fixed numpy function. There is
no attribute access, no subscripting, no strings and no names other than bands and the functions
listed in FUNCTIONS, so nothing in the text can reach Python objects.

Grammar, loosest binding first:

    expression  := comparison
    comparison  := additive [('<' | '<=' | '>' | '>=' | '==' | '!=') additive]
    additive    := term (('+' | '-') term)*
    term        := unary (('*' | '/') unary)*
    unary       := ('-' | '+') unary | power
    power       := primary [('**' | '^') unary]          # right-associative: 2**3**2 == 2**9
    primary     := number | band | function '(' expression (',' expression)* ')' | '(' expression ')'

Unary minus binds looser than power, as in Python and in mathematics: -2**2 == -4.
Comparisons give 1.0 or 0.0 and do not chain (write `(a < b) < c` if that is really meant).

Errors are ExpressionError (an InvalidInput), each one line naming the token and its 0-based
position, so an HTTP layer can answer 400 with the message as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cogbrowser.errors import InvalidInput
from cogbrowser.raster.budget import check_deadline

MAX_LENGTH = 1000  # characters of one expression text (parse_many: of the whole text)
MAX_DEPTH = 50  # nested parentheses, calls, unary operators and powers
CHUNK_PIXELS = 1 << 16  # pixels evaluated at once: a chunk's float32 arrays (256 kB) stay in the CPU cache

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INDEX_NAME = re.compile(r"[bB](\d+)")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_WHITESPACE = frozenset(" \t\r\n")
# Longest first, so '**' is not read as two '*' and '<=' not as '<' then '='.
_OPERATORS = ("**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "^", "<", ">", "(", ")", ",")
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})


class ExpressionError(InvalidInput):
    """A band-math expression the user wrote cannot be parsed; `position` is a 0-based index."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    position: int
    value: float = 0.0


def _tokenize(text: str, offset: int = 0) -> list[_Token]:
    """Split text into tokens; anything outside the small alphabet is an error at once.

    `offset` is added to every position, so parse_many reports positions in the whole text.
    """
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            # Take the whole run a user would think of as one number ("1.2.3", "2b", "1e-3"),
            # then validate it, so the error names all of it rather than a confusing tail.
            j = i
            while j < n and (text[j] in _IDENT_CHARS or text[j] == "."):
                j += 1
                if text[j - 1] in "eE" and j < n and text[j] in "+-":
                    j += 1
            literal = text[i:j]
            if not _NUMBER.fullmatch(literal):
                raise ExpressionError(f"invalid number {literal!r} at position {offset + i}", offset + i)
            value = float(literal)
            if not np.isfinite(value):
                raise ExpressionError(f"number {literal!r} at position {offset + i} is too large", offset + i)
            tokens.append(_Token("number", literal, offset + i, value))
            i = j
        elif ch in _IDENT_START:
            j = i + 1
            while j < n and text[j] in _IDENT_CHARS:
                j += 1
            tokens.append(_Token("name", text[i:j], offset + i))
            i = j
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if op is None:
                if ch == ";":
                    raise ExpressionError(
                        f"unexpected ';' at position {offset + i}: one expression is expected here",
                        offset + i,
                    )
                hint = " (did you mean '=='?)" if ch == "=" else ""
                raise ExpressionError(f"illegal character {ch!r} at position {offset + i}{hint}", offset + i)
            tokens.append(_Token("op", op, offset + i))
            i += len(op)
    tokens.append(_Token("end", "", offset + n))
    return tokens


# --- tree ---------------------------------------------------------------------------------------

# Printing precedence: a child is parenthesised when it binds looser than its parent needs.
_PREC_COMPARE, _PREC_ADD, _PREC_MUL, _PREC_UNARY, _PREC_POWER, _PREC_ATOM = range(1, 7)
_BINARY_PREC = {"+": _PREC_ADD, "-": _PREC_ADD, "*": _PREC_MUL, "/": _PREC_MUL, "**": _PREC_POWER}
_BINARY_PREC.update(dict.fromkeys(_COMPARISONS, _PREC_COMPARE))


@dataclass(frozen=True)
class Number:
    value: float

    def text(self, labels: Mapping[int, str]) -> str:
        text = repr(float(self.value))
        return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Band:
    index: int  # 1-based

    def text(self, labels: Mapping[int, str]) -> str:
        return labels.get(self.index) or f"b{self.index}"


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "+"
    operand: Node

    def text(self, labels: Mapping[int, str]) -> str:
        return self.op + _wrap(self.operand, labels, _precedence(self.operand) < _PREC_UNARY)


@dataclass(frozen=True)
class Binary:
    op: str  # one of _BINARY_PREC; '^' is stored as '**'
    left: Node
    right: Node

    def text(self, labels: Mapping[int, str]) -> str:
        prec = _BINARY_PREC[self.op]
        if self.op == "**":  # right-associative
            left_paren = _precedence(self.left) <= prec
            right_paren = _precedence(self.right) < prec
        else:  # left-associative; comparisons do not chain at all
            left = _precedence(self.left)
            left_paren = left <= prec if prec == _PREC_COMPARE else left < prec
            right_paren = _precedence(self.right) <= prec
        return f"{_wrap(self.left, labels, left_paren)} {self.op} {_wrap(self.right, labels, right_paren)}"


@dataclass(frozen=True)
class Call:
    name: str  # lower case, a key of FUNCTIONS
    args: tuple[Node, ...]

    def text(self, labels: Mapping[int, str]) -> str:
        return f"{self.name}({', '.join(arg.text(labels) for arg in self.args)})"


Node = Number | Band | Unary | Binary | Call


def _precedence(node: Node) -> int:
    if isinstance(node, Binary):
        return _BINARY_PREC[node.op]
    if isinstance(node, Unary):
        return _PREC_UNARY
    return _PREC_ATOM


def _wrap(node: Node, labels: Mapping[int, str], paren: bool) -> str:
    text = node.text(labels)
    return f"({text})" if paren else text


# --- numpy semantics ----------------------------------------------------------------------------
#
# Evaluation works on one chunk of rows at a time (Expression.evaluate) and in place: each node
# returns its value and whether that value is a temporary it owns, so the parent writes its result
# into an owned operand rather than a new array. `min`/`max` fold their arguments one at a time. An
# expression's memory is then a few chunk-sized arrays, whatever its size; a 598-node `min(...)`
# held 199 full-size float64 arrays at once before (6.5 GB for a 2048 x 2048 picture).

Value = np.ndarray | np.floating  # a chunk of values, or one number (constants, until a band joins)
# name -> numpy function (a ufunc applied to each argument's value, folded for min/max)
_UNARY_FUNCS: dict[str, np.ufunc] = {"abs": np.absolute, "sqrt": np.sqrt, "log": np.log, "log10": np.log10,
                                     "exp": np.exp}
_FOLDS: dict[str, np.ufunc] = {"min": np.minimum, "max": np.maximum}  # propagate NaN, unlike fmin/fmax
_ARITHMETIC: dict[str, np.ufunc] = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                                    "**": np.power}
_COMPARE: dict[str, np.ufunc] = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                                 "==": np.equal, "!=": np.not_equal}

# name -> (what it computes, minimum arguments, maximum arguments or None for any number)
FUNCTIONS: dict[str, tuple[str, int, int | None]] = {
    "abs": ("absolute value", 1, 1),
    "sqrt": ("square root", 1, 1),
    "log": ("natural logarithm", 1, 1),
    "log10": ("base-10 logarithm", 1, 1),
    "exp": ("e to the power", 1, 1),
    "min": ("smallest argument", 2, None),
    "max": ("largest argument", 2, None),
    "clip": ("clip(x, low, high)", 3, 3),
    "where": ("where(condition, if true, if false)", 3, 3),
}


def _apply(func: np.ufunc, owned: Sequence[bool], *operands: Value) -> tuple[Value, bool]:
    """`func` of the operands, written into the first one owned when there is one."""
    out = next((value for value, mine in zip(operands, owned) if mine), None)
    if out is None:
        result = func(*operands)
        return result, isinstance(result, np.ndarray)
    return func(*operands, out=out), True


def _nan_where(result: Value, result_owned: bool, invalid: np.ndarray | np.bool_,
               dtype: np.dtype) -> tuple[Value, bool]:
    """`result` as `dtype`, NaN where `invalid`: comparisons and where() would turn NaN (nodata) into 0/1."""
    if not isinstance(result, np.ndarray):
        return (dtype.type(np.nan) if invalid else dtype.type(result)), False
    if result.dtype != dtype or not result_owned:
        result = result.astype(dtype)
    if np.ndim(invalid) == 0:
        if invalid:
            result.fill(np.nan)
    else:
        np.putmask(result, invalid, np.nan)
    return result, True


def _evaluate(node: Node, bands: Mapping[int, np.ndarray], dtype: np.dtype) -> tuple[Value, bool]:
    """The value of `node` over one chunk, in `dtype`, and whether it is a temporary the caller may overwrite."""
    if isinstance(node, Number):
        return dtype.type(node.value), False
    if isinstance(node, Band):
        return bands[node.index], False
    if isinstance(node, Unary):
        operand, owned = _evaluate(node.operand, bands, dtype)
        return _apply(np.negative, [owned], operand) if node.op == "-" else (operand, owned)
    if isinstance(node, Binary):
        left, left_owned = _evaluate(node.left, bands, dtype)
        right, right_owned = _evaluate(node.right, bands, dtype)
        if node.op in _ARITHMETIC:
            return _apply(_ARITHMETIC[node.op], [left_owned, right_owned], left, right)
        invalid = np.isnan(left) | np.isnan(right)
        return _nan_where(_COMPARE[node.op](left, right), False, invalid, dtype)
    if isinstance(node, Call):
        return _call(node, bands, dtype)
    raise TypeError(f"not an expression node: {node!r}")  # only reachable by building trees by hand


def _call(node: Call, bands: Mapping[int, np.ndarray], dtype: np.dtype) -> tuple[Value, bool]:
    if node.name in _FOLDS:  # one argument at a time: never all of them at once
        fold = _FOLDS[node.name]
        result, owned = _evaluate(node.args[0], bands, dtype)
        for arg in node.args[1:]:
            value, value_owned = _evaluate(arg, bands, dtype)
            result, owned = _apply(fold, [owned, value_owned], result, value)
        return result, owned
    args = [_evaluate(arg, bands, dtype) for arg in node.args]
    values, mine = [value for value, _ in args], [owned for _, owned in args]
    if node.name in _UNARY_FUNCS:
        return _apply(_UNARY_FUNCS[node.name], mine, *values)
    if node.name == "clip":
        x, low, high = values  # np.clip's meaning (high wins when low > high), in place
        raised, owned = _apply(np.maximum, mine[:2], x, low)
        return _apply(np.minimum, [owned, mine[2]], raised, high)
    if node.name == "where":
        condition, if_true, if_false = values
        chosen = np.where(condition != 0, if_true, if_false)
        return _nan_where(chosen, False, np.isnan(condition), dtype)
    raise TypeError(f"not a function: {node.name!r}")  # the parser accepts only names of FUNCTIONS


def _count_nodes(root: Node) -> int:
    """How many nodes the tree has (iteratively: a long chain of '+' is as deep as it is long)."""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack += (node.left, node.right)
        elif isinstance(node, Call):
            stack += node.args
    return count


# --- parser -------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list; one method a grammar rule (see the module doc)."""

    def __init__(self, text: str, band_names: Sequence[str | None], offset: int = 0) -> None:
        self.tokens = _tokenize(text, offset)
        self.offset = offset
        self.pos = 0
        self.depth = 0
        self.band_names = list(band_names)
        self.bands_used: set[int] = set()

    # helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def unexpected(self) -> ExpressionError:
        token = self.token
        if token.kind == "end":
            return ExpressionError(f"unexpected end of expression at position {token.position}", token.position)
        return ExpressionError(f"unexpected token {token.text!r} at position {token.position}", token.position)

    def enter(self, token: _Token) -> None:
        """Count one level of nesting; deep trees would exhaust Python's stack when evaluated."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression nested too deeply at position {token.position} (limit {MAX_DEPTH})",
                token.position,
            )

    def expect_close(self, opening: _Token) -> None:
        if self.at_op(")"):
            self.advance()
            return
        if self.token.kind == "end":
            raise ExpressionError(f"unclosed '(' at position {opening.position}", opening.position)
        raise self.unexpected()

    # rules

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError(f"empty expression at position {self.offset}", self.offset)
        node = self.comparison()
        if self.at_op(")"):
            raise ExpressionError(f"unmatched ')' at position {self.token.position}", self.token.position)
        if self.token.kind != "end":
            raise self.unexpected()
        return node

    def comparison(self) -> Node:
        node = self.additive()
        if self.at_op(*_COMPARISONS):
            op = self.advance().text
            node = Binary(op, node, self.additive())
            if self.at_op(*_COMPARISONS):
                token = self.token
                raise ExpressionError(
                    f"chained comparison {token.text!r} at position {token.position}; add parentheses",
                    token.position,
                )
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.at_op("+", "-"):
            op = self.advance().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at_op("*", "/"):
            op = self.advance().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at_op("-", "+"):
            token = self.advance()
            self.enter(token)
            node = Unary(token.text, self.unary())
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        node = self.primary()
        if self.at_op("**", "^"):
            token = self.advance()
            self.enter(token)
            node = Binary("**", node, self.unary())
            self.depth -= 1
        return node

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            return Number(token.value)
        if token.kind == "name":
            self.advance()
            if self.at_op("("):
                return self.call(token)
            return self.band(token)
        if self.at_op("("):
            self.advance()
            self.enter(token)
            node = self.comparison()
            self.expect_close(token)
            self.depth -= 1
            return node
        raise self.unexpected()

    def call(self, name: _Token) -> Node:
        func = name.text.lower()
        if func not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function {name.text!r} at position {name.position} "
                f"(functions: {', '.join(sorted(FUNCTIONS))})",
                name.position,
            )
        opening = self.advance()
        self.enter(opening)
        args: list[Node] = []
        if not self.at_op(")"):
            args.append(self.comparison())
            while self.at_op(","):
                self.advance()
                args.append(self.comparison())
        self.expect_close(opening)
        self.depth -= 1
        _, least, most = FUNCTIONS[func]
        if len(args) < least or (most is not None and len(args) > most):
            wanted = str(least) if least == most else f"at least {least}"
            plural = "" if wanted == "1" else "s"
            raise ExpressionError(
                f"function {func!r} at position {name.position} takes {wanted} argument{plural}, "
                f"got {len(args)}",
                name.position,
            )
        return Call(func, tuple(args))

    def band(self, token: _Token) -> Node:
        index = self.resolve_band(token)
        self.bands_used.add(index)
        return Band(index)

    def resolve_band(self, token: _Token) -> int:
        """A name matches band_names case-insensitively first; otherwise b<N>/B<N> is band N.

        'b2' against names B02, B03 … would silently mean B03 (the 2nd band); that is almost
        certainly a mistake, so it is refused with a message naming both readings.
        """
        wanted = token.text.lower()
        names = self.band_names
        matches = [i + 1 for i, name in enumerate(names) if name and name.lower() == wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            choices = " or ".join(f"b{i}" for i in matches)
            raise ExpressionError(
                f"ambiguous band {token.text!r} at position {token.position} (several bands have this name; "
                f"use {choices})",
                token.position,
            )
        found = _INDEX_NAME.fullmatch(token.text)
        if found and 1 <= int(found.group(1)) <= len(names):
            index = int(found.group(1))
            lookalikes = [
                name
                for i, name in enumerate(names)
                if name and i + 1 != index and (m := _INDEX_NAME.fullmatch(name)) and int(m.group(1)) == index
            ]
            if lookalikes:
                raise ExpressionError(
                    f"ambiguous band {token.text!r} at position {token.position}: band {index} is "
                    f"{_band_label(names, index)!r} but {lookalikes[0]!r} is also a band; write the name",
                    token.position,
                )
            return index
        raise ExpressionError(
            f"unknown band {token.text!r} at position {token.position} (bands: {_band_list(names)})",
            token.position,
        )


def _band_label(names: Sequence[str | None], index: int) -> str:
    return names[index - 1] or f"b{index}"


def _band_list(names: Sequence[str | None], limit: int = 12) -> str:
    """The band names for an error message, kept to one readable line for hyperspectral stacks."""
    if not names:
        return "none"
    labels = [_band_label(names, i) for i in range(1, min(len(names), limit) + 1)]
    if len(names) > limit:
        labels.append(f"... {len(names)} bands")
    return ", ".join(labels)


# --- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression: a tree of nodes plus the 1-based bands it reads.

    Equality and hashing look at the tree only, where bands are indexes, so `(B08-B04)/(B08+B04)`
    and `(b4-b3)/(b4+b3)` over the same bands are equal: a good cache key. str() is a normalised
    text (band names as band_names spells them, or b<N> for bands without a usable name; lower-case
    functions; single spaces; only the parentheses precedence needs) that parses back to an equal
    expression with the same band_names.
    """

    root: Node
    bands: tuple[int, ...]
    labels: Mapping[int, str] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return self.root.text(self.labels)

    @property
    def cost(self) -> int:
        """The work per pixel, in nodes of the tree (numbers and bands included): what a render
        budget counts (raster/budget.py)."""
        return _count_nodes(self.root)

    def evaluate(self, data: Mapping[int, np.ndarray] | np.ndarray, dtype: type = np.float32,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Compute the expression per pixel.

        `data` is either a mapping of 1-based band index to a 2-D array (any numeric dtype; only
        `self.bands` need be present) or one array shaped (bands, H, W) indexed by band - 1.
        Arithmetic happens in `dtype` (float32 for pictures, float64 where statistics want it), so
        uint16 differences cannot wrap around; `out` (that dtype, the bands' shape) receives the
        result when given. Rows are computed CHUNK_PIXELS at a time, in place where possible, so
        memory does not grow with the expression; the render's deadline is checked between chunks
        (raster/budget.py). Division by zero, log(0), sqrt(-1) give inf/nan silently (no
        RuntimeWarning). NaN propagates through every operation, comparisons and where() included;
        masked arrays are read as NaN where masked and the result is masked where it is NaN.
        """
        masked = False
        if isinstance(data, np.ndarray):
            if data.ndim != 3:
                raise ValueError(f"expected an array shaped (bands, height, width), got shape {data.shape}")
            shape: tuple[int, ...] = data.shape[1:]
            get = lambda index: data[index - 1] if index <= data.shape[0] else None  # noqa: E731
        else:
            first = next(iter(data.values()), None)
            shape = np.shape(first) if first is not None else ()
            get = data.get
        compute = np.dtype(dtype)
        bands: dict[int, np.ndarray] = {}
        for index in self.bands:
            array = get(index)
            if array is None:
                raise ValueError(f"band {index} is used by the expression {self} but was not given")
            if isinstance(array, np.ma.MaskedArray):
                masked = True
            bands[index] = array
        result = np.empty(shape, compute) if out is None else out
        rows = shape[0] if shape else 1
        step = max(1, CHUNK_PIXELS // max(1, math.prod(shape[1:])))
        with np.errstate(all="ignore"):
            for start in range(0, rows, step):
                check_deadline()
                part = slice(start, start + step) if shape else ()
                chunk = {index: _as_values(array[part], compute) for index, array in bands.items()}
                value, _ = _evaluate(self.root, chunk, compute)
                result[part] = value
        if masked:
            return np.ma.MaskedArray(result, mask=np.isnan(result))
        return result


def _as_values(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A chunk of a band in the computing dtype, masked pixels as NaN (not owned: never written to)."""
    if isinstance(array, np.ma.MaskedArray):
        return np.ma.filled(array.astype(dtype), np.nan)
    return np.asarray(array, dtype=dtype)


def parse(text: str, band_names: Sequence[str | None]) -> Expression:
    """Parse one expression. `band_names[i]` is the name of band i+1 (None or '' if it has none).

    The list must be as long as the image has bands, so that b<N> can be checked against it.
    """
    _check_length(text)
    return _parse_part(text, band_names, 0)


def parse_many(text: str, band_names: Sequence[str | None]) -> list[Expression]:
    """Parse ';'-separated expressions, one per output band (e.g. three for an RGB of indexes).

    Positions in errors count from the start of the whole text. An empty part (`a;;b`, a
    trailing ';') is an error rather than silently dropped, so the output count is what was written.
    Expressions that use no band at all (`1`, `2*3`) are refused: nothing would be read, so there
    would be no pixels to compute them on (a constant beside a band, `b1;0`, is fine).
    """
    _check_length(text)
    expressions, start = [], 0
    for part in text.split(";"):
        expressions.append(_parse_part(part, band_names, start))
        start += len(part) + 1
    if not used_bands(expressions):
        raise ExpressionError(f"the expression {text.strip()!r} uses no band: write it with b1, b2, ... or a "
                              "band's name (a constant has no pixels to compute)", 0)
    return expressions


def used_bands(expressions: Sequence[Expression]) -> tuple[int, ...]:
    """The union of the bands of several expressions, sorted: what the reader must read."""
    return tuple(sorted({index for expression in expressions for index in expression.bands}))


def _check_length(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression too long: {len(text)} characters (limit {MAX_LENGTH})", MAX_LENGTH
        )


def _parse_part(text: str, band_names: Sequence[str | None], offset: int) -> Expression:
    parser = _Parser(text, band_names, offset)
    root = parser.parse()
    bands = tuple(sorted(parser.bands_used))
    return Expression(root, bands, {index: _label(band_names, index) for index in bands})


def _label(band_names: Sequence[str | None], index: int) -> str:
    """How str() names a band: its own name when that parses back to the same band, else b<N>."""
    name = band_names[index - 1]
    if name and name[0] in _IDENT_START and all(ch in _IDENT_CHARS for ch in name):
        try:
            if _Parser(name, band_names).resolve_band(_Token("name", name, 0)) == index:
                return name
        except ExpressionError:
            pass
    return f"b{index}"
