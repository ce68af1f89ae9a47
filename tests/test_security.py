"""Security through the real bot: admin commands, the webhook secret, button data, the token, flood
control, and no pickle anywhere."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from bot.conversation import texts
from bot.serving.lifecycle import Serving
from bot.testing.harness import (
    ADMIN_ID,
    BOT_USERNAME,
    RunningBot,
    copy_seeds,
    finish,
    plain,
    replies_to,
    running_bot,
    sent_to,
)
from bot.testing.processes import PASOKH, ROOT, bot_environment
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import GROUP_ID, SECRET_HEADER, USER_ID, BotApiStandin, Call, free_port

SUPERGROUP_ID = -1009876543210
SMALL_GROUP_ID = -4242


def texts_to(api: BotApiStandin, chat_id: int) -> list[str]:
    return [plain(m.text) if m.parse_mode else m.text for m in api.sent_messages(chat_id)]


async def ask(api: BotApiStandin, text: str, user_id: int = USER_ID) -> list[str]:
    """A private message; the plain text of the bot's reply messages."""
    before = len([c for c in api.calls("sendMessage") if c.status == 200 and int(c.params["chat_id"]) == user_id])
    api.private_message(text, user_id=user_id)
    calls = await api.wait_for(sent_to(user_id), count=before + 1)
    return [plain(c.params["text"]) for c in calls[before:]]


async def help_sentinel(api: BotApiStandin, chat_id: int | None = None, user_id: int = USER_ID) -> None:
    """/help in the chat, and wait for its reply: every earlier update of that chat has been handled."""
    chat = user_id if chat_id is None else chat_id
    if chat_id is None:
        api.private_message("/help", user_id=user_id)
    else:
        api.group_message(f"/help@{BOT_USERNAME}", chat_id=chat_id, user_id=user_id)
    await api.wait_for(lambda c: sent_to(chat)(c) and c.params["text"].startswith(texts.HELP))


# -- admin commands -----------------------------------------------------------------------------------


WHERE = {
    "private": lambda api, text: api.private_message(text),
    "group": lambda api, text: api.group_message(text, chat_id=SMALL_GROUP_ID),
    "supergroup": lambda api, text: api.group_message(text, chat_id=SUPERGROUP_ID),
}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("command", ["reload", "stats", "unanswered"])
@pytest.mark.parametrize("addressed", [False, True])
async def test_admin_commands_are_refused_to_everyone_else(
    api: BotApiStandin, bot: RunningBot, where: str, command: str, addressed: bool
) -> None:
    await ask(api, "قیمت دلار و سکه در بازار تهران چند است؟")  # something /unanswered would show
    index = bot.library.index
    text = f"/{command}@{BOT_USERNAME}" if addressed else f"/{command}"
    injected = WHERE[where](api, text)
    chat = injected.update["message"]["chat"]["id"]
    calls = await api.wait_for(sent_to(chat), count=2 if chat == USER_ID else 1)
    reply = calls[-1]
    assert reply.params["text"] == texts.NOT_ADMIN
    if where != "private":  # quoted, so the group sees whose command was refused
        assert reply.params["reply_parameters"]["message_id"] == injected.update["message"]["message_id"]
    await help_sentinel(api, None if where == "private" else chat)
    assert texts_to(api, chat)[-2:] == [texts.NOT_ADMIN, texts.HELP]  # one refusal and nothing else
    assert bot.library.index is index
    assert all("قیمت دلار" not in t for t in texts_to(api, chat)[-2:])


async def test_admin_commands_addressed_to_another_bot_are_ignored(api: BotApiStandin, bot: RunningBot) -> None:
    for command in ("reload", "stats", "unanswered"):
        api.group_message(f"/{command}@other_bot", chat_id=SMALL_GROUP_ID, user_id=ADMIN_ID)
        api.group_message(f"/{command}@other_bot", chat_id=SMALL_GROUP_ID)
    await help_sentinel(api, SMALL_GROUP_ID)
    assert texts_to(api, SMALL_GROUP_ID) == [texts.HELP]


async def test_an_edited_message_cannot_become_an_admin_command(api: BotApiStandin, bot: RunningBot) -> None:
    sent = api.private_message("سلام")
    await api.wait_for(sent_to(USER_ID))
    api.edited_message(USER_ID, sent.update["message"]["message_id"], "/reload")
    await help_sentinel(api)
    assert texts.NOT_ADMIN not in texts_to(api, USER_ID)
    assert texts.RELOADING not in texts_to(api, USER_ID)


