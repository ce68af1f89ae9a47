"""Telegram HTML for answers and articles, every dynamic piece escaped.

A passage is one message: the sentence that answers stands out in plain text, with the words that found
the question's in bold, between its neighbours set as quotes (context, quieter); then the article's title
and date. When the question asks for a number or a date and the sentence holds one, that phrase is the
answer: the phrase is bold, and the question's words are underlined instead. A passage too long for one
message is cut at a word boundary, clearly («…»), keeping its source.
Whole articles are split under Telegram's 4096-character limit at paragraph, sentence or word boundaries,
never inside a grapheme (🇮🇷, 👍🏽).
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Sequence

import regex
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from retrieval.answer import Answer, Passage, format_date, no_answer_text, to_persian_digits
from retrieval.collection import Served

__all__ = [
    "BOLD",
    "MAX_MESSAGE",
    "PLAIN",
    "QUOTE",
    "RLM",
    "UNDERLINE",
    "Piece",
    "article_messages",
    "article_pieces",
    "clip",
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
    "snippet",
    "source_pieces",
    "to_html",
    "utf16_len",
]

MAX_MESSAGE = 4096
MORE = "نتایج بیشتر ◀️"
BACK = "▶️ قبلی"
NEAREST = "نزدیک‌ترین نتیجه‌ها"
WHOLE_ARTICLE = "📄 متن کامل خبر"

Style = str
PLAIN, BOLD, UNDERLINE, QUOTE = "", "b", "u", "blockquote"
Piece = tuple[str, Style]
"""A run of plain text, and how it is shown: ``PLAIN``, ``BOLD``, ``UNDERLINE`` or ``QUOTE`` (a quoted block)."""
CUT = "…"

_CALLBACK = re.compile(r"^(more|art):([0-9]{1,15}):([0-9]{1,2})$")


def _marked(passage: Passage) -> list[Piece]:
    """The answering sentence with its marks: the answer phrase bold and the question's words underlined
    around it; without a phrase, the question's words bold."""
    text, answer = passage.sentence, passage.phrase
    spans = [(start, end, UNDERLINE if answer else BOLD) for start, end in passage.marks]
    if answer is not None:
        spans = [(*answer, BOLD), *(s for s in spans if s[1] <= answer[0] or s[0] >= answer[1])]
    pieces: list[Piece] = []
    at = 0
    for start, end, style in sorted(spans):
        pieces.extend([(text[at:start], PLAIN), (text[start:end], style)])
        at = end
    pieces.append((text[at:], PLAIN))
    return [p for p in pieces if p[0]]


def first_pieces(result: Answer) -> list[Piece]:
    """The first reply to a question: the best passage, or the polite "no answer"."""
    if result.answered and result.passages:
        return passage_pieces(result, 0)
    return [(no_answer_text(result), PLAIN)]


def source_pieces(passage: Passage) -> list[Piece]:
    """The title (bold) and the date of a passage's article."""
    return _source(passage.title, passage.date)


def _source(title: str, date: str | None) -> list[Piece]:
    pieces: list[Piece] = [("📰 ", PLAIN), (title, BOLD)]
    if date is not None:
        pieces.append((f"\n📅 {date}", PLAIN))
    return pieces


def passage_pieces(
    result: Answer, page: int, *, footer: bool = True, context: bool = True, limit: int = MAX_MESSAGE
) -> list[Piece]:
    """Passage ``page`` of a result as one message of at most ``limit`` UTF-16 units: the neighbours as
    quotes around the answering sentence (without ``context``, the sentence alone), its source, and (with
    ``footer``, for passages other than the answer) which of how many it is. A passage too long is cut,
    clearly, never its source."""
    passage = result.passages[page]
    tail = [("\n\n", PLAIN), *source_pieces(passage)]
    if footer and (page > 0 or not result.answered):
        tail.append((f"\n\n🔎 {fa(page + 1)} از {fa(len(result.passages))}", PLAIN))
    room = limit - sum(utf16_len(t) for t, _ in tail)
    answer = _marked(passage)
    before = [(passage.before, QUOTE), ("\n", PLAIN)] if context and passage.before else []
    after = [("\n", PLAIN), (passage.after, QUOTE)] if context and passage.after else []
    # The answering sentence always shows: the neighbours go first when the whole is too long for a
    # message, and only a sentence longer than a message on its own is cut (at a word, with «…»).
    for body in ([*before, *answer, *after], [*answer, *after], [*before, *answer], answer):
        if sum(utf16_len(t) for t, _ in body) <= room:
            break
    else:
        body = clip(answer, room)
    return body + tail


