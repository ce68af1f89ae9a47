"""From a question to an answer: the passages, whether they answer, and the reply to send.

The CLI prints ``plain_reply`` and the bot renders the same ``Answer`` as Telegram HTML, so both
always agree on what was found.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import jdatetime

from retrieval import analysis, second
from retrieval.index import ArticleInfo, Hit, Ranking, term_key
from retrieval.normalize import fold
from retrieval.phrase import Asked, answer_phrase, asked_for

__all__ = [
    "Answer",
    "Outcome",
    "Passage",
    "answer",
    "distinct_passages",
    "format_date",
    "marked_spans",
    "no_answer_text",
    "plain_reply",
    "to_persian_digits",
]

MAX_QUESTION_CHARS = 1000
"""Only the start of a longer message is searched: questions are short, pasted articles are not."""

EXAMPLE_QUESTION = "فرمانده انتظامی لرستان کیست؟"

# Pasted markup («<b>…</b>», «<script>») and links are not part of what is asked.
_MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>]{0,200})?/?>")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f\u00ad\u200b\u200d-\u200f\u202a-\u202e\u2060-\u2064\ufeff]+")


def searchable(question: str) -> str:
    """The part of a question that is searched: no markup, links or invisible characters, and its start only.

    ZWNJ stays (it joins a word); bidi marks, zero-width spaces and control characters go before the
    length is counted, so they cannot push the question out of the searched part.
    """
    return _LINK.sub(" ", _MARKUP.sub(" ", _INVISIBLE.sub("", question)))[:MAX_QUESTION_CHARS]


class Outcome(enum.Enum):
    """How a question was handled."""

    ANSWERED = "answered"
    NOT_FOUND = "not_found"
    """Words to search for, but no passage covers enough of them."""
    NO_CONTENT = "no_content"
    """Only question words, stopwords or punctuation («چه کسی است؟», «؟؟؟»)."""
    SMALL_TALK = "small_talk"
    """A greeting, or other courtesy."""
    THANKS = "thanks"
    """Thanks («ممنون»، «مرسی»)."""
    GOODBYE = "goodbye"
    """A goodbye («خداحافظ»)."""
    EMPTY = "empty"


TEXTS = {
    Outcome.NOT_FOUND: (
        "متأسفم، در خبرهایی که دارم پاسخی برای این پرسش پیدا نکردم. "
        "لطفاً آن را با واژه‌های دیگری بپرسید؛ مثلاً نام شخص، مکان یا رویداد را کامل‌تر بنویسید."
    ),
    Outcome.NO_CONTENT: (
        f"پرسش شما واژه‌ای برای جست‌وجو ندارد. لطفاً دربارهٔ موضوعی از خبرها بپرسید؛ مثلاً: «{EXAMPLE_QUESTION}»"
    ),
    Outcome.SMALL_TALK: f"سلام! من «پاسخ» هستم. پرسش خود را دربارهٔ خبرها بنویسید؛ مثلاً: «{EXAMPLE_QUESTION}»",
    Outcome.THANKS: "خواهش می‌کنم 🌷 هر پرسش دیگری دربارهٔ خبرها داشتید، بنویسید.",
    Outcome.GOODBYE: "خدانگهدار! هر وقت پرسشی دربارهٔ خبرها داشتید، من اینجا هستم.",
    Outcome.EMPTY: f"لطفاً پرسش خود را بنویسید؛ مثلاً: «{EXAMPLE_QUESTION}»",
}
PARTIAL = "بخشی از خبرها همین حالا در دسترس نیست؛ اگر پاسخ را نیافتید، چند دقیقهٔ دیگر دوباره بپرسید."
"""Added to a reply without an answer when some shards did not answer (``Answer.partial``)."""


def no_answer_text(result: Answer) -> str:
    """What a reader is told when ``result`` gives no passage as an answer (and why, when some shards were
    not reached)."""
    text = TEXTS.get(result.outcome, TEXTS[Outcome.NOT_FOUND])
    return f"{text}\n\n{PARTIAL}" if result.partial and result.outcome is Outcome.NOT_FOUND else text


@dataclass(frozen=True)
class Passage:
    """What a reader is shown for one hit: the answering sentence, its neighbours, the words to mark, and
    the source. All text is the article's own, as displayed (computed when the index was built)."""

    sentence: str
    """The sentence that answers (the hit)."""
    before: str | None
    """The sentence before it, for context (None at the start of the article, or already shown)."""
    after: str | None
    """The sentence after it (None at the end, or already shown)."""
    title: str
    date: str | None
    """The article's date in both calendars («۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)»), None when unknown."""
    hit: Hit
    asked: Asked | None = None
    """What the question asks for, when an answer phrase is marked for it (see ``retrieval.phrase``)."""

    @functools.cached_property
    def phrase(self) -> tuple[int, int] | None:
        """The (start, end) span in ``sentence`` of the number or date the question asks for, if one."""
        return answer_phrase(self.asked, self.sentence)

    @functools.cached_property
    def marks(self) -> tuple[tuple[int, int], ...]:
        """(start, end) spans in ``sentence`` of the words that found the question's content words
        (worked out when asked: a plain reply never needs them)."""
        return tuple(marked_spans(self.sentence, self.hit.terms))

    @property
    def text(self) -> str:
        """The passage as one text: before, the sentence, after."""
        return " ".join(s for s in (self.before, self.sentence, self.after) if s)


