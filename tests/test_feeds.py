"""RSS and Atom feeds: their items become answerable articles, each once (across polls and restarts); a
failing feed backs off and shows in /stats while the others go on. Feeds are served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

import bot.feeds
from bot.backend.local import SqliteRecords
from bot.conversation import texts
from bot.conversation.handlers import feeds_text
from bot.feeds import (
    MAX_FEED_BYTES,
    MAX_RETRY,
    FeedError,
    FeedItem,
    FeedPoller,
    Trouble,
    feed_article,
    item_article_id,
    parse_feed,
    plain_text,
    retry_delay,
)
from bot.library import Library
from bot.publishing import Outcome, PublishReport
from bot.settings import Settings, SettingsError
from bot.testing.harness import ADMIN_ID, copy_seeds, plain, running_bot, sent_to
from bot.testing.standin import USER_ID, BotApiStandin
from retrieval import Rejected
from retrieval.answer import answer

LIBRARY_TITLE = "کتابخانهٔ مرکزی خرم‌آباد افتتاح شد"
LIBRARY_HTML = (
    "<p>کتابخانهٔ مرکزی خرم‌آباد با یکصد و بیست هزار جلد <b>کتاب</b> روز دوشنبه افتتاح شد.</p>"
    "<p>مدیرکل کتابخانه‌های عمومی لرستان گفت این کتابخانه هر روز از ساعت هشت تا بیست باز است.</p>"
)
ASK_LIBRARY = "کتابخانه مرکزی خرم‌آباد چند جلد کتاب دارد؟"
METRO_TITLE = "گرانی بلیت مترو تهران"
METRO_TEXT = "بلیت مترو تهران از اول دی بیست درصد گران می‌شود. شورای شهر این افزایش را تصویب کرد."
ASK_METRO = "بلیت مترو تهران چند درصد گران می‌شود؟"


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>خبرگزاری</title>'
        f"<link>https://news.example/</link><description>خبرها</description>{''.join(items)}</channel></rss>"
    ).encode()


def rss_item(guid: str, title: str, html_text: str, date: str = "Mon, 01 Dec 2025 20:45:00 +0000") -> str:
    escaped = html_text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<item><guid isPermaLink="false">{guid}</guid><title>{title}</title><link>https://news.example/{guid}</link>'
        f"<pubDate>{date}</pubDate><description>{escaped}</description></item>"
    )


LIBRARY_RSS = rss(rss_item("library-1", LIBRARY_TITLE, LIBRARY_HTML))

METRO_ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>شهر</title><id>urn:city</id><updated>2025-12-02T08:00:00Z</updated>
  <entry>
    <id>urn:city:metro</id><title>{METRO_TITLE}</title>
    <link href="https://city.example/metro"/>
    <updated>2025-12-02T08:00:00Z</updated>
    <summary>خلاصه</summary>
    <content type="html">&lt;div&gt;{METRO_TEXT}&lt;/div&gt;</content>
  </entry>
</feed>""".encode()

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FeedServer:
    """Feeds on 127.0.0.1: each path answers as the test says; every request's headers are kept."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.requests: dict[str, list[dict[str, str]]] = {}
        self.closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def count(self, name: str) -> int:
        return len(self.requests.get(name, []))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.setdefault(name, []).append(dict(request.headers))
        return await self.replies[name](request)

    def serve(self, name: str, body: bytes, content_type: str = "application/rss+xml", etag: str | None = None) -> None:
        async def reply(request: web.Request) -> web.StreamResponse:
            if etag is not None and request.headers.get("If-None-Match") == etag:
                return web.Response(status=304)
            headers = {"ETag": etag} if etag else {}
            return web.Response(body=body, content_type=content_type, headers=headers)

        self.replies[name] = reply

    def fail(self, name: str, status: int = 500) -> None:
        async def reply(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, text="boom")

        self.replies[name] = reply

    def hang(self, name: str) -> None:
        """Never answer (until the server closes)."""

        async def reply(request: web.Request) -> web.StreamResponse:
            await self.closing.wait()
            return web.Response(status=503)

        self.replies[name] = reply

    def stream(self, name: str, size: int) -> None:
        """``size`` bytes of a feed, sent in chunks without a Content-Length."""

        async def reply(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b"<!-- " + b"x" * 65_000 + b" -->"
            for _ in range(size // len(chunk) + 1):
                await response.write(chunk)
            await response.write_eof()
            return response

        self.replies[name] = reply


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as running:
        yield running


class Clock:
    """A clock the test moves (Unix seconds)."""

    def __init__(self) -> None:
        self.now = 1_765_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def library(tmp_path: Path) -> Library:
    opened = Library(copy_seeds(tmp_path / "seeds"))
    opened.open()
    return opened


@pytest_asyncio.fixture
async def records(tmp_path: Path) -> AsyncIterator[SqliteRecords]:
    opened = SqliteRecords(tmp_path / "state")
    yield opened
    await opened.close()


@pytest_asyncio.fixture
async def poller_for(library: Library, records: SqliteRecords) -> AsyncIterator[Callable[..., FeedPoller]]:
    """Make a poller of the given feeds on the test's library and records (stopped at the end)."""
    made: list[FeedPoller] = []

    def make(*urls: str, **options: object) -> FeedPoller:
        poller = FeedPoller(urls, library, records, **options)  # type: ignore[arg-type]
        made.append(poller)
        return poller

    yield make
    for poller in made:
        await poller.stop()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds (what a background task did)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.02)


