"""RSS and Atom feeds (``PASOKH_FEEDS``): their new items become articles.

Every ``PASOKH_FEED_MINUTES`` each feed is fetched (httpx: a timeout, a size cap, a conditional GET with
the last ``ETag`` / ``Last-Modified``) and parsed by feedparser, which also sanitizes the items' HTML. An
item becomes a seed file like a channel post (``bot.publishing``): its title, the day it was published
(in Iran; the day it was fetched when it gives none), its content or else its summary as plain text, and
its link as the last line («منبع: …»). Items without a title or a text are skipped and logged.

The same item is never published twice, in two ways:

- an item's article id is made from the feed's URL and the item's id (its ``guid``/``id``, else its link,
  else its title and text): publishing it again replaces its own article, never adds another one;
- once published (or found to be no article) the item is marked in the records
  (``Records.mark_published``, SQLite or Redis) and skipped at every later poll, also after a restart and
  after an editor removed its article. An item whose article is already served is skipped too (records
  kept in memory only, say).

A feed that fails (no answer in time, an HTTP error, a response over ``MAX_FEED_BYTES``, something that is
no feed) is tried again after 1, 2, 4 … minutes, up to ``MAX_RETRY``; ``/stats`` shows each feed's last
success, last error and the items it added. One feed's failure never stops the others or the bot.
Telegram-free.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime as dt
import enum
import hashlib
import html
import io
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import feedparser
import httpx

from bot.backend.interfaces import Records
from bot.library import Library
from bot.publishing import IRAN, SOURCE_LABEL, Outcome, seed_name
from retrieval.seeds import Rejected, header, load_bytes

__all__ = [
    "FIRST_RETRY",
    "MAX_FEED_BYTES",
    "MAX_ITEMS",
    "MAX_RETRY",
    "FeedError",
    "FeedItem",
    "FeedPoller",
    "FeedStatus",
    "Trouble",
    "feed_article",
    "fetch_feed",
    "item_article_id",
    "item_key",
    "parse_feed",
    "plain_text",
    "retry_delay",
]

_logger = logging.getLogger(__name__)

MAX_FEED_BYTES = 5 * 1024 * 1024
"""A larger response is refused (a news feed of 50 items with their whole texts is well under 1 MB)."""
MAX_ITEMS = 100
"""Items read from one document (feeds list the newest first): each one published is a write to the index."""
FETCH_SECONDS = 30.0
"""The whole fetch of one feed (connecting, waiting, reading) must end within this."""
FIRST_RETRY = 60.0
"""Seconds before a failed feed is tried again; twice as long after each further failure, up to ``MAX_RETRY``."""
MAX_RETRY = 3600.0
USER_AGENT = "Pasokh feed reader (+https://github.com/pasokh)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


# -- items as articles ---------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text of an HTML fragment: block elements end lines, other tags vanish, entities are decoded."""

    BLOCKS = frozenset(
        {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure"}
        | {"footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre"}
        | {"section", "table", "tbody", "td", "th", "thead", "tr", "ul"}
    )
    HIDDEN = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def plain_text(fragment: str, *, is_html: bool = True) -> str:
    """``fragment`` as plain text: one paragraph a line, spaces folded, the words as they were.

    HTML loses its tags (a paragraph, a line break or a list item ends a line; ``<b>`` and the like join
    what they surround as it was written) and its entities (``&amp;``, ``&#1601;``) become characters.
    """
    if is_html:
        parser = _Text()
        parser.feed(fragment)
        parser.close()
        fragment = html.unescape("".join(parser.parts))  # entities the parser left (in attributes' text, none)
    lines = (_SPACES.sub(" ", line).strip() for line in fragment.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of a feed, as text."""

    key: str
    """What identifies the item in its feed: its ``guid``/``id``, else its link, else a digest of its text."""
    title: str
    text: str
    """Its content or else its summary, as plain text (``plain_text``)."""
    link: str | None
    published: dt.datetime | None
    """When it was published (or else updated), in UTC; None when the feed does not say."""


def item_key(feed_url: str, key: str) -> str:
    """The item's key in the records, across feeds: a digest of the feed's URL and the item's key."""
    return hashlib.sha256(f"{feed_url}\n{key}".encode()).hexdigest()


def item_article_id(feed_url: str, key: str) -> str:
    """The article id of a feed item: ``feed-<feed digest>-<item digest>``, the same at every poll."""
    feed = hashlib.sha256(feed_url.encode()).hexdigest()[:8]
    item = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"feed-{feed}-{item}"


def _detail_text(entry: Any, name: str) -> str:
    """The text of an entry's ``title`` or ``summary``, whichever type the feed declares."""
    value = entry.get(name) or ""
    detail = entry.get(f"{name}_detail") or {}
    return plain_text(str(value), is_html="html" in str(detail.get("type", "text/html")))


def _content_text(entry: Any) -> str:
    """The entry's longest content (``content:encoded``, Atom's ``content``) as text, else its summary."""
    texts = [
        plain_text(str(part.get("value") or ""), is_html="html" in str(part.get("type", "text/html")))
        for part in entry.get("content") or []
    ]
    best = max(texts, key=len, default="")
    return best or _detail_text(entry, "summary")


def _published(entry: Any) -> dt.datetime | None:
    for name in ("published_parsed", "updated_parsed"):
        parsed = entry.get(name)
        if parsed:
            with contextlib.suppress(OverflowError, ValueError, TypeError):
                return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
    return None


def _item(entry: Any) -> FeedItem | str:
    """The entry as an item, or why it is skipped."""
    title = " ".join(_detail_text(entry, "title").split())
    text = _content_text(entry)
    link = str(entry.get("link") or "").strip() or None
    if link is not None and (not link.lower().startswith(("http://", "https://")) or len(link.split()) > 1):
        link = None  # only a web address goes into the «منبع:» line, and on one line
    key = str(entry.get("id") or "").strip() or link or hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()
    if not title:
        return f"item {key[:200]!r} has no title"
    if not text:
        return f"item {key[:200]!r} has no text"
    return FeedItem(key=key, title=title, text=text, link=link, published=_published(entry))


_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
"""What feedparser reports about a feed it read all the same (a wrong declared encoding or media type)."""


def parse_feed(data: bytes, url: str, content_type: str | None = None) -> list[FeedItem]:
    """The items of an RSS or Atom document in reverse order (feeds list the newest first: so oldest first);
    items without a title or a text are skipped (logged). ``FeedError`` when ``data`` is no feed."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=True)
    problem = parsed.get("bozo_exception")
    broken = problem is not None and not isinstance(problem, _HARMLESS)
    if not parsed.entries and (broken or not parsed.get("version")):
        detail = f": {str(problem).splitlines()[0][:100]}" if problem else ""
        raise FeedError(Trouble.NOT_A_FEED, f"not an RSS or Atom feed{detail}")
    entries = parsed.entries[:MAX_ITEMS]
    if len(parsed.entries) > MAX_ITEMS:
        _logger.info("feed %s lists %d items: only its first %d are read", url, len(parsed.entries), MAX_ITEMS)
    items: list[FeedItem] = []
    for entry in entries:
        item = _item(entry)
        if isinstance(item, str):
            _logger.info("feed %s: %s, skipped", url, item)
        else:
            items.append(item)
    return items[::-1]


def feed_article(item: FeedItem, fetched: dt.datetime, article_id: str) -> bytes | Rejected:
    """A feed item as a seed file: its title, the day it was published in Iran (else the day it was
    fetched), its text, and its link as the last line; or why it is no article."""
    day = (item.published or fetched).astimezone(IRAN).date()
    plain = f"{header(day, item.title)}\n{item.text}\n"
    checked, _ = load_bytes(seed_name(article_id), plain.encode())  # the link alone is no body
    if isinstance(checked, Rejected):
        return checked
    source = f"{SOURCE_LABEL} {item.link}\n" if item.link else ""
    return f"{plain}{source}".encode()


# -- fetching ------------------------------------------------------------------------------------------


class Trouble(enum.Enum):
    """Why a feed could not be read."""

    TIMEOUT = "timeout"
    NETWORK = "network"
    HTTP = "http"
    TOO_LARGE = "too_large"
    NOT_A_FEED = "not_a_feed"
    UNEXPECTED = "unexpected"
    """Anything else (logged with its traceback)."""


class FeedError(Exception):
    """A feed could not be fetched or is no feed; ``str()`` is one short English line (logs)."""

    def __init__(self, trouble: Trouble, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.trouble = trouble
        self.status = status


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's response: its bytes (None: not modified since the last fetch) and what to send next time."""

    data: bytes | None
    content_type: str | None = None
    etag: str | None = None
    modified: str | None = None


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    modified: str | None = None,
    limit: int = MAX_FEED_BYTES,
    seconds: float = FETCH_SECONDS,
) -> Fetched:
    """GET ``url`` (conditionally, when ``etag`` or ``modified`` is given), reading at most ``limit`` bytes
    and taking at most ``seconds`` in all; ``FeedError`` when it fails."""
    headers = {"Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        async with asyncio.timeout(seconds), client.stream("GET", url, headers=headers) as response:
            if response.status_code == httpx.codes.NOT_MODIFIED:
                return Fetched(None, etag=etag, modified=modified)
            if response.status_code >= 400:
                raise FeedError(Trouble.HTTP, f"HTTP {response.status_code}", status=response.status_code)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FeedError(Trouble.TOO_LARGE, f"{int(declared)} bytes announced, over {limit}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FeedError(Trouble.TOO_LARGE, f"over {limit} bytes")
                chunks.append(chunk)
            return Fetched(
                b"".join(chunks),
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
                modified=response.headers.get("last-modified"),
            )
    except TimeoutError:
        raise FeedError(Trouble.TIMEOUT, f"no whole answer within {seconds:g} s") from None
    except httpx.TimeoutException:
        raise FeedError(Trouble.TIMEOUT, "timed out") from None
    except httpx.HTTPError as exc:
        raise FeedError(Trouble.NETWORK, f"{type(exc).__name__}: {str(exc)[:100]}") from None


def retry_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (at least one): 60, 120, 240 … up to ``MAX_RETRY``."""
    return min(FIRST_RETRY * float(2 ** min(max(failures, 1) - 1, 30)), MAX_RETRY)


# -- polling -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """What ``/stats`` says about one feed (times are Unix times of the poller's clock)."""

    url: str
    added: int
    """Articles added from it since the bot started."""
    last_success: float | None
    last_error: FeedError | None
    """The error of the last poll, None when it worked."""
    failures: int
    """Failed polls in a row."""
    next_poll: float


@dataclass(slots=True)
class _Feed:
    url: str
    next_poll: float = 0.0
    failures: int = 0
    etag: str | None = None
    modified: str | None = None
    added: int = 0
    last_success: float | None = None
    last_error: FeedError | None = None

    def status(self) -> FeedStatus:
        return FeedStatus(self.url, self.added, self.last_success, self.last_error, self.failures, self.next_poll)


@dataclass
class FeedPoller:
    """Polls the feeds, publishes their new items through ``library``, and remembers them in ``records``.

    ``poll_due()`` polls the feeds whose time has come (by ``clock``), each on its own: tests call it with
    a clock they move. ``start()`` runs it in a background task until ``stop()``.
    """

    urls: Sequence[str]
    library: Library
    records: Records
    every: float = 300.0
    """Seconds between two polls of a feed that works."""
    clock: Callable[[], float] = time.time
    fetch_seconds: float = FETCH_SECONDS
    limit: int = MAX_FEED_BYTES
    _feeds: list[_Feed] = field(init=False)
    _client: httpx.AsyncClient | None = field(init=False, default=None)
    _task: asyncio.Task[None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._feeds = [_Feed(url) for url in self.urls]

    def statuses(self) -> list[FeedStatus]:
        """Each feed's status, in the order of ``PASOKH_FEEDS``."""
        return [feed.status() for feed in self._feeds]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=True,
                max_redirects=5,
                timeout=httpx.Timeout(self.fetch_seconds),
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    async def poll_due(self) -> None:
        """Poll every feed whose time has come, side by side; a failure is the failing feed's alone."""
        now = self.clock()
        due = [feed for feed in self._feeds if feed.next_poll <= now]
        await asyncio.gather(*(self._poll(feed) for feed in due))

    async def _poll(self, feed: _Feed) -> None:
        """Fetch, parse and publish one feed; whatever goes wrong is this feed's failure, retried later."""
        try:
            fetched = await fetch_feed(
                self._http(),
                feed.url,
                etag=feed.etag,
                modified=feed.modified,
                limit=self.limit,
                seconds=self.fetch_seconds,
            )
            items = []
            if fetched.data is not None:  # parsed in a thread: 5 MB of XML must not stall the answers
                items = await asyncio.to_thread(parse_feed, fetched.data, feed.url, fetched.content_type)
            complete = await self._publish(feed, items)
        except FeedError as exc:
            self._failed(feed, exc)
            return
        except Exception as exc:  # a bug, or a document that feedparser chokes on: never the end of polling
            _logger.exception("feed %s: unexpected error", feed.url)
            self._failed(feed, FeedError(Trouble.UNEXPECTED, f"{type(exc).__name__}: {str(exc)[:100]}"))
            return
        if complete:  # else the next poll fetches the whole feed again, for the items left out
            feed.etag, feed.modified = fetched.etag, fetched.modified
        feed.failures, feed.last_error = 0, None
        feed.last_success = self.clock()
        feed.next_poll = feed.last_success + self.every

    def _failed(self, feed: _Feed, error: FeedError) -> None:
        feed.failures += 1
        feed.last_error = error
        wait = retry_delay(feed.failures)
        feed.next_poll = self.clock() + wait
        _logger.warning(
            "feed %s failed (%d in a row): %s; trying again in %d min", feed.url, feed.failures, error, wait // 60
        )

    async def _publish(self, feed: _Feed, items: list[FeedItem]) -> bool:
        """Publish the items not published before (counted in ``feed.added``); False when the seeds folder
        could not take one of them (the next poll tries it again)."""
        url = feed.url
        keys = [item_key(url, item.key) for item in items]
        done = await self.records.published(keys) if keys else set()
        served = {a.id for a in self.library.index.articles}
        complete, added = True, 0
        for item, key in zip(items, keys, strict=True):
            if key in done:
                continue
            article_id = item_article_id(url, item.key)
            if article_id in served:
                await self.records.mark_published(key)
                continue
            data = feed_article(item, dt.datetime.fromtimestamp(self.clock(), dt.UTC), article_id)
            if isinstance(data, Rejected):
                _logger.info("feed %s: item %r is no article (%s), skipped", url, item.key[:200], data.reason)
                await self.records.mark_published(key)
                continue
            report = await self.library.publish(article_id, data)
            if report.ok or report.outcome is Outcome.REJECTED:
                await self.records.mark_published(key)
                added += report.outcome is Outcome.ADDED
                feed.added += report.outcome is Outcome.ADDED
            else:
                complete = False
                why = report.error or report.outcome.value
                _logger.warning("feed %s: item %r not published: %s", url, item.key[:200], why)
        if added:
            _logger.info("feed %s: %d new articles", url, added)
        return complete

    async def run(self) -> None:
        """Poll the feeds as they fall due, until cancelled."""
        while True:
            try:
                await self.poll_due()
            except Exception:  # a bug must not end the polling for good
                _logger.exception("polling the feeds failed")
            wait = min(feed.next_poll for feed in self._feeds) - self.clock()
            await asyncio.sleep(min(max(wait, 1.0), self.every))

    def start(self) -> None:
        """Poll in a background task (nothing to do without feeds)."""
        if self._feeds and self._task is None:
            _logger.info("polling %d feeds every %g min", len(self._feeds), self.every / 60)
            self._task = asyncio.create_task(self.run(), name="feeds")

    async def stop(self) -> None:
        """Cancel the background task (a publication under way finishes its writing) and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
