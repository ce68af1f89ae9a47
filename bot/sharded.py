"""The library of a bot whose index is sharded over a Ray cluster (``PASOKH_RAY_ADDRESS``).

As ``bot.library.Library`` does for one index, it serves a ``retrieval.shards.Sharded``: the shards' current
generation (saved in ``PASOKH_INDEX_DIR``, a folder every node reads at the same path, and loaded by Ray
actors: ``retrieval.cluster``) and the articles published or removed since, in a delta this worker builds
itself (as other workers do, following the seeds folder and each other's announcements).

- Opening: a saved sharded build that fits the seeds folder (the same number of shards, few changes) is
  served with those changes in the delta; otherwise the shards are built again (Ray tasks).
- ``/reload`` and compaction (the delta past its limit) build the shards' next generation from the seeds
  folder, load it into every replica beside the one serving, and only then swap: a question is answered
  wholly from one generation. Replicas keep the last two.
- ``publish`` and ``remove`` go through the delta, as with one index.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from bot.library import Library, Stopping, _to_the_end
from bot.settings import ClusterSettings
from retrieval import IndexFileError, SeedsError, SeedSet, load_seeds
from retrieval.cluster import RayRunner, RayShards, connect
from retrieval.collection import Served
from retrieval.errors import ClusterError
from retrieval.shards import Sharded, build_sharded, is_sharded, load_sharded, reconcile_sharded

__all__ = ["ShardedLibrary"]

_logger = logging.getLogger(__name__)

STATUS_SECONDS = 5.0
"""How old the replicas' status reported by ``/healthz`` and ``/metrics`` may be."""