def feed_files(library: Library) -> list[Path]:
    return sorted(library.seeds_dir.glob("feed-*"))


# -- HTML as text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "text"),
    [
        # paragraphs become lines; a tag inside a word joins it as written
        ("<p>کتاب<b>خانهٔ</b> مرکزی</p><p>افتتاح شد.</p>", "کتابخانهٔ مرکزی\nافتتاح شد."),
        ("یک<br>دو<br/>سه", "یک\nدو\nسه"),  # line breaks
        ("<ul><li>اول</li><li>دوم</li></ul>", "اول\nدوم"),
        ("نان &amp; پنیر &#1601;&#1585;&#1575;&#1606; &laquo;تازه&raquo;", "نان & پنیر فران «تازه»"),  # entities
        ("  فاصله‌های   زیاد\t و&nbsp;نیم‌فاصله  ", "فاصله‌های زیاد و نیم‌فاصله"),  # spaces fold, ZWNJ stays
        ('<a href="https://x.example">پیوند</a> و <img src="a.png"> عکس', "پیوند و عکس"),
        ("<script>alert(1)</script>متن<style>p{}</style>", "متن"),
        ("", ""),
        ("<p> </p>", ""),
    ],
)
def test_html_becomes_plain_text_with_the_words_unchanged(fragment: str, text: str) -> None:
    assert plain_text(fragment) == text


def test_plain_text_is_not_read_as_html() -> None:
    assert plain_text("a <b> c &amp;", is_html=False) == "a <b> c &amp;"


# -- parsing ---------------------------------------------------------------------------------------------


def test_an_rss_item_becomes_a_seed_file_with_its_date_text_and_link() -> None:
    [item] = parse_feed(LIBRARY_RSS, "https://news.example/rss")
    assert item.title == LIBRARY_TITLE
    assert item.key == "library-1"
    assert item.link == "https://news.example/library-1"
    assert item.published == dt.datetime(2025, 12, 1, 20, 45, tzinfo=dt.UTC)
    assert item.text == plain_text(LIBRARY_HTML)
    assert "یکصد و بیست هزار جلد کتاب روز دوشنبه" in item.text  # <b> gone, words as they were
    data = feed_article(item, dt.datetime.now(dt.UTC), item_article_id("https://news.example/rss", item.key))
    assert isinstance(data, bytes)
    lines = data.decode().splitlines()
    assert lines[0] == f"date 2025-12-02 {LIBRARY_TITLE}"  # 20:45 UTC is past midnight in Tehran
    assert lines[1:3] == item.text.splitlines()
    assert lines[-1] == "منبع: https://news.example/library-1"


def test_an_atom_entry_takes_its_content_over_its_summary() -> None:
    [item] = parse_feed(METRO_ATOM, "https://city.example/atom")
    assert (item.title, item.text, item.link) == (METRO_TITLE, METRO_TEXT, "https://city.example/metro")
    assert item.key == "urn:city:metro"


def test_an_item_without_a_date_is_dated_the_day_it_was_fetched() -> None:
    feed = rss(f"<item><title>{METRO_TITLE}</title><description>{METRO_TEXT}</description></item>")
    [item] = parse_feed(feed, "https://city.example/rss")
    assert item.published is None and item.link is None
    data = feed_article(item, dt.datetime(2025, 12, 24, 12, tzinfo=dt.UTC), "feed-x-y")
    assert isinstance(data, bytes)
    assert data.decode().startswith(f"date 2025-12-24 {METRO_TITLE}\n{METRO_TEXT}\n")
    assert "منبع" not in data.decode()


