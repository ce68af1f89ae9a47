"""Corpora and questions for the benchmark: the QA splits as they are, and news padded to a size.

A scale corpus of N sentences is built from the base collection: the paragraphs of ``pquad_val`` and
``persianqa_test`` (one article each) and the articles of ``news/articles.jsonl`` (paragraphs are the
lines of ``text``; the abstract is left out, it repeats the lead), shuffled together once with a fixed
seed. Copy 0 is the base as it is; copies 1, 2, … vary every article deterministically (seeded by the
article id and the copy number), so that copies are not byte-identical while vocabulary and lengths stay
those of real text:

- the paragraphs are shuffled, and one sentence is dropped or repeated;
- up to three digits are replaced by other digits of the same script;
- up to three ZWNJs become a space or disappear, and up to two «می »/«مي » prefixes gain a ZWNJ;
- every other copy has its Arabic ي/ك typed as Persian ی/ک (title included), as another crawler would.

Articles are taken in order until N sentences; the last one is cut short (at a sentence) to land on N.
Sentences are Pasokh's (``retrieval.sentences.split_article``), so every system indexes the same texts.

A corpus is written as JSON Lines, one article a line: ``{"id", "title", "paragraphs", "sentences"}``,
with the article ids and sentence counts alone beside it (``<name>.rows.json``), for readers that need
only those.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.quality import Split, load_split, read_jsonl
from retrieval import Article
from retrieval.sentences import split_article

SPLITS = ("pquad_val", "persianqa_test")
COPY_MARK = "~"
"""A copy's id is the base id, this mark and the copy number: ``farsnews:12~3``."""

