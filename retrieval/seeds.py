"""Loading articles from the seeds folder.

A seed file is UTF-8 text (``.txt`` or ``.md``, a BOM tolerated; UTF-16 or UTF-32 with a BOM, as Windows
Notepad saves «Unicode», is read too: the BOM says unambiguously how). Its first line is a header,
``date YYYY-MM-DD <title>`` (leading spaces allowed; Latin or Persian digits, ``-`` or ``/``); a year from
1300 to 1499 is Jalali («date 1404-09-05», as Persian editors write), any other Gregorian. Without a
header the first line is the title and the date is unknown. The body follows, one paragraph a line; a
line that begins with punctuation (، ؛ : . and the like) continues the previous one. An article's id is
its file name without extension.

A file that cannot be used is reported with its reason and skipped: the others still load. A file that
loads with a flaw (a header date that is no date) is reported too, and its article loads without what was
wrong. Nothing about a file (its name, bytes, size, kind or links, or the folder vanishing while it is
read) raises.
"""

from __future__ import annotations

import datetime as dt
import enum
import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import jdatetime

from retrieval.cutting import head
from retrieval.errors import FolderProblem, SeedsError
from retrieval.normalize import fold

__all__ = [
    "JALALI_YEARS",
    "MAX_TITLE_CHARS",
    "SEED_SUFFIXES",
    "Article",
    "Flawed",
    "Problem",
    "Rejected",
    "SeedSet",
    "dated",
    "header",
    "load_bytes",
    "load_seeds",
    "parse_article",
    "parse_date",
    "read_article",
]

_logger = logging.getLogger(__name__)

SEED_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TITLE_CHARS = 2000
"""A longer title (a file whose first line is a whole text) is cut: it is shown with every answer."""

_HEADER = re.compile(r"^\s*date\s+(\S+)(?:\s+(.*))?$", re.IGNORECASE)
_DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})")
JALALI_YEARS = range(1300, 1500)
"""Header years read as Jalali (1300 is 1921, 1499 is 2121); any other year is Gregorian."""
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
    BAD_NAME = "bad_name"
    OUTSIDE = "outside"
    """A symbolic link to a file outside the seeds folder (it could expose any file the bot can read)."""
    VANISHED = "vanished"
    DUPLICATE = "duplicate"
    BAD_DATE = "bad_date"
    """Not a skip: the header's date is no date, and the article loads without one (see ``Flawed``)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A seed file that was skipped, and why (one line, for editors and logs)."""

    name: str
    reason: str
    problem: Problem


@dataclass(frozen=True, slots=True)
class Flawed:
    """A seed file that loaded with a flaw editors should fix, and what (one line, for editors and logs)."""

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
    """The articles loaded from a folder, in a stable order, the files that were skipped, and those that
    loaded with a flaw (their articles are among ``articles``)."""

    articles: tuple[Article, ...]
    rejected: tuple[Rejected, ...]
    flawed: tuple[Flawed, ...] = ()

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


def parse_date(raw: str) -> dt.date:
    """Return the day a header's date names, in the Gregorian calendar; raise ``ValueError`` with why not.

    ``YYYY-MM-DD`` or ``YYYY/MM/DD``, month and day of one or two digits, Latin or Persian digits. A year in
    ``JALALI_YEARS`` is Jalali: «1404-09-05» and «۱۴۰۴/۹/۵» are 26 November 2025.
    """
    folded = fold(raw)
    match = _DATE.fullmatch(folded)
    if match is None:
        try:
            return dt.date.fromisoformat(folded)  # the other ISO forms read before: «20251126»
        except ValueError:
            raise ValueError(f"header date {raw!r} is not YYYY-MM-DD") from None
    year, month, day = int(match.group(1)), int(match.group(3)), int(match.group(4))
    calendar = "Jalali" if year in JALALI_YEARS else "Gregorian"
    try:
        if year in JALALI_YEARS:
            gregorian: dt.date = jdatetime.date(year, month, day).togregorian()
            return gregorian
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"header date {raw!r} is no day of the {calendar} calendar ({exc})") from None