def clip(pieces: Sequence[Piece], limit: int) -> list[Piece]:
    """The start of ``pieces`` within ``limit`` UTF-16 units, cut at a word boundary and marked «…»."""
    text = "".join(t for t, _ in pieces)
    end = _cut(text, limit - utf16_len(" " + CUT))
    return [*_slice(pieces, 0, end), (" " + CUT, PLAIN)]


def _slice(pieces: Sequence[Piece], start: int, end: int) -> list[Piece]:
    """The pieces' text from character ``start`` to ``end``, styles kept."""
    starts = list(itertools.accumulate((len(t) for t, _ in pieces), initial=0))
    return [
        (piece[max(start, a) - a : min(end, b) - a], style)
        for (piece, style), a, b in zip(pieces, starts, starts[1:], strict=False)
        if a < end and b > start
    ]


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text) + sum(ord(c) > 0xFFFF for c in text)


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


def article_pieces(index: Served, article_position: int, limit: int | None = None) -> list[Piece]:
    """A whole article: its title in bold, its date, and its paragraphs; with ``limit``, only the
    sentences that begin within its first ``limit`` characters (what can be sent of it)."""
    article = index.articles[article_position]
    pieces = _source(article.display_title, format_date(article.date) if article.date is not None else None)
    parts: list[str] = []
    length, paragraph = sum(len(text) for text, _ in pieces), None
    for sentence in index.article_sentences(article_position):
        if limit is not None and length > limit:
            break
        parts.append("\n\n" if sentence.paragraph != paragraph else " ")
        parts.append(sentence.display)
        length += len(parts[-2]) + len(sentence.display)
        paragraph = sentence.paragraph
    pieces.append(("".join(parts), PLAIN))
    return pieces


def article_messages(index: Served, article_position: int, most: int, cut_notice: str) -> list[str]:
    """An article as at most ``most`` HTML messages; when it needs more, the last is ``cut_notice``.

    Only what can be sent is rendered: an article of a 10 MB seed file would otherwise be split into
    2,500 messages, 13 s of work, to send five.
    """
    limit = most * MAX_MESSAGE  # a message holds at most this many characters: one more needs another
    pieces = article_pieces(index, article_position, limit)
    if sum(len(text) for text, _ in pieces) > limit:
        pieces = _slice(pieces, 0, limit + 1)
    messages = html_messages(pieces)
    if len(messages) > most:
        messages = [*messages[: most - 1], html.escape(cut_notice)]
    return messages


def _cut(text: str, limit: int) -> int:
    """Where to end a chunk of ``text`` no longer than ``limit`` UTF-16 units: the latest good boundary,
    else the last whole grapheme that fits (never a flag or an emoji with its modifier split)."""
    units, end = 0, len(text)
    for grapheme in regex.finditer(r"\X", text):
        units += utf16_len(grapheme.group())
        if units > limit:
            end = grapheme.start()
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
    """Split pieces into messages of at most ``limit`` UTF-16 units of text, at the best boundaries."""
    text = "".join(t for t, _ in pieces)
    chunks: list[list[Piece]] = []
    start = 0
    while start < len(text):
        end = start + max(_cut(text[start:], limit), 1)
        chunks.append(_slice(pieces, start, end))
        start = end
    return chunks


def to_html(pieces: Iterable[Piece]) -> str:
    """Render pieces as Telegram HTML; every piece is escaped."""
    parts = []
    for text, style in pieces:
        escaped = html.escape(text, quote=False)
        parts.append(f"<{style}>{escaped}</{style}>" if style and text.strip() else escaped)
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
    if page + 1 < len(result.passages):
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


def snippet(text: str, limit: int = 200) -> str:
    """Text shortened at a word boundary for an inline result's description."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + CUT
