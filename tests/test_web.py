"""The bot's HTTP server and run lifecycle, over real HTTP: webhook, /healthz, /metrics, start and stop."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot.library import Library
from bot.serving.application import build_application
from bot.serving.lifecycle import Serving, StartError, serve
from bot.serving.metrics import Metrics
from bot.serving.web import WebServer
from bot.settings import Settings
from bot.testing.harness import ADMIN_ID, BOT_USERNAME, RunningBot, copy_seeds, finish, running_bot, sent_to
from bot.testing.processes import PASOKH, ROOT, bot_environment
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import GROUP_ID, SECRET_HEADER, USER_ID, BotApiStandin, free_port, parse_html

UNANSWERABLE = "قیمت دلار و سکه در بازار تهران چند است؟"
SECRET = "web-test-secret"
HOOK = "https://bot.example.org/pasokh"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest_asyncio.fixture
async def api() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin() as standin:
        yield standin


@pytest_asyncio.fixture
async def hooked(api: BotApiStandin, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot receiving updates by webhook on the bot's own server."""
    webhook = Serving(webhook_url=HOOK, secret=SECRET, port=0)
    async with running_bot(api, tmp_path, webhook=webhook) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


def base(running: RunningBot) -> str:
    assert running.web is not None
    return f"http://127.0.0.1:{running.web.port}"


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


