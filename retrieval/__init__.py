"""Pasokh's retrieval library: Persian normalization, articles, sentences, the index and answers.

It never imports ``telegram``: the bot and the command line are thin adapters over it.
"""

from retrieval.collection import Collection
from retrieval.errors import IndexFileError, PasokhError, RecipeMismatch, SeedsError
from retrieval.index import ArticleInfo, Hit, Index, build_index
from retrieval.seeds import Article, Flawed, Rejected, SeedSet, load_seeds
from retrieval.sentences import Sentence

__all__ = [
    "Article",
    "ArticleInfo",
    "Collection",
    "Flawed",
    "Hit",
    "Index",
    "IndexFileError",
    "PasokhError",
    "RecipeMismatch",
    "Rejected",
    "SeedSet",
    "SeedsError",
    "Sentence",
    "build_index",
    "load_seeds",
]
