"""The real `pasokh run` process against the stand-in: answers, never logs the token, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.testing.harness import copy_seeds, sent_to
from bot.testing.processes import PASOKH, ROOT, bot_environment, pasokh_environment
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import USER_ID, BotApiStandin, parse_html

pytestmark = pytest.mark.slow  # starts pasokh or Python processes


@pytest_asyncio.fixture
async def api() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin() as standin:
        yield standin


def _environment(api: BotApiStandin, tmp_path: Path) -> dict[str, str]:
    seeds = copy_seeds(tmp_path / "seeds")
    return bot_environment(api.base_url, api.token, seeds, tmp_path / "state", PASOKH_ADMIN_IDS="4242")


async def test_pasokh_run_answers_keeps_the_token_out_of_its_output_and_stops_on_sigterm(
    api: BotApiStandin, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(PASOKH),
        "run",
        cwd=ROOT,
        env=_environment(api, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await api.wait_for("getUpdates", timeout=120)  # started: hazm and the index are loaded
        api.private_message(QUESTION)
        [call] = await api.wait_for(sent_to(USER_ID), timeout=30)
        assert COMMANDER in parse_html(call.params["text"])[0]
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode("utf-8", errors="replace")
    assert process.returncode == 0, text
    assert api.token not in text
    assert api.token.split(":")[1] not in text  # not even the secret half
    assert "serving 1 articles, 13 sentences" in text
    assert "privacy mode is on" in text


async def test_pasokh_run_without_a_token_points_to_chat(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        str(PASOKH),
        "run",
        cwd=ROOT,
        env=pasokh_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert "TELEGRAM_BOT_TOKEN" in lines[0] and "pasokh chat" in lines[0]
    assert out == b""


async def test_sigterm_with_a_flooded_group_and_a_reply_held_by_telegram_stops_within_the_grace(
    api: BotApiStandin, tmp_path: Path
) -> None:
    """Docker and systemd wait 75 s after SIGTERM (deploy/). The group's answer is told to wait an hour
    (429 retry_after), 300 more questions queue behind it: the queued ones are dropped at once, the held
    one is cancelled after STOP_GRACE, and the process exits cleanly well inside 75 s."""
    from bot.serving.lifecycle import STOP_GRACE
    from bot.testing.harness import BOT_USERNAME
    from bot.testing.standin import GROUP_ID

    process = await asyncio.create_subprocess_exec(
        str(PASOKH),
        "run",
        cwd=ROOT,
        env=_environment(api, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await api.wait_for("getUpdates", timeout=120)
        api.fail_next("sendMessage", 429, retry_after=3600)
        api.group_message(f"/ask@{BOT_USERNAME} فرمانده انتظامی استان لرستان کیست؟", chat_id=GROUP_ID)
        await api.wait_for(lambda c: c.method == "sendMessage" and c.status == 429, timeout=30)
        for i in range(300):
            api.group_message(f"/ask@{BOT_USERNAME} پرسش {i}", chat_id=GROUP_ID)
        await api.wait_for(lambda c: c.method == "getUpdates" and c.response and len(c.response["result"]) >= 100)
        stopping = asyncio.get_running_loop().time()
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=75)
        seconds = asyncio.get_running_loop().time() - stopping
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode("utf-8", errors="replace")
    assert process.returncode == 0, text[-3000:]
    assert STOP_GRACE - 1 < seconds < STOP_GRACE + 15, seconds
    assert "still being handled after 30 s are cancelled" in text
    assert "dropped an update (shutdown" in text
    assert "Traceback" not in text
    assert not [c for c in api.calls("sendMessage") if c.status == 200]  # nothing was answered meanwhile