def test_items_without_a_title_or_text_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    feed = rss(
        "<item><guid>no-title</guid><description>متنی بی‌عنوان</description></item>",
        "<item><guid>no-text</guid><title>عنوانی بی‌متن</title><description>&lt;p&gt; &lt;/p&gt;</description></item>",
        rss_item("good", METRO_TITLE, METRO_TEXT),
    )
    with caplog.at_level(logging.INFO, logger="bot.feeds"):
        items = parse_feed(feed, "https://city.example/rss")
    assert [item.key for item in items] == ["good"]
    assert "no-title' has no title, skipped" in caplog.text
    assert "no-text' has no text, skipped" in caplog.text


def test_items_come_oldest_first() -> None:
    feed = rss(rss_item("new", METRO_TITLE, METRO_TEXT), rss_item("old", LIBRARY_TITLE, LIBRARY_HTML))
    assert [item.key for item in parse_feed(feed, "https://x.example/rss")] == ["old", "new"]


def test_an_item_whose_text_is_only_a_link_is_no_article() -> None:
    item = FeedItem("k", "عنوان", "https://x.example/a", "https://x.example/a", None)
    assert isinstance(feed_article(item, dt.datetime.now(dt.UTC), "feed-a-b"), (bytes, Rejected))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<html><body><p>Not found</p></body></html>", id="an HTML page"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe", id="binary garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"<rss version='2.0'><channel><title>x", id="cut short before any item"),
    ],
)
def test_garbage_is_no_feed(data: bytes) -> None:
    with pytest.raises(FeedError) as raised:
        parse_feed(data, "https://x.example/rss")
    assert raised.value.trouble is Trouble.NOT_A_FEED


# -- polling ---------------------------------------------------------------------------------------------


async def test_new_items_become_answerable_articles_once(
    server: FeedServer, library: Library, poller_for: Callable[..., FeedPoller]
) -> None:
    server.serve("rss", LIBRARY_RSS)
    server.serve("atom", METRO_ATOM, content_type="application/atom+xml")
    clock = Clock()
    poller = poller_for(server.url("rss"), server.url("atom"), clock=clock)
    await poller.poll_due()
    library_id = item_article_id(server.url("rss"), "library-1")
    metro_id = item_article_id(server.url("atom"), "urn:city:metro")
    for question, article_id in ((ASK_LIBRARY, library_id), (ASK_METRO, metro_id)):
        found = answer(library.index, question)
        assert found.best is not None and found.best.article.id == article_id
    assert [s.added for s in poller.statuses()] == [1, 1]
    files = feed_files(library)
    written = {path: path.read_bytes() for path in files}

    clock.now += 300  # the next poll: the same items, nothing new
    await poller.poll_due()
    assert server.count("rss") == 2 and server.count("atom") == 2
    assert [s.added for s in poller.statuses()] == [1, 1]
    assert {path: path.read_bytes() for path in feed_files(library)} == written
    assert sum(a.id.startswith("feed-") for a in library.index.articles) == 2


async def test_a_polled_feed_waits_its_interval(server: FeedServer, poller_for: Callable[..., FeedPoller]) -> None:
    server.serve("rss", LIBRARY_RSS)
    clock = Clock()
    poller = poller_for(server.url("rss"), clock=clock, every=300.0)
    await poller.poll_due()
    clock.now += 299
    await poller.poll_due()
    assert server.count("rss") == 1
    clock.now += 1
    await poller.poll_due()
    assert server.count("rss") == 2


async def test_a_new_item_in_a_known_feed_is_added_alone(
    server: FeedServer, library: Library, poller_for: Callable[..., FeedPoller]
) -> None:
    server.serve("rss", LIBRARY_RSS)
    clock = Clock()
    poller = poller_for(server.url("rss"), clock=clock)
    await poller.poll_due()
    server.serve("rss", rss(rss_item("metro-2", METRO_TITLE, METRO_TEXT), rss_item("library-1", LIBRARY_TITLE, "")))
    clock.now += 300
    await poller.poll_due()
    assert poller.statuses()[0].added == 2
    found = answer(library.index, ASK_METRO)
    assert found.best is not None and found.best.article.id == item_article_id(server.url("rss"), "metro-2")


