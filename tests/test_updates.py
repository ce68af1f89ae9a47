"""The update processor: one chat's updates in turn, late ones dropped, a bounded shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from telegram import Update

import bot.serving.updates
from bot.serving.updates import DropReason, PerChatUpdateProcessor
from bot.testing.harness import BOT_USERNAME, RunningBot, plain, running_bot, sent_to
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import USER_ID, BotApiStandin


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


# -- the real bot, flooded ----------------------------------------------------------------------------


async def test_a_flooded_group_is_answered_within_the_bound_and_the_rest_counted_then_stopped_promptly(
    api: BotApiStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram's 20 messages a minute per group (PTB's rate limiter) against 60 questions at once: what
    cannot be answered within the bound is dropped and counted in /metrics, a private chat is answered
    meanwhile; at shutdown a second flood's waiting questions are dropped and the bot stops in seconds."""
    monkeypatch.setattr(bot.serving.updates, "LATE_AFTER", 2.0)
    first_group, second_group = -1001, -1002

    def count(running: RunningBot, reason: str) -> int:
        return int(running.metrics.registry.get_sample_value("pasokh_dropped_updates_total", {"reason": reason}) or 0)

    def answered(chat_id: int) -> int:
        return len([c for c in api.calls("sendMessage") if c.status == 200 and int(c.params["chat_id"]) == chat_id])

    async with running_bot(api, tmp_path, rate_limiter=True) as running:
        started = time.monotonic()
        for _ in range(60):
            api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}", chat_id=first_group)
        api.private_message(QUESTION)
        [private] = await api.wait_for(sent_to(USER_ID), timeout=10)  # not held up by the group
        assert COMMANDER in plain(private.params["text"])
        while answered(first_group) + count(running, "late") < 60:
            assert time.monotonic() - started < 30, (answered(first_group), count(running, "late"))
            await asyncio.sleep(0.1)
        flood_seconds = time.monotonic() - started
        late = count(running, "late")
        for _ in range(100):
            api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}", chat_id=second_group)
        await api.wait_for(sent_to(second_group), timeout=10)  # the second flood is being handled
        stopping = time.monotonic()
    stop_seconds = time.monotonic() - stopping
    assert 20 <= answered(first_group) <= 25  # Telegram's burst, and about one every 3 s within the bound
    assert late == 60 - answered(first_group) and flood_seconds < 15
    assert answered(second_group) + count(running, "shutdown") + count(running, "late") - late == 100
    assert count(running, "shutdown") > 0
    assert stop_seconds < 10  # what waited was dropped; the reply held by the limiter finished or was cut
