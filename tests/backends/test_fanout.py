"""What the fanout under both event buses promises beyond the contract: whoever
waits for a job's end hears when the events stop, and leaves nothing behind."""

from __future__ import annotations

import pytest

from inferql.backends.fanout import Fanout
from inferql.errors import OverloadedError, UnavailableError


async def test_whoever_waits_for_an_end_hears_when_the_events_stop() -> None:
    fanout = Fanout(buffer=4)
    async with fanout.ending("job-1") as ended:
        fanout.end_all()
        with pytest.raises(UnavailableError):
            await ended
    async with fanout.ending("job-2") as ended:
        fanout.end_all(OverloadedError("gone"))
        with pytest.raises(OverloadedError):
            await ended


async def test_an_ending_left_unawaited_leaves_nothing_behind() -> None:
    fanout = Fanout(buffer=4)
    for _ in range(3):
        async with fanout.ending("job-1"):
            pass
    async with fanout.ending("job-1"):
        fanout.end_all()  # an error nobody awaits is retrieved on exit, not logged
    assert fanout._endings == {}