async def test_a_restart_does_not_add_an_item_again_nor_bring_back_a_removed_one(
    server: FeedServer, tmp_path: Path
) -> None:
    server.serve(
        "rss", rss(rss_item("library-1", LIBRARY_TITLE, LIBRARY_HTML), rss_item("metro", METRO_TITLE, METRO_TEXT))
    )
    seeds = copy_seeds(tmp_path / "seeds")

    async def poll_once() -> tuple[Library, FeedPoller]:
        library = Library(seeds)
        library.open()
        records = SqliteRecords(tmp_path / "state")
        poller = FeedPoller([server.url("rss")], library, records, clock=Clock())
        try:
            await poller.poll_due()
        finally:
            await poller.stop()
            await records.close()
        return library, poller

    library, poller = await poll_once()
    assert poller.statuses()[0].added == 2
    removed = item_article_id(server.url("rss"), "metro")
    assert (await library.remove(removed)).ok  # an editor took it down

    library, poller = await poll_once()  # the bot restarted: new library, new records on the same folders
    assert poller.statuses()[0].added == 0
    assert poller.statuses()[0].last_error is None
    ids = {a.id for a in library.index.articles}
    assert item_article_id(server.url("rss"), "library-1") in ids
    assert removed not in ids


async def test_the_served_article_guards_when_the_records_forgot(
    server: FeedServer, tmp_path: Path, library: Library, poller_for: Callable[..., FeedPoller]
) -> None:
    server.serve("rss", LIBRARY_RSS)
    await poller_for(server.url("rss"), clock=Clock()).poll_due()
    files = {path: path.stat().st_mtime_ns for path in feed_files(library)}
    forgetful = SqliteRecords(tmp_path / "other-state")
    try:
        poller = FeedPoller([server.url("rss")], library, forgetful, clock=Clock())
        await poller.poll_due()
        await poller.stop()
    finally:
        await forgetful.close()
    assert poller.statuses()[0].added == 0
    assert {path: path.stat().st_mtime_ns for path in feed_files(library)} == files  # not even rewritten


async def test_an_unchanged_feed_is_fetched_conditionally(
    server: FeedServer, poller_for: Callable[..., FeedPoller]
) -> None:
    server.serve("rss", LIBRARY_RSS, etag='"v1"')
    clock = Clock()
    poller = poller_for(server.url("rss"), clock=clock)
    await poller.poll_due()
    clock.now += 300
    await poller.poll_due()
    assert server.requests["rss"][1].get("If-None-Match") == '"v1"'
    status = poller.statuses()[0]
    assert status.last_error is None and status.last_success == clock.now and status.added == 1


def _failing(server: FeedServer, how: str) -> None:
    if how == "500":
        server.fail("bad", 500)
    elif how == "garbage":
        server.serve("bad", b"<html><body>Service Unavailable</body></html>", content_type="text/html")
    else:
        server.hang("bad")


@pytest.mark.parametrize(
    ("how", "trouble", "said"),
    [
        ("500", Trouble.HTTP, "پاسخ خطای HTTP 500"),
        ("garbage", Trouble.NOT_A_FEED, "پاسخ خوراک RSS یا Atom نبود"),
        ("timeout", Trouble.TIMEOUT, "پاسخی در زمان مقرر نیامد"),
    ],
)
async def test_a_failing_feed_is_retried_with_growing_delays_while_the_other_works(
    server: FeedServer,
    library: Library,
    poller_for: Callable[..., FeedPoller],
    how: str,
    trouble: Trouble,
    said: str,
) -> None:
    _failing(server, how)
    server.serve("good", LIBRARY_RSS)
    clock = Clock()
    poller = poller_for(server.url("bad"), server.url("good"), clock=clock, every=300.0, fetch_seconds=0.3)
    await poller.poll_due()
    bad, good = poller.statuses()
    assert bad.last_error is not None and bad.last_error.trouble is trouble
    assert (bad.failures, bad.next_poll - clock.now) == (1, 60)
    assert good.last_error is None and good.added == 1  # the other feed worked meanwhile
    found = answer(library.index, ASK_LIBRARY)
    assert found.best is not None and found.best.article.id.startswith("feed-")

    text = "\n".join(feeds_text(poller.statuses(), clock.now))
    assert said in text and "۱ بار پیاپی" in text and "تلاش دوباره ۱ دقیقه دیگر" in text
    assert "تاکنون دریافت موفقی نبوده" in text
    assert "✅ آخرین دریافت ۰ ثانیه پیش؛ خبرهای افزوده: ۱" in text

    waits = []
    for _ in range(7):  # each retry as soon as it is due, never earlier
        due = poller.statuses()[0].next_poll
        clock.now = due - 1
        tried = server.count("bad")
        await poller.poll_due()
        assert server.count("bad") == tried
        clock.now = due
        await poller.poll_due()
        assert server.count("bad") == tried + 1
        waits.append(poller.statuses()[0].next_poll - clock.now)
    assert waits == [120, 240, 480, 960, 1920, 3600, 3600]  # minutes 2, 4, 8, 16, 32, then at most 60
    assert poller.statuses()[0].failures == 8
    good = poller.statuses()[1]  # polled whenever due, all along
    assert (good.failures, good.last_error, good.added) == (0, None, 1)
    assert server.count("good") >= 5 and good.next_poll > clock.now

    server.serve("bad", METRO_ATOM)  # it recovers
    clock.now = poller.statuses()[0].next_poll
    await poller.poll_due()
    bad = poller.statuses()[0]
    assert (bad.failures, bad.last_error, bad.added) == (0, None, 1)
    assert bad.next_poll == clock.now + 300