def _parse_header(line: str, fallback_title: str) -> tuple[str, dt.date | None, str | None]:
    """Return the title and date that a first line gives, and why its date was left out, if it was."""
    match = _HEADER.match(line)
    if match is None:
        return line, None, None
    raw_date, title = match.group(1), (match.group(2) or "").strip()
    try:
        return title or fallback_title, parse_date(raw_date), None
    except ValueError as exc:
        return title or fallback_title, None, f"{exc}: loaded without a date"


def parse_article(article_id: str, text: str, *, markdown: bool = False, digest: str = "") -> Article:
    """Parse a seed file's text into an ``Article``; raise ``ValueError`` when it holds none.

    A flaw (``read_article``) is logged as a warning.
    """
    article, flaws = read_article(article_id, text, markdown=markdown, digest=digest)
    for _, reason in flaws:
        _logger.warning("%s: %s", article_id, reason)
    return article


def read_article(
    article_id: str, text: str, *, markdown: bool = False, digest: str = ""
) -> tuple[Article, tuple[tuple[Problem, str], ...]]:
    """Parse a seed file's text into an ``Article`` and its flaws (a header date that is no date, and why).

    Raise ``ValueError`` when it holds no article. A title longer than ``MAX_TITLE_CHARS`` is cut at a
    space and ends in «…». Time is linear in the text.
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
    title, date, bad_date = _parse_header("".join(lines[0]), article_id)
    if len(title) > MAX_TITLE_CHARS:
        _logger.warning("%s: title longer than %d characters; cut", article_id, MAX_TITLE_CHARS)
        title = head(title, MAX_TITLE_CHARS - 1) + "…"
    paragraphs = tuple("".join(parts) for parts in lines[1:])
    if not paragraphs:
        raise ValueError("no text after the title line")
    flaws = ((Problem.BAD_DATE, bad_date),) if bad_date else ()
    return Article(id=article_id, title=title, date=date, paragraphs=paragraphs, digest=digest), flaws


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


def _read(path: Path, root: Path | None = None) -> bytes:
    """Return the file's bytes, or raise ``_Skip`` with why it cannot be read.

    Only a regular file whose real path lies inside ``root`` (when given) is read: a link out of the
    seeds folder (to the bot's environment file, say) would otherwise be indexed and served to anyone.
    The size is checked before reading, so a huge file costs a ``stat``, not a read.
    """
    try:
        # os.path.realpath, not Path.resolve: a link loop must be an OSError (ELOOP), not a RuntimeError.
        real = Path(os.path.realpath(path, strict=True))
        if root is not None and not real.is_relative_to(os.path.realpath(root, strict=True)):
            raise _Skip(Problem.OUTSIDE, "a symbolic link to a file outside the seeds folder")
        _regular(real.stat())  # look first: opening a FIFO or a device may block or act
        data = _read_regular(real)
    except OSError as exc:
        raise _os_problem(path, exc) from None
    if len(data) > MAX_FILE_BYTES:  # it grew between the size check and the read
        raise _too_large(len(data))
    return data


def _regular(info: os.stat_result) -> None:
    """Raise ``_Skip`` unless ``info`` is of a regular file within the size limit."""
    if stat.S_ISDIR(info.st_mode):
        raise _Skip(Problem.NOT_A_FILE, "a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise _Skip(Problem.NOT_A_FILE, "not a regular file (a device, pipe or socket)")
    if info.st_size > MAX_FILE_BYTES:
        raise _too_large(info.st_size)


def _read_regular(real: Path) -> bytes:
    """The first ``MAX_FILE_BYTES + 1`` bytes of the regular file at ``real`` (a path without links).

    Opened without blocking or following a link, and checked again once open: a FIFO or a link swapped
    in since the look is refused instead of blocking the load or leading out of the folder, and a file
    that grows meanwhile is not read past the limit.
    """
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link where the look found a file
            raise _Skip(Problem.VANISHED, "replaced by a symbolic link while loading") from None
        raise
    try:
        _regular(os.fstat(fd))
        chunks, left = [], MAX_FILE_BYTES + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


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


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _printable_name(name: str) -> str:
    """The file name as one safe line: undecodable bytes shown as «�», and control, line-break and
    direction characters escaped (``\\n``, ``\\u202e``), so a name can neither forge a line of output
    nor reorder the text around it."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _UNSAFE_NAME.sub(lambda m: ascii(m.group())[1:-1], text)


def load_file(path: Path) -> Article | Rejected:
    """Load one seed file, or say why it was skipped (its flaws: ``load_file_checked``)."""
    return load_file_checked(path)[0]


def load_file_checked(path: Path, root: Path | None = None) -> tuple[Article | Rejected, tuple[Flawed, ...]]:
    """Load one seed file, or say why it was skipped; and the flaws of a file that loaded.

    With ``root``, a file whose real path lies outside that folder is skipped (``Problem.OUTSIDE``).
    """
    name = _printable_name(path.name)
    try:
        if name != path.name:
            # The id would not survive printing, JSON or the index's manifest, or would be shown as a title.
            raise _Skip(Problem.BAD_NAME, "the file name is not UTF-8 or has control characters: rename it")
        return _parsed(path.name, _read(path, root))
    except _Skip as skip:
        return Rejected(name, skip.reason, skip.problem), ()


def load_bytes(name: str, data: bytes) -> tuple[Article | Rejected, tuple[Flawed, ...]]:
    """Load the bytes of a seed file that would be called ``name``, as ``load_file_checked`` loads a file:
    for a file that arrives another way (an editor's upload) and is checked before it is saved."""
    try:
        if _printable_name(name) != name or Path(name).name != name:
            raise _Skip(Problem.BAD_NAME, "the file name is not UTF-8 or has control characters: rename it")
        if len(data) > MAX_FILE_BYTES:
            raise _too_large(len(data))
        return _parsed(name, data)
    except _Skip as skip:
        return Rejected(_printable_name(name), skip.reason, skip.problem), ()


def _parsed(name: str, data: bytes) -> tuple[Article, tuple[Flawed, ...]]:
    """The article in a seed file's bytes, and its flaws; raise ``_Skip`` when it holds none."""
    path = Path(name)
    text = _decode(data)
    try:
        article, flaws = read_article(
            path.stem, text, markdown=path.suffix.lower() == ".md", digest=hashlib.sha256(data).hexdigest()
        )
    except ValueError as exc:
        problem = Problem.EMPTY if str(exc) == "empty file" else Problem.NO_BODY
        raise _Skip(problem, str(exc)) from None
    return article, tuple(Flawed(name, reason, problem) for problem, reason in flaws)


def header(date: dt.date, title: str) -> str:
    """The first line of a seed file that gives its date and title: ``date YYYY-MM-DD title``."""
    return f"date {date.isoformat()} {' '.join(title.split())}".rstrip()


def dated(text: str, date: dt.date) -> str:
    """``text`` (a seed file's) with its first line turned into a header giving ``date``, unless that line
    already is a header (then ``text`` is returned as it is)."""
    first, _, rest = text.lstrip("\ufeff").strip().partition("\n")
    if _HEADER.match(first):
        return text
    return f"{header(date, first)}\n{rest}"


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
    article; files that cannot be used are returned in ``SeedSet.rejected``, and the flaws of files that
    loaded in ``SeedSet.flawed``. ``progress(done, total)`` is
    called per file.
    """
    paths = seed_files(folder)
    articles: list[Article] = []
    rejected: list[Rejected] = []
    flawed: list[Flawed] = []
    seen: set[str] = set()
    for done, path in enumerate(paths, 1):
        result, flaws = load_file_checked(path, folder)
        if isinstance(result, Article) and result.id in seen:
            result = Rejected(
                path.name, f"duplicate article id {result.id!r} (another file has the same name)", Problem.DUPLICATE
            )
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            seen.add(result.id)
            articles.append(result)
            flawed.extend(flaws)
        if progress is not None:
            progress(done, len(paths))
    if not articles:
        if not folder.is_dir():
            raise SeedsError(f"seeds folder disappeared while loading: {folder}", FolderProblem.VANISHED)
        detail = f"{len(rejected)} file(s) rejected" if rejected else "no .txt or .md files"
        raise SeedsError(f"no article could be loaded from {folder} ({detail})", FolderProblem.NOTHING_LOADABLE)
    return SeedSet(tuple(articles), tuple(rejected), tuple(flawed))