async def test_an_admin_sees_unanswered_questions_only_in_private(api: BotApiStandin, bot: RunningBot) -> None:
    await ask(api, "قیمت دلار و سکه در بازار تهران چند است؟")
    asked = api.group_message(f"/unanswered@{BOT_USERNAME}", chat_id=SMALL_GROUP_ID, user_id=ADMIN_ID)
    [refusal] = await api.wait_for(replies_to(asked.update["message"]["message_id"], SMALL_GROUP_ID))
    assert refusal.params["text"] == texts.PRIVATE_ONLY  # users' questions are not shown to a group
    [listing] = await ask(api, "/unanswered", user_id=ADMIN_ID)
    assert "قیمت دلار" in listing
    stats = api.group_message(f"/stats@{BOT_USERNAME}", chat_id=SMALL_GROUP_ID, user_id=ADMIN_ID)
    [numbers] = await api.wait_for(replies_to(stats.update["message"]["message_id"], SMALL_GROUP_ID))
    assert "پرسش‌های بی‌پاسخ: ۱" in numbers.params["text"]  # counts only: fine in a group


# -- webhook ------------------------------------------------------------------------------------------


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status


async def test_webhook_requests_without_the_secret_change_nothing(api: BotApiStandin, tmp_path: Path) -> None:
    import json

    port = free_port()
    webhook = Serving(webhook_url="https://bot.example.org/hook", secret="s3cret-token", port=port)
    url = f"http://127.0.0.1:{port}/hook"
    async with running_bot(api, tmp_path, webhook=webhook) as running:
        index, counters = running.library.index, await running.records.counters()
        forged_reload = api.private_message("/reload", user_id=ADMIN_ID).update
        question = api.private_message(QUESTION).update
        body = json.dumps(forged_reload).encode()
        attempts = [
            {"Content-Type": "application/json"},  # no secret
            {"Content-Type": "application/json", SECRET_HEADER: "wrong"},
            {"Content-Type": "application/json", SECRET_HEADER: "s3cret-toke"},  # a prefix
            {"Content-Type": "application/json", SECRET_HEADER: "s3cret-token-and-more"},
            {"Content-Type": "application/json", SECRET_HEADER: "S3CRET-TOKEN"},
            {"Content-Type": "text/plain", SECRET_HEADER: "s3cret-token"},  # the right secret, wrong type
        ]
        assert [await _post(url, body, headers) for headers in attempts] == [403] * len(attempts)
        garbage = {"Content-Type": "application/json", SECRET_HEADER: "s3cret-token"}
        assert await _post(url, b"{not json", garbage) >= 400
        assert await _post(url, b'{"update_id": "x", "message": 5}', garbage) >= 400
        # The bot is unharmed; only the genuine question is answered.
        assert await api.post_to_webhook(url, question, secret_token="s3cret-token") == 200
        [call] = await api.wait_for(sent_to(USER_ID))
        assert COMMANDER in plain(call.params["text"])
        assert running.library.index is index
        assert not api.sent_messages(ADMIN_ID)
        after = await running.records.counters()
    assert after == {**counters, "answered": counters.get("answered", 0) + 1}


# -- button data --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "more:1:1\n",
        "more:1:1 ",
        " more:1:1",
        "more:+1:1",
        "more:-1:1",
        "more:١:١",  # Arabic-Indic digits: int() would accept them
        "more:1:1:1",
        "art:1:../../etc/passwd",
        "art:/etc/passwd:0",
        "art:1:0/../../seeds",
        "file:1:0",
        "more:1111111111111111:0",  # 16 digits
        "more:1:100",
    ],
)
async def test_malformed_button_data_is_refused(api: BotApiStandin, bot: RunningBot, data: str) -> None:
    api.private_message(QUESTION)  # question id 1, this chat's
    [first] = await api.wait_for(sent_to(USER_ID))
    api.callback_query(USER_ID, first.response["result"]["message_id"] if first.response else 0, data)
    [answer] = await api.wait_for("answerCallbackQuery")
    assert answer.params["text"] == texts.EXPIRED
    await help_sentinel(api)
    assert not api.calls("editMessageText")
    assert len(api.sent_messages(USER_ID)) == 2  # the answer and the help: no article was sent