_ZWNJ = "\u200c"
_MI_SPACE = re.compile(r"(?<!\S)(می|مي) (?=\S)")
_ARABIC_TO_PERSIAN = str.maketrans({"ي": "ی", "ك": "ک"})
_DIGIT_SETS = ("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@dataclass
class Corpus:
    """Articles and their sentences (row ``starts[i]`` is article ``i``'s first sentence)."""

    ids: list[str]
    starts: np.ndarray
    articles: list[Article] | None
    texts: list[str] | None

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def row_article(self) -> np.ndarray:
        """The article of each sentence row."""
        return np.repeat(np.arange(len(self.ids)), np.diff(self.starts))


def _starts(counts: Sequence[int]) -> np.ndarray:
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


def sentences_of(article: Article) -> list[str]:
    """Pasokh's sentences of an article, as text."""
    return [s.text for s in split_article(article, 0)]


def split_corpus(split: Split) -> Corpus:
    """The corpus of a QA split: one article per paragraph, sentences split as Pasokh does."""
    sentences = [sentences_of(a) for a in split.articles]
    return Corpus(
        ids=[a.id for a in split.articles],
        starts=_starts([len(s) for s in sentences]),
        articles=list(split.articles),
        texts=[t for s in sentences for t in s],
    )


def limit_split(split: Split, questions: int) -> Split:
    """The first ``questions`` answerable and unanswerable questions and only the paragraphs they ask about."""
    kept = split.questions[:questions], split.unanswerable[:questions]
    wanted = {q["doc_id"] for qs in kept for q in qs}
    return Split(split.name, [a for a in split.articles if a.id in wanted], *kept)


# -- the base collection and its copies ------------------------------------------------------------


def news_articles(data: Path) -> list[Article]:
    """The news articles: title, and the lines of the text as paragraphs."""
    articles = []
    for row in read_jsonl(data / "news" / "articles.jsonl"):
        paragraphs = tuple(p.strip() for p in row["text"].split("\n") if p.strip())
        if paragraphs:
            articles.append(Article(id=row["id"], title=row["title"], date=None, paragraphs=paragraphs, digest=""))
    return articles


def base_articles(data: Path) -> list[Article]:
    """The QA paragraphs and the news articles, shuffled together with a fixed seed."""
    articles = [a for name in SPLITS for a in load_split(name, data).articles] + news_articles(data)
    random.Random(20240601).shuffle(articles)
    return articles


def base_id(article_id: str) -> str:
    """The id of the base article a copy was made from."""
    return article_id.split(COPY_MARK, 1)[0]


def _replace_some(text: str, positions: list[int], rng: random.Random, count: int, pick: Callable[[str], str]) -> str:
    chars = list(text)
    for at in rng.sample(positions, min(count, len(positions))):
        chars[at] = pick(chars[at])
    return "".join(chars)


def _vary_text(text: str, rng: random.Random, persian_letters: bool) -> str:
    def other_digit(d: str) -> str:
        digits = next(s for s in _DIGIT_SETS if d in s)
        return rng.choice(digits.replace(d, ""))

    digits = [i for i, c in enumerate(text) if c in _DIGIT_SETS[0] or c in _DIGIT_SETS[1]]
    text = _replace_some(text, digits, rng, 3, other_digit)
    zwnjs = [i for i, c in enumerate(text) if c == _ZWNJ]
    text = _replace_some(text, zwnjs, rng, 3, lambda _: rng.choice((" ", "")))
    prefixes = [m.end(1) for m in _MI_SPACE.finditer(text)]
    text = _replace_some(text, prefixes, rng, 2, lambda _: _ZWNJ)
    return text.translate(_ARABIC_TO_PERSIAN) if persian_letters else text


def vary(article: Article, paragraphs: list[list[str]], copy: int) -> Article:
    """Copy ``copy`` (from 1) of an article whose paragraphs are split into ``paragraphs`` sentences."""
    rng = random.Random(f"{article.id}{COPY_MARK}{copy}")
    paragraphs = [list(p) for p in paragraphs if p]
    if not paragraphs:
        return Article(f"{article.id}{COPY_MARK}{copy}", article.title, None, article.paragraphs, "")
    rng.shuffle(paragraphs)
    where = rng.randrange(len(paragraphs))
    sentences = paragraphs[where]
    at = rng.randrange(len(sentences))
    if rng.random() < 0.5 and sum(map(len, paragraphs)) > 1:
        del sentences[at]
    else:
        sentences.insert(at, sentences[at])
    persian = copy % 2 == 1
    texts = tuple(_vary_text(" ".join(p), rng, persian) for p in paragraphs if p)
    title = article.title.translate(_ARABIC_TO_PERSIAN) if persian else article.title
    return Article(id=f"{article.id}{COPY_MARK}{copy}", title=title, date=None, paragraphs=texts, digest="")


def _cut(article: Article, sentences: list[str], keep: int) -> tuple[Article, list[str]]:
    """The article's first ``keep`` sentences, as an article (re-split to make sure they are the same)."""
    paragraphs: list[str] = []
    left = keep
    for paragraph in article.paragraphs:
        if left <= 0:
            break
        pieces = sentences_of(Article(article.id, article.title, None, (paragraph,), ""))
        paragraphs.append(" ".join(pieces[:left]) if len(pieces) > left else paragraph)
        left -= len(pieces)
    cut = Article(article.id, article.title, None, tuple(paragraphs), "")
    return cut, sentences_of(cut)


def scaled(data: Path, size: int) -> Iterator[tuple[Article, list[str]]]:
    """Articles and their sentences, copies after the base, until ``size`` sentences in all."""
    base = base_articles(data)
    split = [[sentences_of(Article(a.id, a.title, None, (p,), "")) for p in a.paragraphs] for a in base]
    total, copy = 0, 0
    while total < size:
        for original, paragraphs in zip(base, split, strict=True):
            article = vary(original, paragraphs, copy) if copy else original
            sentences = sentences_of(article)
            if total + len(sentences) > size:
                article, sentences = _cut(article, sentences, size - total)
            if sentences:
                yield article, sentences
                total += len(sentences)
            if total >= size:
                return
        copy += 1


def write_corpus(data: Path, size: int, path: Path) -> dict[str, object]:
    """Write the corpus of ``size`` sentences to ``path``; return its statistics."""
    started = time.perf_counter()
    articles = sentences = chars = copies = 0
    ids: list[str] = []
    counts: list[int] = []
    distinct: set[int] = set()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for article, texts in scaled(data, size):
            row = {"id": article.id, "title": article.title, "paragraphs": article.paragraphs, "sentences": texts}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            ids.append(article.id)
            counts.append(len(texts))
            articles += 1
            sentences += len(texts)
            chars += sum(map(len, texts))
            distinct.update(map(hash, texts))
            copies = max(copies, int(article.id.rpartition(COPY_MARK)[2]) if COPY_MARK in article.id else 0)
    rows = {"ids": ids, "counts": counts}
    rows_path(path).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return {
        "sentences": sentences,
        "articles": articles,
        "copies": copies,
        "distinct_sentences": len(distinct),
        "text_mb": round(chars * 2 / 2**20, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


def rows_path(path: Path) -> Path:
    """Where the ids and sentence counts of the corpus at ``path`` are."""
    return path.with_suffix(".rows.json")


def read_corpus(path: Path, *, articles: bool = True, texts: bool = True) -> Corpus:
    """Read a corpus written by ``write_corpus``, keeping only the parts asked for."""
    if not articles and not texts:
        rows = json.loads(rows_path(path).read_text(encoding="utf-8"))
        return Corpus(rows["ids"], _starts(rows["counts"]), None, None)
    ids: list[str] = []
    counts: list[int] = []
    kept_articles: list[Article] = []
    kept_texts: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            ids.append(row["id"])
            counts.append(len(row["sentences"]))
            if articles:
                kept_articles.append(Article(row["id"], row["title"], None, tuple(row["paragraphs"]), ""))
            if texts:
                kept_texts.extend(row["sentences"])
    return Corpus(ids, _starts(counts), kept_articles if articles else None, kept_texts if texts else None)


# -- the questions of the latency sample -----------------------------------------------------------


def question_sample(data: Path, qa: int, titles: int, title_pool_sentences: int) -> list[dict[str, str | None]]:
    """A fixed sample of questions: ``qa`` from the QA splits, ``titles`` news titles, shuffled together.

    QA questions are drawn from both splits' answerable and unanswerable questions. Titles come from
    the news articles within the first ``title_pool_sentences`` sentences of the base collection (so
    every corpus at least that large holds them), typed with Persian ی/ک as on a Persian keyboard.
    """
    rng = random.Random(7)
    pool = [
        q["question"]
        for name in SPLITS
        for file in ("questions.jsonl", "unanswerable.jsonl")
        for q in read_jsonl(data / name / file)
    ]
    sample: list[dict[str, str | None]] = [
        {"text": q, "kind": "qa", "article": None} for q in rng.sample(pool, min(qa, len(pool)))
    ]
    news_ids = {a.id for a in news_articles(data)}
    candidates, total = [], 0
    for article in base_articles(data):
        total += len(sentences_of(article))
        if total > title_pool_sentences:
            break
        if article.id in news_ids:
            candidates.append(article)
    for article in rng.sample(candidates, min(titles, len(candidates))):
        text = article.title.translate(_ARABIC_TO_PERSIAN)
        sample.append({"text": text, "kind": "title", "article": article.id})
    rng.shuffle(sample)
    return sample
