"""The index the bot answers from: reloading it from the seeds folder, and publishing or removing one
article.

A reload builds a new ``Index`` in a worker thread while questions keep being answered from the old
one, then replaces it with one assignment. Handlers read ``library.index`` once per question, so every
answer comes wholly from one index. A reload that fails keeps the old index.

What is served is a ``retrieval.collection.Collection``: the main index and a small delta beside it.
``publish`` and ``remove`` change one article's file in the seeds folder (written whole, see
``retrieval.folders.write_file``), then swap in the collection with that one article added, replaced or
masked: only the delta is built again, never the main index. One that fails puts the files back as they
were and keeps the old collection. Reloads, publications and removals take turns (one writer at a time).
When the delta grows past its limit, a compaction builds the whole index from the folder in the
background (publications go on meanwhile) and rebases what changed since onto it.

With an index folder, the delta's first tier is saved beside the main index whenever it changes; on
opening, the saved main index and delta are reconciled with the seeds folder as it is
(``retrieval.collection.reconcile``): nothing is built but the few articles of the fresh tier, and after
a crash the files decide what is served. With several workers, ``follow`` applies a change another
worker made (``bot.backend.shared.reloads``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.publishing import Outcome, PublishReport, seed_name
from retrieval import ArticleInfo, Flawed, Index, IndexFileError, Rejected, SeedsError, SeedSet, build_index, load_seeds
from retrieval.collection import Collection, Served, load_delta, reconcile, save_delta
from retrieval.errors import FolderProblem
from retrieval.folders import remove_file, write_file
from retrieval.seeds import SEED_SUFFIXES, Article, load_bytes, load_file_checked, seed_files
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


def _shrinks(old: Served, new: Served) -> bool:
    """Whether ``new`` lacks more than ``SHRINK_LIMIT`` of the articles of ``old``."""
    gone = len({a.id for a in old.articles} - {a.id for a in new.articles})
    return gone > max(SHRINK_LIMIT * len(old.articles), 1)


class Stopping(Exception):
    """The library was closed (the bot is stopping) while it loaded or built an index."""


def _digests(index: Served) -> dict[str, str]:
    return {a.id: a.digest for a in index.articles}


class _NotFound(Exception):
    """No file and no served article has the id to remove."""


class _Held(Exception):
    """The seeds folder lacks too many of the served articles for one article's change to be swapped in."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"the seeds folder lacks {missing} of the articles served")
        self.missing = missing


_Saved = tuple[str, bytes | None, str | None]
"""A file of an article as it was before a change: its name, and its bytes or, for a link, its target."""


_BUILD = """
import sys
from pathlib import Path
from retrieval import build_index, load_seeds
from retrieval.store import save_index
save_index(build_index(load_seeds(Path(sys.argv[1]))), Path(sys.argv[2]))
"""
"""A compaction's child: build the index of a seeds folder and save it."""


def _cases(suffix: str) -> list[str]:
    """Every way of writing ``suffix`` in upper and lower case («.txt», «.TXT», «.Txt», …)."""
    return ["".join(letters) for letters in itertools.product(*({c.lower(), c.upper()} for c in suffix))]


async def _to_the_end[T](call: Callable[[], T]) -> T:
    """``call()`` in a worker thread. Cancelled meanwhile (the bot is stopping), it waits for the thread
    before passing the cancellation on: a writer's turn lasts as long as its writing."""
    future = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