class ShardedLibrary(Library):
    """A ``Library`` whose index is sharded over a Ray cluster (see the module docstring)."""

    def __init__(self, seeds_dir: Path, index_dir: Path, cluster: ClusterSettings) -> None:
        super().__init__(seeds_dir, index_dir)
        self.folder = index_dir
        self.cluster = cluster
        self.transport: RayShards | None = None
        self._status: list[int] = []
        self._status_at = 0.0
        self._refreshing = threading.Lock()

    @property
    def sharded(self) -> Sharded:
        index = self.index
        assert isinstance(index, Sharded)
        return index

    def shards_up(self) -> list[int] | None:
        """Replicas answering, per shard (None before the shards are reached), as last seen: asking the
        replicas takes up to seconds, so a thread asks again when this is older than ``STATUS_SECONDS``
        (``/healthz`` and ``/metrics`` run on the event loop)."""
        if self.transport is None:
            return None
        if time.monotonic() - self._status_at > STATUS_SECONDS and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="pasokh-shards-status", daemon=True).start()
        return self._status

    def _refresh(self) -> None:
        try:
            if self.transport is not None:
                self._status = self.transport.status()
                self._status_at = time.monotonic()
        finally:
            self._refreshing.release()

    def shard_counts(self) -> dict[str, int]:
        return {} if self.transport is None else dict(self.transport.counts)

    def open(self) -> Served:
        """Join the cluster, serve the saved shards when they fit the seeds folder, else build them. Blocking.

        Raises ``ClusterError`` when the cluster cannot be reached, ``SeedsError`` as ``Library.open``."""
        read_at = time.time()
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        self._rejected, self._flawed = seeds.rejected, seeds.flawed
        connect(self.cluster.address)
        served = self._saved_shards(seeds) or self._build_shards(seeds, generation=1)
        self._index, self.loaded_at = served, read_at
        return served

    def _saved_shards(self, seeds: SeedSet) -> Sharded | None:
        if not is_sharded(self.folder):
            return None
        try:
            manifest, lexicon = load_sharded(self.folder)
        except IndexFileError as exc:
            _logger.warning("saved shards in %s not used (%s): building them again", self.folder, exc)
            return None
        if len(manifest["shards"]) != self.cluster.shards:
            _logger.info(
                "saved build has %d shards, PASOKH_SHARDS says %d: building again",
                len(manifest["shards"]),
                self.cluster.shards,
            )
            return None
        sharded = Sharded(manifest, lexicon, self._connect())
        served = reconcile_sharded(sharded, seeds)
        if served is None:
            _logger.info("saved shards differ too much from %s: building them again", self.seeds_dir)
            return self._build_shards(seeds, generation=sharded.generation + 1)
        return served

    def _connect(self) -> RayShards:
        if self.transport is None:
            self.transport = RayShards.connect(
                self.folder, replicas=self.cluster.replicas, deadline=self.cluster.deadline
            )
            self._status, self._status_at = [self.cluster.replicas] * self.transport.shards, time.monotonic()
        else:
            self.transport.load(self.folder)
        return self.transport

    def _build_shards(self, seeds: SeedSet, *, generation: int) -> Sharded:
        """Build the shards of ``seeds`` as ``generation`` (Ray tasks), save them, load them into every
        replica beside what they serve, and return them to serve."""
        started = time.perf_counter()
        build_sharded(seeds, self.cluster.shards, self.folder, generation=generation, runner=RayRunner())
        if self._stopping.is_set():
            raise Stopping("the library was closed during a build of the shards")
        manifest, lexicon = load_sharded(self.folder)
        sharded = Sharded(manifest, lexicon, self._connect())
        _logger.info(
            "built %d shards, generation %d: %d articles, %d sentences in %.1f s",
            sharded.shards,
            generation,
            len(sharded.articles),
            len(sharded),
            time.perf_counter() - started,
        )
        return sharded

    def _next_generation(self) -> int:
        return self.sharded.generation + 1

    def _load_and_build(self) -> tuple[Served, SeedSet]:
        seeds = load_seeds(self.seeds_dir, progress=self._check)
        try:
            return self._build_shards(seeds, generation=self._next_generation()), seeds
        except (ClusterError, IndexFileError) as exc:
            raise OSError(f"the shards could not be built: {exc}") from None

    async def catch_up(self) -> None:
        """Serve what the seeds folder holds now, through the delta when the changes fit in it."""
        async with self._writing:
            try:
                seeds = await asyncio.to_thread(load_seeds, self.seeds_dir, progress=self._check)
            except (SeedsError, OSError, Stopping) as exc:
                _logger.warning("could not read the seeds folder to catch up: %s", exc)
                return
            current = self.sharded
            base = Sharded(current.manifest, current.lexicon, current.transport)
            caught = await asyncio.to_thread(reconcile_sharded, base, seeds)
            if caught is not None:
                self._index = caught
            self._compact_when_due()

    async def compact(self) -> None:
        """Build the shards' next generation from the folder (Ray tasks, elsewhere), then swap in the
        collection over it with what changed meanwhile in its delta (``Sharded.rebase``)."""
        started = time.perf_counter()
        generation = self._next_generation()
        try:
            seeds = await asyncio.to_thread(load_seeds, self.seeds_dir, progress=self._check)
            await asyncio.to_thread(
                build_sharded, seeds, self.cluster.shards, self.folder, generation=generation, runner=RayRunner()
            )
            manifest, lexicon = await asyncio.to_thread(load_sharded, self.folder)
            await asyncio.to_thread(self._connect)
        except (SeedsError, ClusterError, IndexFileError, OSError, Stopping) as exc:
            _logger.warning("compaction stopped, the delta stays: %s", exc)
            return
        async with self._writing:
            current = self.sharded
            rebased = await _to_the_end(lambda: current.rebase(manifest, lexicon))
            if rebased is None:
                _logger.warning("compaction dropped: an article changed meanwhile is not at hand")
                return
            self._index = rebased
        _logger.info(
            "compacted into generation %d in %.1f s: %d articles; %d changed meanwhile",
            generation,
            time.perf_counter() - started,
            len(rebased.articles),
            len(rebased.added),
        )