@dataclass(frozen=True)
class Answer:
    """The outcome of a question and its ranked passages (kept even when they do not answer)."""

    question: str
    outcome: Outcome
    hits: tuple[Hit, ...]
    confidence: float = 0.0
    """The no-answer model's probability that the best hit answers (0 when nothing was searched)."""
    missing: int = 0
    """Shards of a sharded collection that did not answer in time: the passages come from the others."""

    @property
    def partial(self) -> bool:
        return self.missing > 0

    @property
    def answered(self) -> bool:
        return self.outcome is Outcome.ANSWERED

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.answered else None

    @functools.cached_property
    def asked(self) -> Asked | None:
        """What the question asks for, when it is answered and that is a kind of phrase to mark."""
        return asked_for(searchable(self.question)) if self.answered else None

    @functools.cached_property
    def passages(self) -> tuple[Passage, ...]:
        """The hits as distinct passages, best first: a hit that an earlier passage already shows (as its
        sentence or a neighbour) is left out, and so is a neighbour already shown."""
        return distinct_passages(self.hits, self.asked)


def distinct_passages(hits: Sequence[Hit], asked: Asked | None = None) -> tuple[Passage, ...]:
    """``hits`` as passages that never show a sentence twice (see ``Answer.passages``), each marking the
    phrase ``asked`` for."""
    shown: set[tuple[int, int]] = set()
    passages = []
    for hit in hits:
        key = (hit.sentence.article, hit.sentence.position)
        if key in shown:
            continue
        before, after = hit.before, hit.after
        context = [s if s is not None and (s.article, s.position) not in shown else None for s in (before, after)]
        for sentence in (before, hit.sentence, after):
            if sentence is not None:
                shown.add((sentence.article, sentence.position))
        text = hit.sentence.display
        passages.append(
            Passage(
                sentence=text,
                before=context[0].display if context[0] is not None else None,
                after=context[1].display if context[1] is not None else None,
                title=hit.article.display_title,
                date=format_date(hit.article.date) if hit.article.date is not None else None,
                hit=hit,
                asked=asked,
            )
        )
    return tuple(passages)


class Ranker(Protocol):
    """What answers are searched in: an ``Index``, or a ``retrieval.collection.Collection``."""

    def rank(self, question: str, k: int = 3) -> Ranking: ...


def answer(index: Ranker, question: str, k: int = 3) -> Answer:
    """Search ``index`` for ``question`` (``k`` passages, at least one) and decide whether the best answers it."""
    question = question.strip()
    if not analysis.words(question):
        outcome = Outcome.EMPTY if not question else Outcome.NO_CONTENT
        return Answer(question, outcome, ())
    searched = searchable(question)
    if not analysis.content_words(searched):
        words = analysis.words(searched)
        return Answer(question, _courtesy(words), ())
    ranking = index.rank(searched, max(k, 1))
    # The no-answer model's probability that the best passage answers (``retrieval.second``).
    answered = bool(ranking.hits) and ranking.confidence >= second.model().threshold
    outcome = Outcome.ANSWERED if answered else Outcome.NOT_FOUND
    return Answer(question, outcome, ranking.hits, ranking.confidence, ranking.missing)