class Library:
    """Holds the current index; ``reload()`` swaps in a new one built from the seeds folder."""

    def __init__(self, seeds_dir: Path, index_dir: Path | None = None) -> None:
        self.seeds_dir = seeds_dir
        self.index_dir = index_dir
        self._index: Served | None = None
        self._rejected: tuple[Rejected, ...] = ()
        self._flawed: tuple[Flawed, ...] = ()
        self._writing = asyncio.Lock()
        """Held by the one reload, publication or removal under way; the others wait their turn."""
        self._reload_waiting = False
        self._stopping = threading.Event()
        self.loaded_at = 0.0
        """When the seeds of the current index were read (Unix time): a reload announced later is news."""
        self._compacting: asyncio.Task[None] | None = None
        self._saved_delta: tuple[Index | None, frozenset[str]] | None = None
        """The delta's first tier and hidden articles last saved beside the index."""
        self.on_change: Callable[[str], Awaitable[None]] | None = None
        """Told of each article published or removed here (several workers: the others follow, see
        ``follow``); it handles its own failures."""

    @property
    def index(self) -> Served:
        """The current collection (raises before ``open()``)."""
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

    def shards_up(self) -> list[int] | None:
        """Replicas answering, per shard, when the index is sharded over a cluster (``bot.sharded``); None
        for an index served here."""
        return None

    def shard_counts(self) -> dict[str, int]:
        """Shards left out of a question (``missed``), replicas replaced mid-question (``failed_over``) and
        questions also sent to another replica when the first was slow (``hedged``)."""
        return {}

    def close(self) -> None:
        """The bot is stopping: a load or build under way stops at its next file or batch of articles
        (``Stopping``), so that shutdown never waits for a whole build."""
        self._stopping.set()

    def _check(self, done: int, total: int) -> None:
        """Progress callback of loads and builds: stop when the library was closed."""
        if self._stopping.is_set():
            raise Stopping(f"stopped after {done} of {total}")

    def open(self) -> Served:
        """Load the saved index when it matches the seeds, else build one (and save it). Blocking.

        Raises ``SeedsError`` when the seeds folder is missing or holds nothing loadable, ``Stopping`` when
        the library is closed meanwhile.
        """
        read_at = time.time()
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        self._rejected, self._flawed = seeds.rejected, seeds.flawed
        index = self._load_saved(seeds) or Collection.of(self._build(seeds))
        self._index, self.loaded_at = index, read_at
        return index

    def _load_saved(self, seeds: SeedSet) -> Collection | None:
        """The saved index and its delta reconciled with the seeds (see ``retrieval.collection.reconcile``),
        when there is a saved index and it is intact; else None (logged)."""
        if self.index_dir is None or not os.path.lexists(self.index_dir / "manifest.json"):
            return None
        try:
            main = load_index(self.index_dir)
        except IndexFileError as exc:  # load_index reports any damage as this, never as another exception
            _logger.warning("saved index in %s not used (%s); building from %s", self.index_dir, exc, self.seeds_dir)
            return None
        collection = reconcile(main, load_delta(self.index_dir, main), seeds)
        if collection is None:
            _logger.info(
                "saved index in %s differs too much from %s: building it again", self.index_dir, self.seeds_dir
            )
            return None
        if collection.delta is not None or collection.hidden:
            _logger.info(
                "saved index loaded with %d articles added or changed and %d hidden since it was built",
                len(collection.added),
                len(collection.hidden),
            )
            self._save_delta(collection)
        return collection

    def _build(self, seeds: SeedSet) -> Index:
        index = build_index(seeds, progress=self._check)
        if self.index_dir is not None:
            try:
                save_index(index, self.index_dir)
            except OSError as exc:
                _logger.warning("could not save the index to %s: %s", self.index_dir, exc)
            else:
                self._save_delta(Collection.of(index))  # the old delta was built beside the old index
        return index

    def _save_delta(self, collection: Collection) -> None:
        """Save the delta's first tier beside the saved index, when it changed (its fresh tier is built from
        the seeds on opening); a failure is logged: the seeds still hold everything."""
        if self.index_dir is None or self._saved_delta == (collection.delta, collection.hidden):
            return
        try:
            save_delta(collection, self.index_dir)
        except OSError as exc:
            _logger.warning("could not save the delta beside %s: %s", self.index_dir, exc)
        else:
            self._saved_delta = (collection.delta, collection.hidden)

    def _load_and_build(self) -> tuple[Served, SeedSet]:
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        return Collection.of(self._build(seeds)), seeds

    async def reload(self, *, allow_shrink: bool = False) -> ReloadReport:
        """Rebuild from the seeds folder off the event loop and swap the new index in whole.

        A new collection that lacks more than ``SHRINK_LIMIT`` of the current articles (a folder moved
        away for a moment, a half-finished copy) is held back unless ``allow_shrink``: the old index
        stays and the report says ``held``, for an admin to confirm.
        """
        old = self.index
        before = (len(old.articles), len(old))
        if self._reload_waiting:
            return ReloadReport(*before, *before, 0.0, already_running=True)
        self._reload_waiting = True
        try:
            return await self._reload(allow_shrink)
        finally:
            self._reload_waiting = False

    async def _reload(self, allow_shrink: bool) -> ReloadReport:
        """A reload, once the publication or removal under way (if any) is done."""
        async with self._writing:
            old = self.index
            before = (len(old.articles), len(old))
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

    # -- one article at a time ---------------------------------------------------------------------

    async def publish(self, article_id: str, data: bytes, *, suffix: str = ".txt") -> PublishReport:
        """Make ``data``, a seed file's bytes, the article ``article_id`` (added, or replacing the one with
        that id): checked as a seed file, written into the seeds folder as ``<id><suffix>`` (replacing the
        id's other files), and served. When it is no article, or the folder cannot take it, nothing
        changes and the report says why. ``ValueError`` for an id that is no safe file name."""
        name = seed_name(article_id, suffix)
        checked, flaws = await asyncio.to_thread(load_bytes, name, data)
        if isinstance(checked, Rejected):
            return PublishReport.rejected(article_id, checked.problem)

        def write() -> None:
            write_file(self.seeds_dir, name, data)
            for other in self._files_of(article_id):
                if other.name != name:
                    remove_file(self.seeds_dir, other.name)

        report = await self._change(article_id, write)
        return dataclasses.replace(report, flaws=tuple(f.problem for f in flaws)) if report.ok else report

    async def remove(self, article_id: str) -> PublishReport:
        """Remove the article ``article_id``: its files leave the seeds folder and it stops being served."""

        def delete() -> None:
            for path in self._files_of(article_id):
                remove_file(self.seeds_dir, path.name)

        return await self._change(article_id, delete, removing=True)

    def recent(self, limit: int = 20) -> list[tuple[ArticleInfo, float]]:
        """The served articles whose files changed last, newest first, with that time (Unix). Blocking."""
        by_id = {a.id: a for a in self.index.articles}
        changed: dict[str, float] = {}
        for path in seed_files(self.seeds_dir):
            if path.stem in by_id:
                with contextlib.suppress(OSError):
                    changed[path.stem] = max(changed.get(path.stem, 0.0), path.lstat().st_mtime)
        newest = sorted(changed.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [(by_id[article_id], when) for article_id, when in newest]

    def _files_of(self, article_id: str) -> list[Path]:
        """The seed files whose article id is ``article_id``, in load order.

        Its possible names are looked up, not the folder listed: a listing of 100,000 files as paths takes
        a second."""
        if not article_id or article_id.startswith(".") or Path(article_id).name != article_id:
            return []  # no file of the folder has such a stem
        names = (article_id + "".join(case) for suffix in SEED_SUFFIXES for case in _cases(suffix))
        return sorted((path for name in names if os.path.lexists(path := self.seeds_dir / name)), key=lambda p: p.name)

    def _ids_on_disk(self) -> set[str]:
        """The article ids of the seed files in the folder (names only: no path objects, no sorting)."""
        return {
            stem
            for stem, dot, suffix in (name.rpartition(".") for name in os.listdir(self.seeds_dir))
            if dot and stem and not stem.startswith(".") and f".{suffix.lower()}" in SEED_SUFFIXES
        }

    def _saved(self, article_id: str) -> list[_Saved]:
        """The files of an article as they are, to put back if a change fails."""
        saved: list[_Saved] = []
        for path in self._files_of(article_id):
            kind = stat.S_IFMT(path.lstat().st_mode)
            if kind == stat.S_IFLNK:
                saved.append((path.name, None, os.readlink(path)))
            elif kind == stat.S_IFREG:
                saved.append((path.name, path.read_bytes(), None))
            else:
                raise OSError(f"{path.name} is not a regular file")
        return saved

    def _put_back(self, article_id: str, saved: list[_Saved]) -> None:
        """Make the article's files what they were (after a change that failed)."""
        try:
            written = {name for name, data, _ in saved if data is not None}  # write_file replaces what is there
            for path in self._files_of(article_id):
                if path.name not in written:
                    remove_file(self.seeds_dir, path.name)
            for name, data, target in saved:
                if data is not None:
                    write_file(self.seeds_dir, name, data)
                elif target is not None:
                    os.symlink(target, self.seeds_dir / name)
        except (OSError, SeedsError):
            _logger.exception("could not put the files of article %s back as they were", article_id)

    async def _change(self, article_id: str, apply: Callable[[], None], *, removing: bool = False) -> PublishReport:
        """Apply one article's change to the folder and swap in the index with it (see ``publish``)."""
        async with self._writing:
            old, started, read_at = self.index, time.perf_counter(), time.time()
            known = any(a.id == article_id for a in old.articles)
            try:
                index = await _to_the_end(
                    lambda: self._swap(self._apply(article_id, apply, removing=removing), read_at)
                )
            except _NotFound:
                return PublishReport(Outcome.NOT_FOUND, article_id)
            except _Held as held:
                _logger.warning(
                    "%s of article %s held back: %s", "removal" if removing else "publication", article_id, held
                )
                return PublishReport(Outcome.HELD, article_id, missing=held.missing)
            except (SeedsError, OSError, Stopping) as exc:
                if removing and isinstance(exc, SeedsError) and exc.problem is FolderProblem.NOTHING_LOADABLE:
                    return PublishReport(Outcome.LAST, article_id)
                _logger.warning(
                    "could not %s article %s; nothing changed: %s", "remove" if removing else "publish", article_id, exc
                )
                problem = exc.problem if isinstance(exc, SeedsError) else None
                return PublishReport(Outcome.FAILED, article_id, folder_problem=problem, error=str(exc))
            self._compact_when_due()
        seconds = time.perf_counter() - started
        if self.on_change is not None:
            await self.on_change(article_id)
        if removing:
            info = next((a for a in old.articles if a.id == article_id), None)
            outcome, sentences = Outcome.REMOVED, 0
        else:
            position = next(i for i, a in enumerate(index.articles) if a.id == article_id)
            info, sentences = index.articles[position], len(index.article_sentences(position))
            outcome = Outcome.REPLACED if known else Outcome.ADDED
        _logger.info(
            "%s article %s in %.2f s: %d sentences; %d articles, %d sentences served",
            outcome.value,
            article_id,
            seconds,
            sentences,
            len(index.articles),
            len(index),
        )
        return PublishReport(
            outcome,
            article_id,
            seconds,
            title=info.display_title if info else "",
            date=info.date if info else None,
            sentences=sentences,
            articles=len(index.articles),
        )

    def _apply(self, article_id: str, apply: Callable[[], None], *, removing: bool) -> Served:
        """Change the folder, then make the collection with that one article changed (only the delta is
        built); put the files back if anything fails."""
        old = self.index
        saved = self._saved(article_id)
        if removing and not saved and all(a.id != article_id for a in old.articles):
            raise _NotFound(article_id)
        try:
            apply()
            article = self._read_back(article_id, self._files_of(article_id))
            if (article is None) != removing:  # another file took the id, or the one written did not load
                raise OSError(
                    f"article {article_id} is {'still' if removing else 'not'} in the folder after the change"
                )
            on_disk = self._ids_on_disk()
            missing = len({a.id for a in old.articles} - on_disk - {article_id})
            if missing > max(SHRINK_LIMIT * len(old.articles), 1):
                raise _Held(missing)
            if article is None:
                if all(a.id == article_id for a in old.articles):
                    raise SeedsError("the last article would be removed", FolderProblem.NOTHING_LOADABLE)
                return old.without(article_id)
            return old.with_article(article)
        except BaseException:
            self._put_back(article_id, saved)
            raise

    async def follow(self, article_id: str) -> bool:
        """Serve the article ``article_id`` as its file in the seeds folder now is (added, replaced or gone):
        another worker sharing the folder published or removed it. Whether anything changed."""
        async with self._writing:
            changed = await _to_the_end(lambda: self._follow(article_id))
            self._compact_when_due()
        return changed

    async def catch_up(self) -> None:
        """Serve what the seeds folder holds now, without building the main index when the changes fit in
        the delta (announcements of other workers' changes may have been missed)."""
        async with self._writing:
            try:
                seeds = await asyncio.to_thread(load_seeds, self.seeds_dir, progress=self._check)
            except (SeedsError, OSError, Stopping) as exc:
                _logger.warning("could not read the seeds folder to catch up: %s", exc)
                return
            current = self.index
            assert isinstance(current, Collection)  # a sharded library catches up its own way
            caught = await asyncio.to_thread(reconcile, current.main, current.delta, seeds)
            if caught is not None and _digests(caught) != _digests(current):
                self._index = caught
                _logger.info("caught up with the seeds folder: %d articles", len(caught.articles))
            self._compact_when_due()

    def _follow(self, article_id: str) -> bool:
        old = self.index
        article = self._read_back(article_id, self._files_of(article_id))
        served = next((a for a in old.articles if a.id == article_id), None)
        if article is None:
            if served is None:
                return False
            new = old.without(article_id)
        elif served is not None and served.digest == article.digest:
            return False
        else:
            new = old.with_article(article)
        self._index = new  # the worker that published saved the delta; a restart reconciles with the seeds anyway
        return True

    def _swap(self, collection: Served, read_at: float) -> Served:
        """Serve ``collection``, then save its delta. In the worker thread: a publication cancelled once its
        file is written still serves it."""
        self._index, self.loaded_at = collection, read_at
        if isinstance(collection, Collection):
            self._save_delta(collection)
        return collection

    def _read_back(self, article_id: str, files: list[Path]) -> Article | None:
        """The article ``article_id`` as its ``files`` in the folder now hold it (None: no such file)."""
        for path in files:
            article, _ = load_file_checked(path, self.seeds_dir)
            if isinstance(article, Article):
                return article
        return None

    # -- compaction ---------------------------------------------------------------------------------

    def _compact_when_due(self) -> None:
        """Start a compaction in the background when the delta has grown past its limit (one at a time)."""
        if self._compacting is None and self.index.needs_compaction() and not self._stopping.is_set():
            self._compacting = asyncio.get_running_loop().create_task(self.compact(), name="pasokh-compaction")
            self._compacting.add_done_callback(self._compacted)

    def _compacted(self, task: asyncio.Task[None]) -> None:
        self._compacting = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            _logger.error("compaction failed; the delta stays", exc_info=exc)

    async def compact(self) -> None:
        """Build the whole index from the folder in another process (``_build_elsewhere``: the build's
        CPU and memory never slow the questions answered here), then swap in the collection over it with
        what changed meanwhile in its delta (``Collection.rebase``)."""
        started = time.perf_counter()
        try:
            main = await asyncio.to_thread(self._build_elsewhere)
        except (IndexFileError, OSError, Stopping) as exc:
            _logger.warning("compaction stopped, the delta stays: %s", exc)
            return
        async with self._writing:
            current = self.index
            assert isinstance(current, Collection)  # a sharded library compacts its own way
            rebased = await _to_the_end(lambda: current.rebase(main))
            if rebased is None:
                _logger.warning("compaction dropped: an article changed meanwhile is not at hand")
                return
            self._index = rebased
            if self.index_dir is not None:
                await _to_the_end(lambda: self._save_compacted(rebased))
        _logger.info(
            "compacted in %.2f s: %d articles, %d sentences; %d changed meanwhile",
            time.perf_counter() - started,
            len(rebased.articles),
            len(rebased),
            len(rebased.added),
        )

    def _build_elsewhere(self) -> Index:
        """Build and save the index of the seeds folder in a child process; load it here (memory-mapped)."""
        staging = Path(tempfile.mkdtemp(prefix="pasokh-compaction-"))
        try:
            out = staging / "index"
            child = subprocess.Popen([sys.executable, "-c", _BUILD, str(self.seeds_dir), str(out)])  # noqa: S603 (our own code)
            while child.poll() is None:
                if self._stopping.wait(0.2):
                    child.kill()
                    child.wait()
                    raise Stopping("the library was closed during a compaction")
            if child.returncode:
                raise OSError(f"the compaction's build exited with status {child.returncode}")
            return load_index(out)  # the files may go once mapped
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _save_compacted(self, collection: Collection) -> None:
        assert self.index_dir is not None
        try:
            save_index(collection.main, self.index_dir)
        except OSError as exc:
            _logger.warning("could not save the compacted index to %s: %s", self.index_dir, exc)
            return
        self._save_delta(collection)
