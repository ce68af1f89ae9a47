"""The index the bot answers from, and reloading it from the seeds folder.

A reload builds a new ``Index`` in a worker thread while questions keep being answered from the old
one, then replaces it with one assignment. Handlers read ``library.index`` once per question, so every
answer comes wholly from one index. A reload that fails keeps the old index.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from retrieval import Flawed, Index, IndexFileError, Rejected, SeedsError, SeedSet, build_index, load_seeds
from retrieval.errors import FolderProblem
from retrieval.store import load_index, save_index

__all__ = ["Library", "ReloadReport", "Stopping"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What a reload changed, or why it failed (then ``error`` is set and nothing changed)."""

    articles_before: int
    sentences_before: int
    articles_after: int
    sentences_after: int
    seconds: float
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    flawed: tuple[Flawed, ...] = ()
    """Files loaded with a flaw editors should fix (a header date that is no date)."""
    error: str | None = None
    """Why the reload failed, in English (logs); None when it worked."""
    held: bool = False
    """The new collection would have dropped more than ``SHRINK_LIMIT`` of the articles: it was not
    swapped in; ``articles_after`` and the lists say what it would have been."""
    problem: FolderProblem | None = None
    """Why the reload failed, as a code to word in Persian for the admin."""
    already_running: bool = field(default=False)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.already_running and not self.held


SHRINK_LIMIT = 0.2
"""Share of the current articles a reload may drop without an admin's confirmation."""


def _shrinks(old: Index, new: Index) -> bool:
    """Whether ``new`` lacks more than ``SHRINK_LIMIT`` of the articles of ``old``."""
    gone = len({a.id for a in old.articles} - {a.id for a in new.articles})
    return gone > max(SHRINK_LIMIT * len(old.articles), 1)


class Stopping(Exception):
    """The library was closed (the bot is stopping) while it loaded or built an index."""


def _digests(index: Index) -> dict[str, str]:
    return {a.id: a.digest for a in index.articles}


class Library:
    """Holds the current index; ``reload()`` swaps in a new one built from the seeds folder."""

    def __init__(self, seeds_dir: Path, index_dir: Path | None = None) -> None:
        self.seeds_dir = seeds_dir
        self.index_dir = index_dir
        self._index: Index | None = None
        self._rejected: tuple[Rejected, ...] = ()
        self._flawed: tuple[Flawed, ...] = ()
        self._reloading = asyncio.Lock()
        self._stopping = threading.Event()
        self.loaded_at = 0.0
        """When the seeds of the current index were read (Unix time): a reload announced later is news."""

    @property
    def index(self) -> Index:
        """The current index (raises before ``open()``)."""
        if self._index is None:
            raise RuntimeError("the library is not open yet")
        return self._index

    @property
    def is_open(self) -> bool:
        """Whether an index has been loaded (``open()`` done)."""
        return self._index is not None

    @property
    def flawed(self) -> tuple[Flawed, ...]:
        """Seed files the last successful load took in with a flaw."""
        return self._flawed

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        """Seed files skipped by the last successful load."""
        return self._rejected

    def close(self) -> None:
        """The bot is stopping: a load or build under way stops at its next file or batch of articles
        (``Stopping``), so that shutdown never waits for a whole build."""
        self._stopping.set()

    def _check(self, done: int, total: int) -> None:
        """Progress callback of loads and builds: stop when the library was closed."""
        if self._stopping.is_set():
            raise Stopping(f"stopped after {done} of {total}")

    def open(self) -> Index:
        """Load the saved index when it matches the seeds, else build one (and save it). Blocking.

        Raises ``SeedsError`` when the seeds folder is missing or holds nothing loadable, ``Stopping`` when
        the library is closed meanwhile.
        """
        read_at = time.time()
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        self._rejected, self._flawed = seeds.rejected, seeds.flawed
        index = self._load_saved(seeds) or self._build(seeds)
        self._index, self.loaded_at = index, read_at
        return index

    def _load_saved(self, seeds: SeedSet) -> Index | None:
        """The saved index, when there is one and it is intact and built from these seeds; else None (logged)."""
        if self.index_dir is None or not os.path.lexists(self.index_dir / "manifest.json"):
            return None
        try:
            return load_index(self.index_dir, seeds_fingerprint=seeds.fingerprint)
        except IndexFileError as exc:  # load_index reports any damage as this, never as another exception
            _logger.warning("saved index in %s not used (%s); building from %s", self.index_dir, exc, self.seeds_dir)
            return None

    def _build(self, seeds: SeedSet) -> Index:
        index = build_index(seeds, progress=self._check)
        if self.index_dir is not None:
            try:
                save_index(index, self.index_dir)
            except OSError as exc:
                _logger.warning("could not save the index to %s: %s", self.index_dir, exc)
        return index

    def _load_and_build(self) -> tuple[Index, SeedSet]:
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        return self._build(seeds), seeds

    async def reload(self, *, allow_shrink: bool = False) -> ReloadReport:
        """Rebuild from the seeds folder off the event loop and swap the new index in whole.

        A new collection that lacks more than ``SHRINK_LIMIT`` of the current articles (a folder moved
        away for a moment, a half-finished copy) is held back unless ``allow_shrink``: the old index
        stays and the report says ``held``, for an admin to confirm.
        """
        old = self.index
        before = (len(old.articles), len(old))
        if self._reloading.locked():
            return ReloadReport(*before, *before, 0.0, already_running=True)
        async with self._reloading:
            started, read_at = time.perf_counter(), time.time()
            try:
                new, seeds = await asyncio.to_thread(self._load_and_build)
            except (SeedsError, OSError, Stopping) as exc:
                seconds = time.perf_counter() - started
                _logger.warning("reload failed, the previous index stays: %s", exc)
                problem: FolderProblem | None = None  # stopping: nobody will read the report
                if not isinstance(exc, Stopping):
                    problem = exc.problem if isinstance(exc, SeedsError) else FolderProblem.UNREADABLE
                return ReloadReport(*before, *before, seconds, error=str(exc), problem=problem)
            seconds = time.perf_counter() - started
            held = not allow_shrink and _shrinks(old, new)
            if not held:
                self._index, self.loaded_at = new, read_at
                self._rejected, self._flawed = seeds.rejected, seeds.flawed
        old_digests, new_digests = _digests(old), _digests(new)
        kept = new_digests.keys() & old_digests.keys()
        report = ReloadReport(
            *before,
            len(new.articles),
            len(new),
            seconds,
            added=tuple(sorted(new_digests.keys() - old_digests.keys())),
            removed=tuple(sorted(old_digests.keys() - new_digests.keys())),
            changed=tuple(sorted(k for k in kept if new_digests[k] != old_digests[k])),
            rejected=seeds.rejected,
            flawed=seeds.flawed,
            held=held,
        )
        if held:
            _logger.warning(
                "reload held back: %d of %d articles would be gone; the previous index stays until an admin confirms",
                len(report.removed),
                before[0],
            )
            return report
        _logger.info(
            "reloaded in %.2f s: %d -> %d articles, %d -> %d sentences, %d added, %d removed, %d changed, %d rejected",
            seconds,
            before[0],
            len(new.articles),
            before[1],
            len(new),
            len(report.added),
            len(report.removed),
            len(report.changed),
            len(seeds.rejected),
        )
        return report
