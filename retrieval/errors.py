"""The exceptions ``retrieval`` raises. Everything else it reports as data (rejected files, no answer).

PasokhError
├── SeedsError            the seeds folder is missing, or no file in it could be loaded
└── IndexFileError        a saved index cannot be used
    └── RecipeMismatch    it was built with other analysis settings or library versions
"""

from __future__ import annotations

import enum

__all__ = ["FolderProblem", "IndexFileError", "PasokhError", "RecipeMismatch", "SeedsError"]


class FolderProblem(enum.Enum):
    """Why a seeds folder gave no articles (``SeedsError.problem``), for messages in other languages."""

    MISSING = "missing"
    NOT_A_FOLDER = "not a folder"
    UNREADABLE = "unreadable"
    VANISHED = "disappeared while loading"
    NOTHING_LOADABLE = "no loadable article"


class PasokhError(Exception):
    """Base class: the message is one line, fit to show a user or an operator."""


class SeedsError(PasokhError):
    """The seeds folder is missing, unreadable, or holds no loadable article (which: ``problem``)."""

    def __init__(self, message: str, problem: FolderProblem) -> None:
        super().__init__(message)
        self.problem = problem


class IndexFileError(PasokhError):
    """A saved index is missing, incomplete or damaged."""


class RecipeMismatch(IndexFileError):
    """A saved index was built with settings or library versions other than the running ones."""


class ClusterError(PasokhError):
    """The Ray cluster of a sharded index cannot be reached, or its shards cannot be started or loaded."""
