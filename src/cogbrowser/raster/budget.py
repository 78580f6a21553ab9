"""What one render may cost: a budget checked before any pixel is read, and a deadline checked between steps.

A render's work grows with its output pixels times the work per pixel, and band math makes the
latter the user's choice: `min(b1+0, b1+0, ...)` is 598 nodes in 999 characters, so a 2048 x 2048
GetMap of it was 2.5 billion node-pixel operations (and, before evaluation was chunked, 6.5 GB).
`check_cost` refuses such a render up front (`RenderTooCostly`, an InvalidInput naming the budget
and the figures); `check_deadline` stops a render that is still running when its time is up
(`RenderDeadlineExceeded`), between chunks and steps, since a GDAL read cannot be interrupted
mid-call.

The limits of the render in progress are a context variable: the web layer enters them for each
request (`render_limits`), the core reads them where it computes, so no signature between the two
carries them. Outside a request (the CLI, tests of the core) the default budget applies and there
is no deadline. A background job (an export or a timelapse run as a job) enters them too, with its
own time limit as the deadline and an `interrupt` that `check_deadline` calls at each step: the
job's cancel and time-limit check, so a cancelled render stops between chunks, not only at its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from cogbrowser.config import DEFAULT_RENDER_BUDGET
from cogbrowser.errors import CogbrowserError, InvalidInput

__all__ = ["RenderLimits", "RenderTooCostly", "RenderDeadlineExceeded", "render_limits", "enter_limits",
           "leave_limits", "current_limits", "check_cost", "check_deadline"]


@dataclass(frozen=True)
class RenderLimits:
    """`budget`: expression nodes x output pixels (x frames) one render may cost; `deadline`: the
    time.monotonic() after which it stops (None: never); `seconds`: how long it was given;
    `interrupt`: called at each deadline check, raises to stop the render (a job's cancel)."""

    budget: int = DEFAULT_RENDER_BUDGET
    deadline: float | None = None
    seconds: float | None = None
    interrupt: Callable[[], None] | None = None


class RenderTooCostly(InvalidInput):
    """A render would cost more than the budget allows; the message names the budget and the figures."""

    def __init__(self, message: str, cost: int, budget: int) -> None:
        super().__init__(message)
        self.cost, self.budget = cost, budget


class RenderDeadlineExceeded(CogbrowserError):
    """A render ran past its deadline and was stopped; worth retrying when the server is less busy."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(f"the render was stopped after its deadline of {seconds:g} s (COGBROWSER_RENDER_DEADLINE); "
                         "the server may be busy: retry later, or ask for fewer pixels or a simpler expression")
        self.seconds = seconds


_DEFAULT_LIMITS = RenderLimits()
_LIMITS: ContextVar[RenderLimits | None] = ContextVar("render_limits", default=None)


def current_limits() -> RenderLimits:
    """The limits of the render in progress: those a request entered, else the default budget."""
    return _LIMITS.get() or _DEFAULT_LIMITS


def enter_limits(budget: int, seconds: float | None,
                 interrupt: Callable[[], None] | None = None) -> Token[RenderLimits | None]:
    """Start the limits of one render (one request): its budget, and a deadline `seconds` from now."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    return _LIMITS.set(RenderLimits(budget, deadline, seconds, interrupt))


def leave_limits(token: Token[RenderLimits | None]) -> None:
    _LIMITS.reset(token)


@contextmanager
def render_limits(budget: int, seconds: float | None,
                  interrupt: Callable[[], None] | None = None) -> Iterator[RenderLimits]:
    """The limits of the renders inside the `with` block (see enter_limits)."""
    token = enter_limits(budget, seconds, interrupt)
    try:
        yield current_limits()
    finally:
        leave_limits(token)


def check_cost(nodes: int, pixels: int, frames: int = 1, what: str = "this render",
               unit: str = "expression nodes") -> None:
    """RenderTooCostly when `nodes` per pixel (expression nodes, or one per band: `unit` says which)
    x `pixels` x `frames` (images read one after another) is above the budget."""
    budget = current_limits().budget
    cost = nodes * pixels * frames
    if cost <= budget:
        return
    parts = [f"{nodes:,} {unit[:-1] if nodes == 1 else unit}", f"{pixels:,} pixels"]
    if frames != 1:
        parts.append(f"{frames:,} images")
    raise RenderTooCostly(
        f"{what} would cost {cost:,} ({' x '.join(parts)}), above the render budget of {budget:,} "
        "(COGBROWSER_RENDER_BUDGET): ask for fewer pixels, fewer images or a simpler expression", cost, budget)


def check_deadline() -> None:
    """RenderDeadlineExceeded when the render in progress has run past its deadline (and whatever
    its `interrupt` raises: a job's cancel)."""
    limits = current_limits()
    if limits.interrupt is not None:
        limits.interrupt()
    if limits.deadline is not None and time.monotonic() > limits.deadline:
        raise RenderDeadlineExceeded(limits.seconds)
