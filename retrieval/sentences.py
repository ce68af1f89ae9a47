"""Splitting articles into sentences, each remembering its article and position."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.normalize import sentence_tokenizer
from retrieval.seeds import Article

__all__ = ["Sentence", "split_article", "split_paragraph"]

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


def _opens_quote(text: str) -> bool:
    return text.count("«") > text.count("»")


def split_paragraph(paragraph: str) -> list[str]:
    """Split one paragraph into sentences with hazm, mending its splits inside quotes and abbreviations."""
    pieces: list[str] = []
    carry = ""
    for piece in sentence_tokenizer().tokenize(paragraph):
        text = f"{carry} {piece}" if carry else piece
        if _ABBREVIATION_END.search(text) or _opens_quote(text):
            carry = text
            continue
        pieces.append(text)
        carry = ""
    if carry:
        pieces.append(carry)
    return pieces


def split_article(article: Article, article_index: int) -> list[Sentence]:
    """Split an article's paragraphs into sentences; the title is never part of one."""
    sentences: list[Sentence] = []
    for paragraph_index, paragraph in enumerate(article.paragraphs):
        for text in split_paragraph(paragraph):
            sentences.append(Sentence(article_index, len(sentences), paragraph_index, text))
    return sentences