async def test_a_private_questions_buttons_cannot_be_used_from_a_group(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(QUESTION)
    [first] = await api.wait_for(sent_to(USER_ID))
    keyboard = first.params["reply_markup"]["inline_keyboard"]
    asked = api.group_message(f"/ask@{BOT_USERNAME} سلام", chat_id=SMALL_GROUP_ID)
    [theirs] = await api.wait_for(replies_to(asked.update["message"]["message_id"], SMALL_GROUP_ID))
    their_id = theirs.response["result"]["message_id"] if theirs.response else 0
    for data in (keyboard[0][0]["callback_data"], keyboard[-1][0]["callback_data"]):  # «more», «article»
        api.callback_query(SMALL_GROUP_ID, their_id, data)
    answers = await api.wait_for("answerCallbackQuery", count=2)
    assert [a.params["text"] for a in answers] == [texts.EXPIRED, texts.EXPIRED]
    await help_sentinel(api, SMALL_GROUP_ID)
    assert not api.calls("editMessageText")
    assert COMMANDER not in " ".join(texts_to(api, SMALL_GROUP_ID))


# -- the token --------------------------------------------------------------------------------------


def _environment(api_base_url: str, token: str, tmp_path: Path) -> dict[str, str]:
    seeds = copy_seeds(tmp_path / "seeds")
    return bot_environment(api_base_url, token, seeds, tmp_path / "state", PASOKH_ADMIN_IDS=str(ADMIN_ID))


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(PASOKH), "run", "--debug", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


def _secrets(token: str) -> list[str]:
    return [token, token.split(":", 1)[1]]


@pytest.mark.slow
async def test_the_token_never_appears_in_logs_errors_or_replies(api: BotApiStandin, tmp_path: Path) -> None:
    process = await _start(_environment(api.base_url, api.token, tmp_path))
    try:
        await api.wait_for("getUpdates", timeout=120)
        await ask(api, QUESTION)
        await ask(api, "/stats", user_id=ADMIN_ID)
        await ask(api, "<script>alert(1)</script>")
        # A handler error (Telegram refuses the answer): logged with its traceback, then an apology.
        api.fail_next("sendMessage", 400)
        [apology] = await ask(api, "بسیج یعنی چه؟")
        assert apology == texts.ERROR
    finally:
        output = await finish(process)
    assert process.returncode == 0, output[-3000:]
    assert "error while handling an update" in output and "Traceback" in output
    assert "Calling Bot API endpoint" in output  # DEBUG lines were written
    assert "[redacted]" in output  # a line that held the token was written, redacted
    sent: list[Call] = api.calls()
    for secret in _secrets(api.token):
        assert secret not in output
        assert all(secret not in str(call.params) and secret not in str(call.response) for call in sent)


@pytest.mark.slow
async def test_an_article_holding_the_token_never_sends_it(api: BotApiStandin, tmp_path: Path, caplog) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    secret_half = api.token.split(":", 1)[1]
    (seeds / "leak.txt").write_text(
        f"تنظیمات ربات\nکلید ربات تلگرام TELEGRAM_BOT_TOKEN={api.token} است.\nنیمهٔ دوم کلید {secret_half} است.\n",
        encoding="utf-8",
    )
    async with running_bot(api, tmp_path, seeds=seeds):
        api.private_message("کلید ربات تلگرام چیست؟")
        [reply] = await api.wait_for(sent_to(USER_ID))
        assert "TELEGRAM_BOT_TOKEN" in reply.params["text"]  # the article was found and shown...
        article = reply.params["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
        api.callback_query(USER_ID, reply.response["result"]["message_id"] if reply.response else 0, article)
        await api.wait_for(sent_to(USER_ID), count=2)
        api.inline_query("کلید ربات تلگرام")
        await api.wait_for("answerInlineQuery")
        # Asked with the token's own words, the reply sets them in bold: «AAStandin-<b>token</b>_for_…»
        # would show the whole token with tags inside it.
        api.private_message("AAStandin token tests")
        [*_, bold] = await api.wait_for(sent_to(USER_ID), count=3)
    assert bold.status == 200 and "<b>" in bold.params["text"]  # still valid HTML, words still marked
    sent = [c for c in api.calls() if c.method in ("sendMessage", "answerInlineQuery", "editMessageText")]
    assert len(sent) == 4
    ascii_digits = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
    for call in sent:  # ...without the secret, whole or half, in any digit shape or spacing, as shown
        params = str(call.params) + "".join(plain(call.params["text"]) for _ in [0] if "text" in call.params)
        assert secret_half not in "".join(params.translate(ascii_digits).split())
    assert "[…]" in str(sent[0].params) and "[…]" in plain(bold.params["text"])
    assert any("a secret was removed from an outgoing sendMessage" in r.message for r in caplog.records)
    assert not any(secret_half in r.getMessage() for r in caplog.records)


TOKEN = "123456789:AAStandin-token_for_tests_0123456789"
HALF = TOKEN.split(":", 1)[1]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # a question's words in bold inside the token: Telegram shows the whole token
        ("کلید= ۱۲۳۴۵۶۷۸۹:<b>AAStandin</b>-token_for_<b>tests</b>_0123456789 است.", "کلید= […] است."),
        ("<b>AAStandin</b>-token_for_tests_0 …", "<b>[…]</b> …"),  # cut past half: the tags stay balanced
        ("<blockquote>AAStandin-token_for</blockquote>\n<b>_tests_0123</b> و", "<blockquote>[…]</blockquote> و"),
        ("AAStandin-\u200c token_for_tests\u2069_٠١٢٣٤٥٦٧٨٩", "[…]"),  # invisible marks, Arabic-Indic digits
        ("<AAStandin-token_for_tests_0123456789>", "<[…]>"),  # plain text: «<» and «>» are shown, not tags
        ("pass p&amp;ss&lt;wo&gt;rd!! here", "pass […] here"),  # HTML-escaped characters of a secret
        # less than half of a secret, or ordinary text, is left alone
        ("AAStandin-token …", "AAStandin-token …"),
        ("سال ۱۲۳۴ و شمارهٔ 0123456789 و 123456789", "سال ۱۲۳۴ و شمارهٔ 0123456789 و 123456789"),
    ],
)
def test_a_secret_is_found_however_the_reply_shows_it(written: str, expected: str) -> None:
    from bot.sending import SecretFinder

    assert SecretFinder([TOKEN, HALF, "p&ss<wo>rd!!"]).redact(written) == expected


