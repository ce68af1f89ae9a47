"""Loading articles from the seeds folder.

A seed file is UTF-8 text (``.txt`` or ``.md``, a BOM tolerated; UTF-16 or UTF-32 with a BOM, as Windows
Notepad saves «Unicode», is read too: the BOM says unambiguously how). Its first line is a header,
``date YYYY-MM-DD <title>`` (leading spaces allowed); without one, the first line is the title and the
date is unknown. The body follows, one paragraph a line; a line that begins with punctuation
(، ؛ : . and the like) continues the previous one. An article's id is its file name without extension.

A file that cannot be used is reported with its reason and skipped: the others still load. Nothing
about a file (its name, bytes, size, kind or links, or the folder vanishing while it is read) raises.
"""

from __future__ import annotations

import datetime as dt
import enum
import errno
import hashlib
import logging
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.cutting import head
from retrieval.errors import FolderProblem, SeedsError
from retrieval.normalize import fold

__all__ = [
    "MAX_TITLE_CHARS",
    "SEED_SUFFIXES",
    "Article",
    "Problem",
    "Rejected",
    "SeedSet",
    "load_seeds",
    "parse_article",
]

_logger = logging.getLogger(__name__)

SEED_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TITLE_CHARS = 2000
"""A longer title (a file whose first line is a whole text) is cut: it is shown with every answer."""

