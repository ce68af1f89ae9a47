"""The update processor: one chat's updates in turn, late ones dropped, a bounded shutdown."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Update

import bot.serving.updates
from bot.serving.updates import DropReason, PerChatUpdateProcessor


def _update(update_id: int, chat_id: int = -100) -> Update:
    message = {"message_id": update_id, "date": 0, "chat": {"id": chat_id, "type": "group"}, "text": "?"}
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def test_an_update_that_waited_past_the_bound_is_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.serving.updates, "LATE_AFTER", 0.2)
    dropped: list[DropReason] = []
    processor = PerChatUpdateProcessor(on_drop=dropped.append)
    handled: list[int] = []

    async def handle(n: int, seconds: float) -> None:
        await asyncio.sleep(seconds)
        handled.append(n)

    await asyncio.gather(
        processor.process_update(_update(1), handle(1, 0.5)),  # a slow reply holds the group up...
        processor.process_update(_update(2), handle(2, 0.0)),  # ...past the bound: dropped
        processor.process_update(_update(3, chat_id=7), handle(3, 0.0)),  # another chat is not held up
    )
    assert handled == [3, 1]
    assert dropped == ["late"]


async def test_shutdown_drops_waiting_updates_and_cancels_slow_ones_within_the_grace() -> None:
    dropped: list[DropReason] = []
    processor = PerChatUpdateProcessor(on_drop=dropped.append)
    started = asyncio.Event()

    async def held_back() -> None:  # a reply waiting for the group's flood limit
        started.set()
        await asyncio.sleep(3600)

    async def quick() -> None:
        raise AssertionError("a waiting update must not be handled after shutdown began")

    first = asyncio.ensure_future(processor.process_update(_update(1), held_back()))
    waiting = [asyncio.ensure_future(processor.process_update(_update(n), quick())) for n in range(2, 50)]
    await started.wait()
    began = time.monotonic()
    await processor.close(grace=0.3)
    await asyncio.gather(*waiting)
    assert time.monotonic() - began < 3
    assert first.cancelled() or first.done()
    assert dropped == ["shutdown"] * 48


async def test_a_channel_post_is_never_dropped_as_late(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.serving.updates, "LATE_AFTER", 0.1)
    processor = PerChatUpdateProcessor()
    handled: list[int] = []

    async def handle(n: int, seconds: float) -> None:
        await asyncio.sleep(seconds)
        handled.append(n)

    def post(update_id: int) -> Update:
        message = {"message_id": update_id, "date": 0, "chat": {"id": -1009, "type": "channel"}, "text": "خبر"}
        return Update.de_json({"update_id": update_id, "channel_post": message}, None)

    # A publication that takes long (a rebuild) holds the channel's next post up: it is an article, kept.
    await asyncio.gather(
        processor.process_update(post(1), handle(1, 0.3)), processor.process_update(post(2), handle(2, 0))
    )
    assert handled == [1, 2]
