"""Splitting articles into sentences, each remembering its article and position."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from retrieval.cutting import cut
from retrieval.normalize import sentence_tokenizer
from retrieval.seeds import Article

__all__ = ["MAX_SENTENCE_CHARS", "Sentence", "split_article", "split_paragraph"]

MAX_SENTENCE_CHARS = 2000
"""A longer sentence is cut (``retrieval.cutting.cut``) into sentences of at most this many characters."""

# hazm splits after every «.»: rejoin a fragment that ends in a one-letter abbreviation («ع.», «ص.»,
# «A.») or that leaves a quotation open («او گفت: «سلام.» + «خوبی؟» …»).
_ABBREVIATION_END = re.compile(r"(?:^|[\s(«])[^\W\d_]\.$")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of an article: its text as written, and as shown (``display``)."""

    article: int
    """Position of the article in the index."""
    position: int
    """Position of the sentence in its article, from 0."""
    paragraph: int
    """Position of its paragraph in the article, from 0."""
    text: str
    display: str = ""
    """The text as readers see it (``retrieval.display.display``): an index computes it once, when it is
    built, and a sentence read from an index carries it; ``split_article`` leaves it empty."""


def _abbreviations_mended(pieces: Iterable[str]) -> Iterator[list[str]]:
    """hazm's pieces in runs: a piece that ends in a one-letter abbreviation runs on into the next.

    Only a piece's last three characters decide (with the space a run puts before it, which the pattern's
    «^» stands for), so each piece is read once however long the run grows.
    """
    run: list[str] = []
    for piece in pieces:
        run.append(piece)
        if not _ABBREVIATION_END.search(piece[-3:] if len(piece) > 3 else piece):
            yield run
            run = []
    if run:
        yield run


def _quotes_mended(runs: Iterable[list[str]]) -> Iterator[str]:
    """Sentences of runs of pieces: a run that leaves a quotation open runs on into the next until it closes.

    A quotation is mended only into a sentence of at most ``MAX_SENTENCE_CHARS`` characters: past that
    (a quotation the writer forgot to close, or a very long one) its runs are sentences as they are. The
    count of open quotes and the length are kept as the runs come, so each is read once.
    """
    held: list[list[str]] = []
    depth = length = 0
    for run in runs:
        held.append(run)
        depth += sum(piece.count("«") - piece.count("»") for piece in run)
        length += sum(len(piece) + 1 for piece in run)
        if depth > 0 and length <= MAX_SENTENCE_CHARS + 1:
            continue
        if length > MAX_SENTENCE_CHARS + 1:  # too long to mend
            yield from (" ".join(r) for r in held)
        else:
            yield " ".join(piece for r in held for piece in r)
        held, depth, length = [], 0, 0
    if held:
        yield " ".join(piece for r in held for piece in r)


def split_paragraph(paragraph: str) -> list[str]:
    """Split one paragraph into sentences with hazm, mending its splits inside quotes and abbreviations.

    A sentence longer than ``MAX_SENTENCE_CHARS`` is cut into several at spaces (``retrieval.cutting``).
    Time is linear in the paragraph's length.
    """
    sentences: list[str] = []
    for sentence in _quotes_mended(_abbreviations_mended(sentence_tokenizer().tokenize(paragraph))):
        if len(sentence) <= MAX_SENTENCE_CHARS:
            sentences.append(sentence)
        else:
            sentences.extend(cut(sentence, MAX_SENTENCE_CHARS))
    return sentences


def split_article(article: Article, article_index: int) -> list[Sentence]:
    """Split an article's paragraphs into sentences; the title is never part of one."""
    sentences: list[Sentence] = []
    for paragraph_index, paragraph in enumerate(article.paragraphs):
        for text in split_paragraph(paragraph):
            sentences.append(Sentence(article_index, len(sentences), paragraph_index, text))
    return sentences