def _courtesy(words: Sequence[str]) -> Outcome:
    """What a message without content words is: thanks, a goodbye, other small talk, or nothing to search."""
    if not words or not all(w in analysis.COURTESIES for w in words):
        return Outcome.NO_CONTENT
    if any(w in analysis.GOODBYES for w in words):
        return Outcome.GOODBYE
    if any(w in analysis.THANKS for w in words):
        return Outcome.THANKS
    return Outcome.SMALL_TALK


# -- presentation --------------------------------------------------------------------------------

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_GREGORIAN_MONTHS = (
    "ژانویه", "فوریه", "مارس", "آوریل", "مه", "ژوئن", "ژوئیه", "اوت", "سپتامبر", "اکتبر", "نوامبر", "دسامبر",
)  # fmt: skip


def to_persian_digits(text: str) -> str:
    """Write ASCII digits as Persian digits."""
    return text.translate(_PERSIAN_DIGITS)


def format_date(date: dt.date) -> str:
    """Return a date in both calendars, Persian first: «۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)»."""
    jalali = jdatetime.date.fromgregorian(date=date)
    persian = f"{jalali.day} {jdatetime.date.j_months_fa[jalali.month - 1]} {jalali.year}"
    gregorian = f"{date.day} {_GREGORIAN_MONTHS[date.month - 1]} {date.year}"
    return to_persian_digits(f"{persian} ({gregorian})")


def source_lines(article: ArticleInfo) -> list[str]:
    """Return the lines that name an article's source: its title, and its date when known."""
    lines = [f"📰 {article.display_title}"]
    if article.date is not None:
        lines.append(f"📅 {format_date(article.date)}")
    return lines


def plain_reply(result: Answer) -> str:
    """Return the plain-text message for an answer, as the bot would send it (without formatting):
    the answering sentence on a line of its own, between its neighbours, then the source."""
    if not result.answered or not result.passages:
        return no_answer_text(result)
    best = result.passages[0]
    return "\n".join([*(s for s in (best.before, best.sentence, best.after) if s), "", *source_lines(best.hit.article)])


_DISPLAY_WORD = re.compile(r"[^\W_](?:[^\W_]|\u200c)*")


def marked_spans(text: str, terms: frozenset[int]) -> list[tuple[int, int]]:
    """The (start, end) spans of the words of ``text`` whose term (the word or its stem) is in ``terms``:
    the words that found the question's, however they were typed («هاشمی فر», a misspelling). Each word
    is marked once, where it first occurs: the marks show what was found, not every repeat."""
    if not terms:
        return []
    spans, seen = [], set()
    for match in _DISPLAY_WORD.finditer(text):
        word = fold(match.group())
        if word and word not in seen and (term_key(word) in terms or term_key(analysis.stems([word])[0]) in terms):
            spans.append(match.span())
            seen.add(word)
    return spans


def hits_as_dicts(hits: Sequence[Hit], asked: Asked | None = None) -> list[dict[str, object]]:
    """Return hits in the CLI's JSON shape; ``answer_phrase`` is the phrase ``asked`` for, as characters
    ``start`` to ``end`` of ``text``, or None."""
    return [
        {
            "text": h.sentence.display,
            "answer_phrase": _phrase_dict(h.sentence.display, asked),
            "score": round(h.score, 4),
            "article": {
                "id": h.article.id,
                "title": h.article.display_title,
                "date": h.article.date.isoformat() if h.article.date else None,
            },
            "sentence": h.sentence.position,
        }
        for h in hits
    ]


def _phrase_dict(text: str, asked: Asked | None) -> dict[str, object] | None:
    span = answer_phrase(asked, text)
    return None if span is None else {"text": text[span[0] : span[1]], "start": span[0], "end": span[1]}