def test_the_delays_double_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(10_000) == MAX_RETRY


async def test_a_huge_response_is_refused(server: FeedServer, poller_for: Callable[..., FeedPoller]) -> None:
    server.serve("announced", b"<rss>" + b" " * (MAX_FEED_BYTES + 1) + b"</rss>")  # with its Content-Length
    server.stream("streamed", MAX_FEED_BYTES + 1)  # chunked: counted as it comes
    poller = poller_for(server.url("announced"), server.url("streamed"), clock=Clock())
    await poller.poll_due()
    for status in poller.statuses():
        assert status.last_error is not None and status.last_error.trouble is Trouble.TOO_LARGE
    text = "\n".join(feeds_text(poller.statuses(), Clock()()))
    assert text.count("پاسخ بیش از اندازه بزرگ بود") == 2


async def test_an_unreachable_feed_is_a_network_error(poller_for: Callable[..., FeedPoller]) -> None:
    async with FeedServer() as gone:
        url = gone.url("rss")  # a port nobody listens on once it is closed
    poller = poller_for(url, clock=Clock())
    await poller.poll_due()
    error = poller.statuses()[0].last_error
    assert error is not None and error.trouble is Trouble.NETWORK


async def test_the_background_task_polls_and_stops(
    server: FeedServer, library: Library, poller_for: Callable[..., FeedPoller]
) -> None:
    server.serve("rss", LIBRARY_RSS)
    poller = poller_for(server.url("rss"))
    poller.start()
    await until(lambda: poller.statuses()[0].last_success is not None)
    await poller.stop()
    assert poller.statuses()[0].added == 1


# -- settings --------------------------------------------------------------------------------------------


def test_feeds_are_read_from_the_environment() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "1:x",
        "PASOKH_FEEDS": " https://a.example/rss,http://b.example/feed.xml\nhttps://a.example/rss  https://c.example/a ",
        "PASOKH_FEED_MINUTES": "10",
    }
    settings = Settings.from_env(env)
    assert settings.feeds == ("https://a.example/rss", "http://b.example/feed.xml", "https://c.example/a")
    assert settings.feed_minutes == 10
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).feeds == ()
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).feed_minutes == 5


@pytest.mark.parametrize(
    "value", ["ftp://a.example/rss", "a.example/rss", "https://", "file:///etc/passwd", "http://a.example:port/"]
)
def test_a_bad_feed_url_is_a_one_line_error(value: str) -> None:
    with pytest.raises(SettingsError, match="PASOKH_FEEDS must be http") as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_FEEDS": f"https://ok.example/rss {value}"})
    assert "\n" not in str(raised.value)