async def post_update(http: httpx.AsyncClient, url: str, update: Any, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"} | ({SECRET_HEADER: secret} if secret is not None else {})
    return (await http.post(f"{url}/pasokh", content=json.dumps(update), headers=headers)).status_code


# -- /healthz and /metrics ----------------------------------------------------------------------------


async def test_healthz_reports_the_loaded_index(hooked: RunningBot, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{base(hooked)}/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert (body["articles"], body["sentences"]) == (1, 13)
    assert body["uptime_seconds"] >= 0
    assert body["index_built_at"] == hooked.library.index.manifest["built_at"]
    head = await http.head(f"{base(hooked)}/healthz")  # uptime checkers and load balancers often send HEAD
    assert (head.status_code, head.headers["content-type"], head.content) == (200, "application/json", b"")


async def test_healthz_is_503_before_the_index_is_loaded(tmp_path: Path, http: httpx.AsyncClient) -> None:
    settings = Settings(token="1:x", seeds_dir=copy_seeds(tmp_path / "seeds"), state_dir=tmp_path / "state")
    library = Library(settings.seeds_dir)  # not opened
    metrics = Metrics(library)
    application = build_application(settings, library, metrics=metrics, rate_limiter=False)
    server = WebServer(application, metrics, port=0)
    await server.start()
    try:
        response = await http.get(f"http://127.0.0.1:{server.port}/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "loading"
        assert (await http.head(f"http://127.0.0.1:{server.port}/healthz")).status_code == 503
        scraped = await scrape(http, f"http://127.0.0.1:{server.port}")
        assert value(scraped, "pasokh_articles") == 0
    finally:
        await server.stop()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)  # closes the state


async def test_metrics_count_questions_answers_and_latency(
    api: BotApiStandin, hooked: RunningBot, http: httpx.AsyncClient
) -> None:
    url = base(hooked)
    before = await scrape(http, url)
    for kind in ("private", "group", "inline"):
        assert value(before, "pasokh_questions_total", chat_type=kind) == 0
    assert value(before, "pasokh_answered_total") == value(before, "pasokh_unanswered_total") == 0
    assert value(before, "pasokh_answer_seconds_count") == 0
    assert (value(before, "pasokh_articles"), value(before, "pasokh_sentences")) == (1, 13)
    assert value(before, "process_resident_memory_bytes") > 0

    assert await post_update(http, url, api.private_message(QUESTION).update) == 200
    await api.wait_for(sent_to(USER_ID))
    assert await post_update(http, url, api.private_message(UNANSWERABLE).update) == 200
    await api.wait_for(sent_to(USER_ID), count=2)
    assert await post_update(http, url, api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}").update) == 200
    await api.wait_for(sent_to(GROUP_ID))
    assert await post_update(http, url, api.inline_query("هاشمیفر").update) == 200
    await api.wait_for("answerInlineQuery")
    assert await post_update(http, url, api.private_message("سلام").update) == 200  # no words to search for
    await api.wait_for(sent_to(USER_ID), count=3)

    after = await scrape(http, url)
    assert value(after, "pasokh_questions_total", chat_type="private") == 3
    assert value(after, "pasokh_questions_total", chat_type="group") == 1
    assert value(after, "pasokh_questions_total", chat_type="inline") == 1
    assert value(after, "pasokh_answered_total") == 2
    assert value(after, "pasokh_unanswered_total") == 1
    assert value(after, "pasokh_answer_seconds_count") == 5
    assert 0 < value(after, "pasokh_answer_seconds_sum") < 30
    assert value(after, "pasokh_answer_seconds_bucket", le="+Inf") == 5
    # The SQLite counters behind /stats agree.
    assert await hooked.records.counters() == {"answered": 2, "unanswered": 1}


async def test_metrics_count_reloads_that_worked_and_that_failed(
    api: BotApiStandin, hooked: RunningBot, http: httpx.AsyncClient
) -> None:
    import shutil

    url = base(hooked)
    assert await post_update(http, url, api.private_message("/reload", user_id=ADMIN_ID).update) == 200
    await api.wait_for(sent_to(ADMIN_ID), count=2)  # «reloading…», then the report
    shutil.rmtree(hooked.seeds)
    assert await post_update(http, url, api.private_message("/reload", user_id=ADMIN_ID).update) == 200
    [*_, failed] = await api.wait_for(sent_to(ADMIN_ID), count=4)
    assert "ناموفق" in failed.params["text"]
    scraped = await scrape(http, url)
    assert value(scraped, "pasokh_reloads_total", result="ok") == 1
    assert value(scraped, "pasokh_reloads_total", result="failed") == 1
    assert value(scraped, "pasokh_articles") == 1  # the old index stays


# -- the webhook ----------------------------------------------------------------------------------


async def test_webhook_refuses_requests_without_the_secret_and_bodies_that_are_not_updates(
    api: BotApiStandin, hooked: RunningBot, http: httpx.AsyncClient
) -> None:
    url = base(hooked)
    update = api.private_message(QUESTION).update
    assert await post_update(http, url, update, secret=None) == 403
    assert await post_update(http, url, update, secret="wrong") == 403
    assert await post_update(http, url, update, secret=SECRET[:-1]) == 403
    assert await post_update(http, url, update, secret=SECRET + "x") == 403
    headers = {SECRET_HEADER: SECRET}
    body = json.dumps(update)
    wrong_type = await http.post(f"{url}/pasokh", content=body, headers=headers | {"Content-Type": "text/plain"})
    assert wrong_type.status_code == 403
    as_json = headers | {"Content-Type": "application/json"}
    for bad in (b"{not json", b"[1, 2]", b'"text"', b'{"update_id": "x", "message": 5}', b"\xff\xfe"):
        response = await http.post(f"{url}/pasokh", content=bad, headers=as_json)
        assert response.status_code == 400, bad
        assert "Traceback" not in response.text
    assert (await http.get(f"{url}/pasokh")).status_code == 405
    assert (await http.post(f"{url}/other", content=body, headers=as_json)).status_code == 404
    # None of those reached the bot: the next genuine question gets the only answer.
    assert await post_update(http, url, api.private_message("بسیج یعنی چه؟").update) == 200
    [call] = await api.wait_for(sent_to(USER_ID))
    assert "رشادت" in parse_html(call.params["text"])[0]
    assert len(api.sent_messages(USER_ID)) == 1
    assert value(await scrape(http, url), "pasokh_questions_total", chat_type="private") == 1


async def _raw_post(port: int, headers: dict[str, str], body: bytes) -> tuple[asyncio.StreamReader, Any]:
    """Open a connection and send a POST's headers and the start of its body (as a slow client would)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        "POST /pasokh HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Length: 100000",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    return reader, writer


async def test_a_request_without_the_secret_is_refused_before_its_body_is_read(hooked: RunningBot) -> None:
    assert hooked.web is not None
    reader, writer = await _raw_post(hooked.web.port, {"Content-Type": "application/json"}, b"{")
    try:  # the rest of the body never comes: the refusal must not wait for it
        status = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 403")


async def test_a_body_sent_a_byte_at_a_time_is_cut_off(
    api: BotApiStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.serving.web

    monkeypatch.setattr(bot.serving.web, "BODY_SECONDS", 0.5)
    webhook = Serving(webhook_url=HOOK, secret=SECRET, port=0)
    async with running_bot(api, tmp_path, webhook=webhook) as running:
        assert running.web is not None
        headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
        reader, writer = await _raw_post(running.web.port, headers, b"{")
        started = time.monotonic()
        try:
            while await asyncio.wait_for(reader.read(1024), 10):  # until the server closes the connection
                pass
        finally:
            writer.close()
        assert time.monotonic() - started < 5
        health = await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{running.web.port}/healthz")
        assert health.status == 200  # the server is still serving


async def test_webhook_with_the_secret_is_answered_through_the_bot_api(
    api: BotApiStandin, hooked: RunningBot, http: httpx.AsyncClient
) -> None:
    assert api.webhook is not None
    assert (api.webhook["url"], api.webhook["secret_token"]) == (HOOK, SECRET)
    assert await post_update(http, base(hooked), api.private_message(QUESTION).update) == 200
    [call] = await api.wait_for(sent_to(USER_ID))
    assert COMMANDER in parse_html(call.params["text"])[0]


# -- the lifecycle (bot.serving.lifecycle.serve) --------------------------------------------------------------


def _application(api_base_url: str, token: str, tmp_path: Path, *, opened: bool = True) -> tuple[Any, Metrics]:
    settings = Settings(
        token=token,
        admin_ids=frozenset({ADMIN_ID}),
        seeds_dir=copy_seeds(tmp_path / "seeds"),
        state_dir=tmp_path / "state",
        api_base_url=api_base_url,
    )
    library = Library(settings.seeds_dir)
    if opened:
        library.open()
    metrics = Metrics(library)
    return build_application(settings, library, metrics=metrics, rate_limiter=False), metrics


async def _serving(
    api: BotApiStandin, tmp_path: Path, **options: Any
) -> tuple[Any, asyncio.Task[None], asyncio.Event, str]:
    """``serve`` the bot in a task on a free port: the application, the task, its stop event, the base URL."""
    application, metrics = _application(api.base_url, api.token, tmp_path)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(application, metrics, Serving(port=port, **options), stop))
    return application, task, stop, f"http://127.0.0.1:{port}"


async def _stop(task: asyncio.Task[None], stop: asyncio.Event) -> float:
    """Set ``stop``; return the seconds ``serve`` took to finish."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop.set()
    await asyncio.wait_for(task, 30)
    return loop.time() - started


async def test_polling_with_a_port_serves_healthz_and_metrics_and_stops_cleanly(
    api: BotApiStandin, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    application, task, stop, url = await _serving(api, tmp_path)
    await api.wait_for("getUpdates", timeout=30)
    health = await http.get(f"{url}/healthz")
    assert (health.status_code, health.json()["articles"]) == (200, 1)
    api.private_message(QUESTION)
    await api.wait_for(sent_to(USER_ID))
    assert value(await scrape(http, url), "pasokh_answered_total") == 1
    # No webhook route in polling mode.
    headers = {"Content-Type": "application/json", SECRET_HEADER: "anything"}
    assert (await http.post(f"{url}/", content="{}", headers=headers)).status_code == 404
    assert await _stop(task, stop) < 10
    assert not application.running
    with pytest.raises(httpx.ConnectError):
        await http.get(f"{url}/healthz")


async def test_polling_without_a_port_serves_no_http(api: BotApiStandin, tmp_path: Path) -> None:
    assert Serving().web_server(*_application(api.base_url, api.token, tmp_path)) is None


async def test_webhook_mode_sets_the_webhook_serves_it_and_keeps_it_set_on_stop(
    api: BotApiStandin, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    _, task, stop, url = await _serving(api, tmp_path, webhook_url=HOOK, secret=SECRET)
    [call] = await api.wait_for("setWebhook", timeout=30)
    assert call.params["url"] == HOOK
    assert call.params["secret_token"] == SECRET
    assert "callback_query" in call.params["allowed_updates"] and "inline_query" in call.params["allowed_updates"]
    assert (await http.get(f"{url}/healthz")).json()["status"] == "ok"
    assert await post_update(http, url, api.private_message(QUESTION).update) == 200
    await api.wait_for(sent_to(USER_ID))
    assert await _stop(task, stop) < 10
    assert not api.calls("getUpdates")
    assert api.webhook is not None  # other workers may still be receiving on it
    assert not api.calls("deleteWebhook")


async def test_a_refused_webhook_is_a_start_error(api: BotApiStandin, tmp_path: Path) -> None:
    application, metrics = _application(api.base_url, api.token, tmp_path)
    serving = Serving(webhook_url="http://bot.example.org/pasokh", secret=SECRET, port=0)  # not HTTPS
    with pytest.raises(StartError, match=r"refused the webhook http://bot\.example\.org/pasokh: .*https"):
        await asyncio.wait_for(serve(application, metrics, serving, asyncio.Event()), 30)
    assert not application.running


async def test_a_taken_port_is_a_start_error(api: BotApiStandin, tmp_path: Path) -> None:
    application, metrics = _application(api.base_url, api.token, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}"):
            await asyncio.wait_for(serve(application, metrics, Serving(port=port), asyncio.Event()), 30)
    assert not application.running


class _Logged(logging.Handler):
    """Sets ``seen`` when a log message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_stop_while_the_bot_api_is_unreachable_is_prompt(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/bot"
    application, metrics = _application(nowhere, "123:unreachable-token", tmp_path)
    stop = asyncio.Event()
    logged = _Logged("did not answer getMe (attempt 2")
    logger = logging.getLogger("bot.serving.lifecycle")
    logger.addHandler(logged)
    try:
        task = asyncio.create_task(serve(application, metrics, Serving(port=0), stop))
        await asyncio.wait_for(logged.seen.wait(), 30)
        assert await _stop(task, stop) < 1  # not after the 1.5 s backoff
    finally:
        logger.removeHandler(logged)
    assert not task.exception()


# -- the real `pasokh run` process --------------------------------------------------------------------


@pytest.mark.slow
async def test_pasokh_run_webhook_serves_healthz_and_metrics_and_stops_on_sigterm(
    api: BotApiStandin, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    env = bot_environment(api.base_url, api.token, seeds, tmp_path / "state", PASOKH_WEBHOOK_SECRET=SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        *(str(PASOKH), "run", "--webhook-url", HOOK, "--port", str(port)),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await api.wait_for("setWebhook", timeout=120)  # hazm and the index are loaded, the server listens
        health = (await http.get(f"{url}/healthz")).json()
        assert (health["status"], health["articles"], health["sentences"]) == ("ok", 1, 13)
        assert await post_update(http, url, api.private_message(QUESTION).update, secret="wrong") == 403
        assert await post_update(http, url, api.private_message(QUESTION).update) == 200
        [call] = await api.wait_for(sent_to(USER_ID), timeout=30)
        assert COMMANDER in parse_html(call.params["text"])[0]
        scraped = await scrape(http, url)
        assert value(scraped, "pasokh_questions_total", chat_type="private") == 1
        assert value(scraped, "pasokh_answered_total") == 1
    finally:
        text = await finish(process)  # SIGTERM
    assert process.returncode == 0, text
    assert api.token not in text and api.token.split(":")[1] not in text
    assert SECRET not in text
    assert f"serving the webhook, /healthz and /metrics on 127.0.0.1:{port}" in text
    assert f"receiving updates by webhook at {HOOK}" in text
    assert text.rstrip().endswith("stopped")
    assert "Traceback" not in text


def test_a_repeated_failure_is_logged_a_few_times_per_interval() -> None:
    from bot.serving.logs import RepeatFilter

    repeats = RepeatFilter(interval=0.3, burst=3)

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("tornado.general", level, "/x.py", 7, msg, (), None)

    passed = [repeats.filter(r) for r in [record("Too many open files")] * 500]
    assert passed.count(True) == 3  # 500 accept failures: three lines, not 500 tracebacks
    assert repeats.filter(record("another failure"))  # another kind still gets through
    assert repeats.filter(record("an info line", logging.INFO))
    time.sleep(0.35)
    later = record("Too many open files")
    assert repeats.filter(later)
    assert "497 more like this" in later.getMessage()


async def test_a_refused_request_closes_its_connection_so_the_next_one_is_not_lost(
    hooked: RunningBot, http: httpx.AsyncClient, api: BotApiStandin
) -> None:
    url = _hook_url(hooked)
    refused = await http.post(url, json=api.private_message(QUESTION).update, headers={SECRET_HEADER: "wrong"})
    assert (refused.status_code, refused.headers.get("connection")) == (403, "close")  # its body was never read
    accepted = await http.post(url, json=api.private_message(QUESTION).update, headers={SECRET_HEADER: SECRET})
    assert accepted.status_code == 200  # the same client, a new connection


async def test_healthz_answers_503_while_the_index_loads(
    api: BotApiStandin, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    application, metrics = _application(api.base_url, api.token, tmp_path, opened=False)
    library = metrics.library
    loading, release = threading.Event(), threading.Event()
    real_open = library.open

    def slow_open() -> Any:  # a large collection takes a while
        loading.set()
        release.wait(10)
        return real_open()

    library.open = slow_open  # type: ignore[method-assign]
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(application, metrics, Serving(port=port), stop))
    try:
        await asyncio.to_thread(loading.wait, 10)
        response = await http.get(f"http://127.0.0.1:{port}/healthz")  # answered, not refused
        assert (response.status_code, response.json()["status"]) == (503, "loading")
        release.set()
        for _ in range(200):
            response = await http.get(f"http://127.0.0.1:{port}/healthz")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert response.json()["status"] == "ok"
    finally:
        release.set()
        await _stop(task, stop)


async def test_healthz_says_failing_while_every_question_fails(
    hooked: RunningBot, http: httpx.AsyncClient, api: BotApiStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a damaged index")

    monkeypatch.setattr("bot.conversation.handlers.answer", broken)
    for n in range(3):
        status = await api.post_to_webhook(_hook_url(hooked), api.private_message(QUESTION).update, SECRET)
        assert status == 200
        await api.wait_for(sent_to(USER_ID), count=n + 1)  # the apology
    response = await http.get(f"{base(hooked)}/healthz")
    assert (response.status_code, response.json()["status"]) == (503, "failing")
    monkeypatch.undo()
    await api.post_to_webhook(_hook_url(hooked), api.private_message(QUESTION).update, SECRET)
    await api.wait_for(sent_to(USER_ID), count=4)
    assert (await http.get(f"{base(hooked)}/healthz")).status_code == 200  # answering again: healthy


def _hook_url(running: RunningBot) -> str:
    return f"{base(running)}/pasokh"
