"""Publishing articles from Telegram: article ids and file names we make, channel posts as seed files, and
the report of one publication or removal.

Every published article is a seed file (``retrieval.seeds``) in the seeds folder, which stays the one
source of truth. Its name is made here, never taken as sent: an uploaded file's name keeps only letters,
digits, ``-`` and ``_`` (so ``../../etc/passwd.txt`` is the article ``etc-passwd``); an ``/add`` message
is ``add-<chat>-<message>`` and a channel post ``channel-<channel>-<message>``, so that an edited message
or post rewrites the same file. Telegram-free: the handlers turn messages into these calls.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import FolderProblem
from retrieval.seeds import SEED_SUFFIXES, Problem, Rejected, dated, header, load_bytes

__all__ = [
    "IRAN",
    "MAX_ID_CHARS",
    "MAX_UPLOAD_BYTES",
    "SOURCE_LABEL",
    "Outcome",
    "PublishReport",
    "added_article_id",
    "added_text",
    "channel_article",
    "channel_article_id",
    "id_key",
    "post_link",
    "seed_name",
    "uploaded_article_id",
]

MAX_UPLOAD_BYTES = 1_000_000
"""The largest file an editor may send (checked before it is downloaded): a long article is 50 KB."""
MAX_ID_CHARS = 80
"""Article ids made from an uploaded file's name are cut to this many characters."""
IRAN = dt.timezone(dt.timedelta(hours=3, minutes=30), "IRST")
"""Iran's time (no daylight saving since 2022): the day a post was published is the day in Tehran."""
SOURCE_LABEL = "منبع:"
"""The seed format has no field for a source: a channel post's link is its article's last line,
«منبع: https://t.me/…», which readers see with the whole article."""

_UNSAFE = re.compile(r"[^\w-]+")  # \w: letters and digits of any script, and _
_ID = re.compile(r"[\w-]{1,200}")


def uploaded_article_id(file_name: str) -> str | None:
    """The article id for an uploaded file: its name without the extension, only letters, digits, ``-``
    and ``_`` (anything else, ``/`` and ``.`` too, becomes ``-``); None when nothing of it is left."""
    stem = unicodedata.normalize("NFC", file_name)
    suffix = Path(stem.replace("/", "-").replace("\\", "-")).suffix
    if suffix.lower() in SEED_SUFFIXES:
        stem = stem[: -len(suffix)]
    slug = _UNSAFE.sub("-", stem).strip("-_")[:MAX_ID_CHARS].strip("-_")
    return slug or None


def added_article_id(chat_id: int, message_id: int) -> str:
    """The article id of an ``/add`` message: its edits replace the same article."""
    return f"add-{abs(chat_id)}-{message_id}"


def _internal(chat_id: int) -> str:
    """A channel's id as t.me links write it: without the ``-100`` that the Bot API puts before it."""
    text = str(chat_id)
    return text[4:] if text.startswith("-100") else str(abs(chat_id))


def channel_article_id(chat_id: int, message_id: int) -> str:
    """The article id of a channel post: its edits replace the same article."""
    return f"channel-{_internal(chat_id)}-{message_id}"


def post_link(chat_id: int, username: str | None, message_id: int) -> str:
    """The t.me link of a channel post: by the channel's username when it has one, else by its id
    (``/c/…``, which only the channel's members can open)."""
    return f"https://t.me/{username}/{message_id}" if username else f"https://t.me/c/{_internal(chat_id)}/{message_id}"


def seed_name(article_id: str, suffix: str = ".txt") -> str:
    """The file name of an article; ``ValueError`` for an id that is no safe name (we make the ids)."""
    if not _ID.fullmatch(article_id) or article_id.startswith(("-", "_")) or suffix not in SEED_SUFFIXES:
        raise ValueError(f"not an article id to publish under: {article_id!r}{suffix}")
    return article_id + suffix


def id_key(article_id: str) -> str:
    """A short stand-in for an id in a button's 64 bytes of callback data."""
    return hashlib.sha256(article_id.encode()).hexdigest()[:20]


def added_text(text: str, today: dt.date) -> str:
    """An ``/add`` message's article as a seed file: dated today unless its first line gives a date."""
    return dated(text, today)


def channel_article(text: str, posted: dt.datetime, link: str, article_id: str) -> bytes | Rejected:
    """A channel post as a seed file: its first line the title, the day it was posted (in Iran) the date,
    the rest the body, and its link as the last line; or why it is no article (a post of one line, say)."""
    title, _, body = text.strip().partition("\n")
    plain = f"{header(posted.astimezone(IRAN).date(), title)}\n{body}\n"
    checked, _ = load_bytes(seed_name(article_id), plain.encode())  # the link alone is no body
    if isinstance(checked, Rejected):
        return checked
    return f"{plain}{SOURCE_LABEL} {link}\n".encode()


class Outcome(enum.Enum):
    """What became of a publication or removal."""

    ADDED = "added"
    REPLACED = "replaced"
    """An article with this id was there: its file now holds the new text."""
    REMOVED = "removed"
    REJECTED = "rejected"
    """The text is no article (``PublishReport.problem`` says why): nothing was saved."""
    NOT_FOUND = "not_found"
    """No article has this id (a removal)."""
    LAST = "last"
    """The only article cannot be removed: the bot would have nothing to answer from."""
    HELD = "held"
    """The seeds folder lacks many of the articles served (moved away for a moment, a half-finished copy):
    nothing was changed; a ``/reload`` shows what is there."""
    FAILED = "failed"
    """The folder could not be read or written (``folder_problem``, ``error``): nothing was changed."""


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What one publication or removal did. Unless ``ok``, the seeds folder and the index are as before."""

    outcome: Outcome
    article_id: str
    seconds: float = 0.0
    title: str = ""
    """The title as readers see it (or the removed article's)."""
    date: dt.date | None = None
    sentences: int = 0
    """The article's sentences in the new index."""
    articles: int = 0
    """Articles served afterwards."""
    problem: Problem | None = None
    """Why the text is no article (``REJECTED``)."""
    flaws: tuple[Problem, ...] = ()
    """What the editor should fix in an article that was published all the same (a date that is no date)."""
    missing: int = 0
    """Served articles absent from the folder (``HELD``)."""
    folder_problem: FolderProblem | None = None
    error: str | None = None
    """Why it failed, in English (logs)."""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.ADDED, Outcome.REPLACED, Outcome.REMOVED)

    @classmethod
    def rejected(cls, article_id: str, problem: Problem) -> PublishReport:
        return cls(Outcome.REJECTED, article_id, problem=problem)
