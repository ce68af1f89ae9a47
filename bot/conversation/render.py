"""Telegram HTML for answers and articles: matched words in bold, every dynamic piece escaped,
messages split under Telegram's 4096-character limit at paragraph, sentence or word boundaries.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from retrieval import Hit, Index
from retrieval.answer import (
    TEXTS,
    Answer,
    Outcome,
    highlight_spans,
    passage_text,
    source_lines,
    to_persian_digits,
)
from retrieval.normalize import display

__all__ = [
    "MAX_MESSAGE",
    "RLM",
    "Piece",
    "article_pieces",
    "fa",
    "fa_decimal",
    "first_keyboard",
    "first_pieces",
    "html_messages",
    "isolated",
    "parse_callback",
    "passage_keyboard",
    "passage_pieces",
    "single_line",
    "to_html",
]

MAX_MESSAGE = 4096
MORE = "نتایج بیشتر ◀️"
BACK = "▶️ قبلی"
NEAREST = "نزدیک‌ترین نتیجه‌ها"
WHOLE_ARTICLE = "📄 متن کامل خبر"

Piece = tuple[str, bool]
"""A run of plain text, and whether it is bold."""

_CALLBACK = re.compile(r"^(more|art):([0-9]{1,15}):([0-9]{1,2})$")


def _emphasised(text: str, question: str) -> list[Piece]:
    pieces: list[Piece] = []
    at = 0
    for start, end in highlight_spans(text, question):
        pieces.extend([(text[at:start], False), (text[start:end], True)])
        at = end
    pieces.append((text[at:], False))
    return [p for p in pieces if p[0]]


def first_pieces(result: Answer) -> list[Piece]:
    """The first reply to a question: the best passage, or the polite "no answer"."""
    if result.answered:
        return passage_pieces(result, 0)
    return [(TEXTS.get(result.outcome, TEXTS[Outcome.NOT_FOUND]), False)]


def passage_pieces(result: Answer, page: int, *, footer: bool = True) -> list[Piece]:
    """Passage ``page`` of a result: the sentence and its neighbours, matched words bold, its source.

    With ``footer``, passages other than the answer say which of how many they are.
    """
    hit = result.hits[page]
    pieces = _emphasised(" ".join(passage_text(hit)), result.question)
    source = source_lines(hit.article)
    pieces += [("\n\n", False), (source[0][:2], False), (source[0][2:], True)]
    pieces += [("\n" + line, False) for line in source[1:]]
    if footer and (page > 0 or not result.answered):
        pieces.append((f"\n\n🔎 {fa(page + 1)} از {fa(len(result.hits))}", False))
    return pieces


def fa(n: float | str) -> str:
    """A number (or text with digits) in Persian digits."""
    return to_persian_digits(str(n))


def fa_decimal(x: float, decimals: int = 2) -> str:
    """A fraction in Persian digits with the Persian decimal sign: «۰٫۰۷»."""
    return fa(f"{x:.{decimals}f}").replace(".", "٫")


RLM = "\u200f"
"""Right-to-left mark: a line that opens with it is laid out right to left."""


def isolated(text: str) -> str:
    """A name (often Latin) as one line-safe unit that cannot reorder the Persian around it."""
    return f"\u2068{single_line(text)}\u2069"


def article_pieces(index: Index, article_position: int) -> list[Piece]:
    """A whole article: its title in bold, its date, and its paragraphs."""
    source = source_lines(index.articles[article_position])
    pieces: list[Piece] = [(source[0][:2], False), (source[0][2:], True)]
    pieces += [("\n" + line, False) for line in source[1:]]
    paragraphs = itertools.groupby(index.article_sentences(article_position), key=lambda s: s.paragraph)
    text = "\n\n".join(" ".join(display(s.text) for s in sentences) for _, sentences in paragraphs)
    pieces.append(("\n\n" + text, False))
    return pieces


def _cut(text: str, limit: int) -> int:
    """Where to end a chunk of ``text`` no longer than ``limit`` UTF-16 units: the latest good boundary."""
    units, end = 0, len(text)
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            end = i
            break
    if end == len(text):
        return end
    window = text[:end]
    for boundary in ("\n\n", "\n", ". ", "؟ ", "! ", "؛ ", " "):
        at = window.rfind(boundary)
        if at > limit // 3:
            return at + len(boundary)
    return end


def split_pieces(pieces: Sequence[Piece], limit: int = MAX_MESSAGE) -> list[list[Piece]]:
    """Split pieces into messages of at most ``limit`` characters of text, at the best boundaries."""
    text = "".join(t for t, _ in pieces)
    starts = list(itertools.accumulate((len(t) for t, _ in pieces), initial=0))
    chunks: list[list[Piece]] = []
    start = 0
    while start < len(text):
        end = start + _cut(text[start:], limit)
        chunk = [
            (piece[max(start, a) - a : min(end, b) - a], bold)
            for (piece, bold), a, b in zip(pieces, starts, starts[1:], strict=False)
            if a < end and b > start
        ]
        chunks.append(chunk)
        start = end
    return chunks


def to_html(pieces: Iterable[Piece]) -> str:
    """Render pieces as Telegram HTML; every piece is escaped."""
    parts = []
    for text, bold in pieces:
        escaped = html.escape(text, quote=False)
        parts.append(f"<b>{escaped}</b>" if bold and text.strip() else escaped)
    return "".join(parts).strip()


def html_messages(pieces: Sequence[Piece], limit: int = MAX_MESSAGE) -> list[str]:
    """Render pieces as one or more HTML messages, each within Telegram's limit."""
    return [html_text for chunk in split_pieces(pieces, limit) if (html_text := to_html(chunk))]


def first_keyboard(result: Answer, question_id: int) -> InlineKeyboardMarkup | None:
    """Buttons under the first reply: more passages and the article, or the nearest passages."""
    if result.answered:
        return passage_keyboard(result, question_id, 0)
    if result.hits:
        return InlineKeyboardMarkup([[InlineKeyboardButton(NEAREST, callback_data=f"more:{question_id}:0")]])
    return None


def passage_keyboard(result: Answer, question_id: int, page: int) -> InlineKeyboardMarkup:
    """Buttons under passage ``page``: the previous and next passages, and the whole article."""
    row = []
    if page > 0:
        row.append(InlineKeyboardButton(BACK, callback_data=f"more:{question_id}:{page - 1}"))
    if page + 1 < len(result.hits):
        row.append(InlineKeyboardButton(MORE, callback_data=f"more:{question_id}:{page + 1}"))
    article = [InlineKeyboardButton(WHOLE_ARTICLE, callback_data=f"art:{question_id}:{page}")]
    return InlineKeyboardMarkup([row, article] if row else [article])


def parse_callback(data: str | None) -> tuple[str, int, int] | None:
    """Return (action, question id, page) from button data, or None when it is not ours or malformed."""
    match = _CALLBACK.fullmatch(data or "")
    if match is None:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3))


_UNSAFE_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def single_line(text: str) -> str:
    """User text for one line of a listing: control characters, line breaks and bidi overrides become
    spaces (they could break the line or reorder what is shown); ZWNJ and the RTL/LTR marks stay."""
    return " ".join(_UNSAFE_IN_A_LINE.sub(" ", text).split())


def hit_snippet(hit: Hit, limit: int = 200) -> str:
    """A sentence shortened for an inline result's description."""
    text = display(hit.sentence.text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