_HEADER = re.compile(r"^\s*date\s+(\S+)(?:\s+(.*))?$", re.IGNORECASE)
_CONTINUATION = tuple("،؛:.,;!?؟»)]…")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # what text never holds (tabs and line ends it does)
_MARKDOWN_LINE = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|>\s*)")
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__|`)")


@dataclass(frozen=True, slots=True)
class Article:
    """One news article: its id (the file name without extension), title, date and paragraphs."""

    id: str
    title: str
    date: dt.date | None
    paragraphs: tuple[str, ...]
    digest: str
    """SHA-256 of the file's bytes: tells a changed file from an unchanged one on reload."""


class Problem(enum.Enum):
    """Why a seed file was skipped: a kind the bot can word for editors, beside the English reason."""

    EMPTY = "empty"
    BINARY = "binary"
    NOT_UTF8 = "not_utf8"
    NO_BODY = "no_body"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    BROKEN_LINK = "broken_link"
    NOT_A_FILE = "not_a_file"
    VANISHED = "vanished"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A seed file that was skipped, and why (one line, for editors and logs)."""

    name: str
    reason: str
    problem: Problem


class _Skip(Exception):
    """Why ``load_file`` gives up on a file: control flow inside this module, never raised out of it."""

    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem, self.reason = problem, reason


@dataclass(frozen=True, slots=True)
class SeedSet:
    """The articles loaded from a folder, in a stable order, and the files that were skipped."""

    articles: tuple[Article, ...]
    rejected: tuple[Rejected, ...]

    @property
    def fingerprint(self) -> str:
        """A digest of every loaded file's id and content: equal fingerprints mean equal seeds."""
        return fingerprint(self.articles)


def fingerprint(articles: Iterable[Article]) -> str:
    """Return a digest of the articles' ids and file contents."""
    digest = hashlib.sha256()
    for article in articles:
        digest.update(f"{article.id}\0{article.digest}\n".encode())
    return digest.hexdigest()


def _clean(line: str) -> str:
    """The line with control characters and runs of spaces as one space; empty when nothing shows."""
    line = _SPACES.sub(" ", _CONTROL.sub(" ", line)).strip()
    # A line of only other spaces or invisible characters (EM SPACE, ZWNJ, bidi marks) is blank too.
    return line if any(map(str.isalnum, line)) or fold(line).strip() else ""


def _parse_header(line: str, fallback_title: str) -> tuple[str, dt.date | None]:
    """Return the title and date that a first line gives."""
    match = _HEADER.match(line)
    if match is None:
        return line, None
    raw_date, title = match.group(1), (match.group(2) or "").strip()
    try:
        date = dt.date.fromisoformat(fold(raw_date))
    except ValueError:
        _logger.warning("%s: header date %r is not YYYY-MM-DD; date left unknown", fallback_title, raw_date)
        date = None
    return title or fallback_title, date


def parse_article(article_id: str, text: str, *, markdown: bool = False, digest: str = "") -> Article:
    """Parse a seed file's text into an ``Article``; raise ``ValueError`` when it holds none.

    A title longer than ``MAX_TITLE_CHARS`` is cut at a space and ends in «…». Time is linear in the text.
    """
    lines: list[list[str]] = []  # each paragraph's lines, joined at the end: a join per line costs n²
    for raw in text.lstrip("\ufeff").splitlines():
        line = _clean(_MARKDOWN_EMPHASIS.sub("", _MARKDOWN_LINE.sub("", raw)) if markdown else raw)
        if not line:
            continue
        if len(lines) > 1 and line.startswith(_CONTINUATION):
            lines[-1].append(line)
        else:
            lines.append([line])
    if not lines:
        raise ValueError("empty file")
    title, date = _parse_header("".join(lines[0]), article_id)
    if len(title) > MAX_TITLE_CHARS:
        _logger.warning("%s: title longer than %d characters; cut", article_id, MAX_TITLE_CHARS)
        title = head(title, MAX_TITLE_CHARS - 1) + "…"
    paragraphs = tuple("".join(parts) for parts in lines[1:])
    if not paragraphs:
        raise ValueError("no text after the title line")
    return Article(id=article_id, title=title, date=date, paragraphs=paragraphs, digest=digest)


def _link_problem(path: Path, exc: OSError) -> _Skip | None:
    """The skip for a path that cannot be followed, when a symbolic link is why."""
    if exc.errno == errno.ELOOP:
        return _Skip(Problem.BROKEN_LINK, "symbolic link loop")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and path.is_symlink():
        return _Skip(Problem.BROKEN_LINK, "broken symbolic link")
    return None


def _os_problem(path: Path, exc: OSError) -> _Skip:
    """The skip for an error from the file system, in words for editors."""
    if (link := _link_problem(path, exc)) is not None:
        return link
    if isinstance(exc, PermissionError):
        return _Skip(Problem.UNREADABLE, "cannot be read: permission denied")
    if isinstance(exc, FileNotFoundError):
        return _Skip(Problem.VANISHED, "disappeared while loading")
    if isinstance(exc, IsADirectoryError):
        return _Skip(Problem.NOT_A_FILE, "a folder, not a file")
    return _Skip(Problem.UNREADABLE, f"cannot be read: {exc.strerror or exc}")


def _too_large(size: int) -> _Skip:
    return _Skip(Problem.TOO_LARGE, f"too large: {size / 1e6:.1f} MB (limit {MAX_FILE_BYTES / 1e6:.0f} MB)")


def _read(path: Path) -> bytes:
    """Return the file's bytes, or raise ``_Skip`` with why it cannot be read.

    The size is checked before reading, so a huge file costs a ``stat``, not a read.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _Skip(Problem.NOT_A_FILE, "a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _Skip(Problem.NOT_A_FILE, "not a regular file (a device, pipe or socket)")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(info.st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise _os_problem(path, exc) from None
    if len(data) > MAX_FILE_BYTES:  # it grew between the size check and the read
        raise _too_large(len(data))
    return data


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def _looks_like_utf16(data: bytes) -> bool:
    """Whether bytes with NULs read as UTF-16 text without a BOM: NULs only every other byte, and text."""
    if len(data) % 2:
        return False
    for codec, others in (("utf-16-le", data[0::2]), ("utf-16-be", data[1::2])):  # ASCII «x\0» / «\0x»
        if b"\x00" in others:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        return _BINARY_CONTROL.search(text) is None
    return False


def _decode(data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break  # not what the BOM says: judged as bytes below (binary, or not UTF-8)
            if not text.strip():
                raise _Skip(Problem.EMPTY, "empty file")
            if "\x00" in text:
                raise _Skip(Problem.BINARY, "binary file (contains NUL characters)")
            return text
    if not data.strip():
        raise _Skip(Problem.EMPTY, "empty file")
    if b"\x00" in data:
        if _looks_like_utf16(data):
            raise _Skip(Problem.NOT_UTF8, "UTF-16 text without a byte order mark: save it as UTF-8")
        raise _Skip(Problem.BINARY, "binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Skip(
            Problem.NOT_UTF8, f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _printable_name(name: str) -> str:
    """The file name as text that can be printed and stored (undecodable bytes shown as «�»)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def load_file(path: Path) -> Article | Rejected:
    """Load one seed file, or say why it was skipped."""
    name = _printable_name(path.name)
    try:
        if name != path.name:
            # The id would not survive printing, JSON or the index's manifest.
            raise _Skip(Problem.NOT_UTF8, "the file name is not UTF-8: rename it")
        data = _read(path)
        text = _decode(data)
        try:
            return parse_article(
                path.stem, text, markdown=path.suffix.lower() == ".md", digest=hashlib.sha256(data).hexdigest()
            )
        except ValueError as exc:
            problem = Problem.EMPTY if str(exc) == "empty file" else Problem.NO_BODY
            raise _Skip(problem, str(exc)) from None
    except _Skip as skip:
        return Rejected(name, skip.reason, skip.problem)


def seed_files(folder: Path) -> list[Path]:
    """Return the seed files of ``folder`` in load order (by name); hidden files are ignored."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        raise SeedsError(f"seeds folder not found: {folder}", FolderProblem.MISSING) from None
    except NotADirectoryError:
        raise SeedsError(f"not a folder: {folder}", FolderProblem.NOT_A_FOLDER) from None
    except PermissionError:
        raise SeedsError(f"seeds folder cannot be read: {folder}", FolderProblem.UNREADABLE) from None
    except OSError as exc:
        raise SeedsError(
            f"seeds folder cannot be read: {folder} ({exc.strerror or exc})", FolderProblem.UNREADABLE
        ) from None
    return [p for p in entries if not p.name.startswith(".") and p.suffix.lower() in SEED_SUFFIXES]


def load_seeds(folder: Path, *, progress: Callable[[int, int], None] | None = None) -> SeedSet:
    """Load every seed file of ``folder``.

    Raises ``SeedsError`` when the folder is missing (or vanishes while loading) or no file in it holds an
    article; files that cannot be used are returned in ``SeedSet.rejected``. ``progress(done, total)`` is
    called per file.
    """
    paths = seed_files(folder)
    articles: list[Article] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for done, path in enumerate(paths, 1):
        result = load_file(path)
        if isinstance(result, Article) and result.id in seen:
            result = Rejected(
                path.name, f"duplicate article id {result.id!r} (another file has the same name)", Problem.DUPLICATE
            )
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            seen.add(result.id)
            articles.append(result)
        if progress is not None:
            progress(done, len(paths))
    if not articles:
        if not folder.is_dir():
            raise SeedsError(f"seeds folder disappeared while loading: {folder}", FolderProblem.VANISHED)
        detail = f"{len(rejected)} file(s) rejected" if rejected else "no .txt or .md files"
        raise SeedsError(f"no article could be loaded from {folder} ({detail})", FolderProblem.NOTHING_LOADABLE)
    return SeedSet(tuple(articles), tuple(rejected))