def test_a_bad_feed_url_error_leaves_out_a_password() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_FEEDS": "ftp://user:secret@a.example/rss"})
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize("value", ["0", "-5", "five", "1.5"])
def test_a_bad_feed_interval_is_an_error(value: str) -> None:
    with pytest.raises(SettingsError, match="PASOKH_FEED_MINUTES"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_FEED_MINUTES": value})


# -- records ---------------------------------------------------------------------------------------------


async def test_published_items_are_remembered_across_restarts(tmp_path: Path) -> None:
    records = SqliteRecords(tmp_path)
    assert await records.published(["a", "b"]) == set()
    await records.mark_published("a")
    await records.mark_published("a")
    await records.close()
    records = SqliteRecords(tmp_path)
    try:
        keys = [f"k{n}" for n in range(1200)] + ["a"]  # more than one query's worth
        assert await records.published(keys) == {"a"}
    finally:
        await records.close()


# -- through the bot -------------------------------------------------------------------------------------


async def test_the_bot_answers_from_a_feed_and_shows_it_in_stats(
    api: BotApiStandin, server: FeedServer, tmp_path: Path
) -> None:
    server.serve("rss", LIBRARY_RSS)
    server.fail("down", 503)
    async with running_bot(api, tmp_path, feeds=(server.url("rss"), server.url("down"))) as running:
        await until(lambda: any(a.id.startswith("feed-") for a in running.library.index.articles))
        api.private_message(ASK_LIBRARY)
        [reply] = await api.wait_for(sent_to(USER_ID))
        assert "یکصد و بیست هزار جلد کتاب" in plain(reply.params["text"])
        api.private_message("/stats", user_id=ADMIN_ID)
        [stats] = await api.wait_for(sent_to(ADMIN_ID))
        assert [t for t in asyncio.all_tasks() if t.get_name() == "feeds"]  # polling in the background...
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "feeds"]  # ...until the bot stopped
    text = plain(stats.params["text"])
    assert "📰 خوراک‌ها" in text
    assert f"{server.url('rss')}\u2069: ✅ آخرین دریافت" in text
    assert f"{server.url('down')}\u2069: ⚠️ خطا: پاسخ خطای HTTP 503" in text


async def test_workers_sharing_redis_share_the_published_items(tmp_path: Path) -> None:
    from bot.backend.shared.connection import SharedRedis
    from bot.backend.shared.records import RedisRecords
    from bot.testing.workers import RedisServer

    async with RedisServer(tmp_path / "redis") as redis_server:
        one, two = RedisRecords(SharedRedis(redis_server.url)), RedisRecords(SharedRedis(redis_server.url))
        try:
            await one.mark_published("a")
            assert await two.published(["a", "b"]) == {"a"}
            assert await two.published([]) == set()
            await redis_server.stop()
            assert await one.published(["a"]) == set()  # an outage: none (publishing again replaces)
            await one.mark_published("b")  # dropped, not raised
        finally:
            await one.close()
            await two.close()


async def test_an_unexpected_error_is_the_feeds_own_failure(
    server: FeedServer, poller_for: Callable[..., FeedPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.serve("odd", METRO_ATOM)
    server.serve("good", LIBRARY_RSS)
    real = bot.feeds.parse_feed

    def choke(data: bytes, url: str, content_type: str | None = None) -> list[FeedItem]:
        if url.endswith("/odd"):
            raise RuntimeError("feedparser choked")
        return real(data, url, content_type)

    monkeypatch.setattr(bot.feeds, "parse_feed", choke)
    clock = Clock()
    poller = poller_for(server.url("odd"), server.url("good"), clock=clock)
    await poller.poll_due()
    odd, good = poller.statuses()
    assert odd.last_error is not None and odd.last_error.trouble is Trouble.UNEXPECTED
    assert odd.next_poll == clock.now + 60 and good.added == 1
    assert "خطای پیش‌بینی‌نشده" in "\n".join(feeds_text(poller.statuses(), clock.now))


async def test_an_item_the_folder_could_not_take_is_tried_again(
    server: FeedServer, library: Library, poller_for: Callable[..., FeedPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.serve("rss", LIBRARY_RSS, etag='"v1"')
    clock = Clock()
    poller = poller_for(server.url("rss"), clock=clock)

    async def full_disk(article_id: str, data: bytes, *, suffix: str = ".txt") -> PublishReport:
        return PublishReport(Outcome.FAILED, article_id, error="No space left on device")

    monkeypatch.setattr(library, "publish", full_disk)
    await poller.poll_due()
    assert poller.statuses()[0].added == 0
    monkeypatch.undo()
    clock.now += 300
    await poller.poll_due()
    assert "If-None-Match" not in server.requests["rss"][1]  # the whole feed again, not "not modified"
    assert poller.statuses()[0].added == 1


async def test_only_the_first_items_of_a_long_feed_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.feeds, "MAX_ITEMS", 2)
    feed = rss(*(rss_item(f"n{n}", f"{METRO_TITLE} {n}", METRO_TEXT) for n in range(3)))
    assert [item.key for item in parse_feed(feed, "https://x.example/rss")] == ["n1", "n0"]


def test_every_trouble_has_its_persian_words() -> None:
    assert set(texts.FEED_TROUBLES) == {trouble.value for trouble in Trouble}