@pytest.mark.slow
async def test_a_rejected_token_is_a_clear_error_without_the_token(tmp_path: Path) -> None:
    async with BotApiStandin() as api:
        wrong = "987654321:AAWrongWrongWrong-token_for_tests_000"
        process = await _start(_environment(api.base_url, wrong, tmp_path))
        output = await asyncio.wait_for(_finish_when_exited(process), timeout=120)
    assert process.returncode == 2, output[-3000:]
    assert "rejected TELEGRAM_BOT_TOKEN" in output
    for secret in _secrets(wrong):
        assert secret not in output


async def _finish_when_exited(process: asyncio.subprocess.Process) -> str:
    await process.wait()
    return await finish(process)


# -- flood control ------------------------------------------------------------------------------------


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every question the bot searched for (the retrieval entry point, counted)."""
    import bot.conversation.handlers

    asked: list[str] = []
    real = bot.conversation.handlers.answer

    def counting(index: Any, question: str, k: int = 3) -> Any:
        asked.append(question)
        return real(index, question, k)

    monkeypatch.setattr(bot.conversation.handlers, "answer", counting)
    return asked


async def test_past_the_limit_one_slow_down_message_and_no_search(
    api: BotApiStandin, tmp_path: Path, searches: list[str]
) -> None:
    async with running_bot(api, tmp_path, questions_per_minute=3):
        for i in range(8):
            api.private_message(f"{QUESTION} {i}")
        other = 2002
        api.private_message(QUESTION, user_id=other)  # another user is not limited
        await help_sentinel(api)
        await help_sentinel(api, user_id=other)
    replies = texts_to(api, USER_ID)
    assert len(replies) == 5  # three answers, one slow-down, the help
    assert all(COMMANDER in r for r in replies[:3])
    assert replies[3] == texts.SLOW_DOWN
    assert sorted(searches) == sorted([f"{QUESTION} {i}" for i in range(3)] + [QUESTION])
    assert COMMANDER in texts_to(api, other)[0]


async def test_the_limit_holds_in_groups_and_through_ask(
    api: BotApiStandin, tmp_path: Path, searches: list[str]
) -> None:
    async with running_bot(api, tmp_path, questions_per_minute=2):
        for _ in range(4):
            api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")
        await help_sentinel(api, GROUP_ID)
    replies = texts_to(api, GROUP_ID)
    assert [COMMANDER in r for r in replies] == [True, True, False, False]
    assert replies[2] == texts.SLOW_DOWN
    assert len(searches) == 2


async def test_inline_queries_and_buttons_are_limited_without_searching(
    api: BotApiStandin, tmp_path: Path, searches: list[str]
) -> None:
    async with running_bot(api, tmp_path, questions_per_minute=1):  # 3 lookups a minute
        api.private_message(QUESTION)
        [first] = await api.wait_for(sent_to(USER_ID))
        more = first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        message_id = first.response["result"]["message_id"] if first.response else 0
        for i in range(3):
            api.inline_query(f"{QUESTION} {i}")
        answers = await api.wait_for("answerInlineQuery", count=3)
        api.inline_query("بسیج یعنی چه؟")  # the fourth lookup: refused
        api.callback_query(USER_ID, message_id, more)  # the fifth: refused
        over = await api.wait_for("answerInlineQuery", count=4)
        [pressed] = await api.wait_for("answerCallbackQuery")
    assert all(a.params["results"] for a in answers)
    assert over[-1].params["results"] == []
    assert pressed.params["text"] == texts.SLOW_DOWN_SHORT
    assert not api.calls("editMessageText")
    assert len(searches) == 4  # the question and three inline queries


def test_the_flood_guard_forgets_idle_users() -> None:
    from bot.backend.interfaces import Verdict
    from bot.backend.local import LocalGuard

    guard = LocalGuard(per_minute=2)
    for user in range(1000):
        assert guard.check(user, now=0.0) is Verdict.OK
    assert guard.check(1, now=1.0) is Verdict.OK
    assert guard.check(1, now=2.0) is Verdict.WARN
    assert guard.check(1, now=3.0) is Verdict.QUIET
    assert guard.check(5000, now=60.5) is Verdict.OK  # a minute later: the idle users are swept
    assert len(guard) == 2  # user 1 (last asked at 1.0) is still within its minute, and user 5000
    assert guard.check(1, now=62.5) is Verdict.OK


# -- no pickle --------------------------------------------------------------------------------------

_NO_PICKLE_PROBE = textwrap.dedent(
    """
    import asyncio, json, pickle, sys
    used = []
    sys.addaudithook(lambda event, args: used.append(event) if event == "pickle.find_class" else None)
    def forbidden(name):
        def refuse(*args, **kwargs):
            used.append(name)
            raise AssertionError(f"{name} called")
        return refuse
    for name in ("load", "loads", "_load", "_loads"):
        setattr(pickle, name, forbidden(f"pickle.{name}"))
    for name in ("Unpickler", "_Unpickler"):  # subclassed at import by nltk (via hazm): keep them classes
        base = getattr(pickle, name)
        setattr(pickle, name, type(name, (base,), {"load": forbidden(f"pickle.{name}.load")}))
    import numpy
    real_load = numpy.load
    def checked_load(*args, **kwargs):
        if kwargs.get("allow_pickle"):
            used.append("numpy.load(allow_pickle=True)")
        return real_load(*args, **kwargs)
    numpy.load = checked_load

    # The detectors work: each of these is seen (then forgotten before the real work).
    import _pickle, fractions, io
    for attempt in (lambda: pickle.loads(b"N."), lambda: _pickle.loads(pickle.dumps(fractions.Fraction(1, 3)))):
        try:
            attempt()
        except AssertionError:
            pass
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.arange(3))
    buffer.seek(0)
    numpy.load(buffer, allow_pickle=True)
    canaries, used[:] = list(used), []

    from pathlib import Path
    from bot.cli import main
    from bot.library import Library
    from bot.backend.local import SqliteRecords
    from retrieval.answer import answer
    seeds, index_dir, state_dir = map(Path, sys.argv[1:4])
    Library(seeds, index_dir).open()              # builds and saves
    library = Library(seeds, index_dir)
    index = library.open()                        # loads the saved index
    answered = answer(index, "فرمانده انتظامی استان لرستان کیست؟").answered
    async def record():
        records = SqliteRecords(state_dir)
        await records.count("answered")
        await records.log_unanswered("؟", "private")
        await records.close()
        await SqliteRecords(state_dir).counters()
    asyncio.run(record())
    code = main(["ask", "--index", str(index_dir), "--json", "سردار جمشیدی پور"])
    report = {"canaries": canaries, "used": used, "answered": answered, "code": code}
    print(json.dumps(report | {"loaded": library.index is index}))
    """
)


@pytest.mark.slow
def test_no_pickle_is_loaded_while_indexes_are_built_saved_and_loaded(tmp_path: Path) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    result = subprocess.run(
        [sys.executable, "-c", _NO_PICKLE_PROBE, str(seeds), str(tmp_path / "index"), str(tmp_path / "state")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["canaries"] == ["pickle.loads", "pickle.find_class", "numpy.load(allow_pickle=True)"]
    assert report | {"canaries": None} == {"canaries": None, "used": [], "answered": True, "code": 0, "loaded": True}
    assert (tmp_path / "index" / "manifest.json").exists()


def test_the_code_loads_no_pickles() -> None:
    """A second line of defence: no pickle, marshal, shelve or allow_pickle=True in the shipped code."""
    forbidden = ("import pickle", "from pickle", "allow_pickle=True", "import shelve", "import marshal", "joblib")
    for folder in ("bot", "retrieval"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            assert not [f for f in forbidden if f in source], path
