"""A sharded collection (``retrieval.shards``) served by Ray actors, and sharded builds run as Ray tasks.

Every shard is served by ``replicas`` actors (``ShardServer`` in a Ray actor), spread over the cluster's
nodes; Ray restarts an actor that dies (it loads the build's current generation again). Actors are named
and detached, so every bot worker of a deployment finds the same ones (``RayShards.connect``), and one
that starts them while another already has keeps theirs.

A question goes to one replica of every shard (taking turns); a replica that fails is replaced at once by
another of its shard, and one that has not answered within a quarter of the deadline (``HEDGE``: dead but
not yet reported, frozen, or overloaded) is doubled by another, the first answer winning; a shard none of
whose replicas answers in time is left out of that question's ranking (``Ranking.missing``), counted in
``RayShards.counts`` (the bot's ``/metrics``) and logged once a minute.

Reloads load the next generation into every replica beside the one serving (``load``), and only then does
the caller swap its ``Sharded`` for the next generation's; the older ones are dropped (``retire``) once
no question names them. Actors keep ``KEEP`` generations at most.

Ray is optional (``pip install pasokh[cluster]``): only this module imports it, and only when called.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ClusterError, PasokhError
from retrieval.index import ArticleInfo, Plan, plan_query
from retrieval.second import CANDIDATES
from retrieval.sentences import Sentence
from retrieval.shards import Details, ShardReply, ShardServer, read_whole_manifest

__all__ = ["ACTOR_CPUS", "HEDGE", "KEEP", "ClusterError", "RayRunner", "RayShards", "connect"]

_logger = logging.getLogger(__name__)

NAMESPACE = "pasokh"
KEEP = 2
"""Generations a replica holds at most: the one serving and the next one loading."""
DEADLINE = 1.0
"""Seconds a question waits for a shard (all its replicas taken together) before going on without it."""
HEDGE = 0.25
"""Share of the deadline after which a shard's replica that has not answered is doubled by the next."""
ACTOR_CPUS = 0.5
"""CPUs a replica holds for its lifetime. A replica answers in milliseconds and waits most of the time; the
CPUs it does not hold are left for the tasks of the next build (actors holding every CPU would leave a
reload's build waiting for ever)."""
CALL_TIMEOUT = 60.0
"""Seconds a replica has to load a generation, or to answer an administrative call."""


def _ray() -> Any:
    # Started by `uv run`, Ray would start its workers with `uv run` in a copy of the working folder (a new
    # environment per node); every node of a deployment has pasokh[cluster] installed instead. Ray reads
    # this when it is imported.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: install pasokh[cluster] (uv sync --extra cluster)") from None
    return ray


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address`` ("auto": the one this machine is part of; None: start one here)."""
    ray = _ray()
    if ray.is_initialized():
        return
    try:
        # "local": without an address Ray would join the cluster last started on this machine, if any.
        ray.init(address=address or "local", namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {exc}") from None


class _Actor(ShardServer):
    """A shard's replica: ``ShardServer`` keeping at most ``KEEP`` generations."""

    def load(self, folder: Path | str) -> int:
        generation = super().load(folder)
        for old in self.generations()[:-KEEP]:
            self.drop(old)
        self._warm(generation)
        return generation

    def _warm(self, generation: int) -> None:
        """Answer one question before serving (a restarted replica too): the first imports hazm and fills
        the analysis caches, seconds that would otherwise fall on the first question, past its deadline."""
        index = self.indexes[generation]
        if len(index):
            plan = plan_query(index.sentence_text(0), index)
            if plan is not None:
                self.candidates(plan, CANDIDATES, CANDIDATES, generation)

    def ping(self) -> list[int]:
        return self.generations()

    def node(self) -> str:
        """The id of the Ray node this replica runs on (replicas of a shard are placed apart)."""
        return str(_ray().get_runtime_context().get_node_id())


class RayShards:
    """The ``shards.Transport`` of a build served by Ray actors (see the module docstring)."""

    def __init__(self, actors: Sequence[Sequence[Any]], *, deadline: float = DEADLINE) -> None:
        self.actors = [list(replicas) for replicas in actors]
        self.shards = len(self.actors)
        self.deadline = deadline
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        """``missed`` (a shard left out of a question), ``failed_over`` (a replica replaced mid-question after
        a failure), ``hedged`` (a replica doubled after ``HEDGE`` of the deadline without an answer)."""
        self._last_warning = 0.0

    @classmethod
    def connect(
        cls,
        folder: Path,
        *,
        replicas: int = 2,
        cpus: float = ACTOR_CPUS,
        deadline: float = DEADLINE,
        name: str = "pasokh",
    ) -> RayShards:
        """The actors of the build in ``folder`` (which every node reads at the same path), started when
        there are none yet; waits until every replica holds the build's generation."""
        ray = _ray()
        if not ray.is_initialized():
            connect(None)
        manifest = read_whole_manifest(folder)
        remote = ray.remote(_Actor)
        options = {
            "max_restarts": -1,
            "max_task_retries": 0,
            "num_cpus": cpus,
            "lifetime": "detached",
            "scheduling_strategy": "SPREAD",
            "max_concurrency": 4,
        }
        actors = [
            [
                remote.options(name=f"{name}-shard-{shard}-{replica}", get_if_exists=True, **options).remote(
                    str(folder), shard
                )
                for replica in range(replicas)
            ]
            for shard in range(len(manifest["shards"]))
        ]
        shards = cls(actors, deadline=deadline)
        shards.load(folder)
        return shards

    def _next(self) -> int:
        with self._lock:
            return next(self._turn)

    # -- questions --------------------------------------------------------------------------------

    def _fan_out(self, call: Callable[[int, Any], Any], shards: Sequence[int]) -> dict[int, Any]:
        """``call(shard, actor)`` on one replica of each shard; on a failure, or when it has not answered
        within ``HEDGE`` of the deadline, on the next replica too, until the deadline. Returns each shard's
        first result, None for a shard that did not give one in time."""
        ray = _ray()
        start = self._next()
        now = time.monotonic()
        ends, hedge = now + self.deadline, HEDGE * self.deadline
        asked = dict.fromkeys(shards, 1)
        again = dict.fromkeys(shards, now + hedge)
        pending = {call(shard, self._replica(shard, start)): shard for shard in shards}
        results: dict[int, Any] = {}

        def ask_next(shard: int) -> None:
            pending[call(shard, self._replica(shard, start + asked[shard]))] = shard
            asked[shard] += 1
            again[shard] = time.monotonic() + hedge

        while pending:
            now = time.monotonic()
            if now >= ends:
                break
            # A replica that died mid-call takes seconds to be reported (a frozen one, until its node is
            # declared dead): one that is slow to answer is doubled by the next before the deadline.
            wake = min([again[s] for s in set(pending.values()) if asked[s] < len(self.actors[s])], default=ends)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, min(wake, ends) - now))
            for ref in ready:
                shard = pending.pop(ref)
                if shard in results:
                    continue
                try:
                    results[shard] = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, LookupError) as exc:
                    if asked[shard] < len(self.actors[shard]):
                        self.counts["failed_over"] += 1
                        _logger.info("shard %d: a replica failed (%s), asking another", shard, type(exc).__name__)
                        ask_next(shard)
            now = time.monotonic()
            for shard in set(pending.values()) - set(results):
                if asked[shard] < len(self.actors[shard]) and now >= again[shard]:
                    self.counts["hedged"] += 1
                    ask_next(shard)
            for ref in [ref for ref, shard in pending.items() if shard in results]:
                del pending[ref]
                ray.cancel(ref)
        for ref in pending:
            ray.cancel(ref)
        missed = [shard for shard in shards if shard not in results]
        if missed:
            self.counts["missed"] += len(missed)
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                _logger.warning(
                    "shards %s did not answer within %.2f s: answered from the others", missed, self.deadline
                )
        return {shard: results.get(shard) for shard in shards}

    def _replica(self, shard: int, turn: int) -> Any:
        replicas = self.actors[shard]
        return replicas[turn % len(replicas)]

    def search(
        self, plan: Plan, n: int, detailed: int, generation: int, hidden: frozenset[str] = frozenset()
    ) -> list[ShardReply | None]:
        found = self._fan_out(
            lambda _, actor: actor.candidates.remote(plan, n, detailed, generation, hidden), range(self.shards)
        )
        return [found[shard] for shard in range(self.shards)]

    def details(self, wanted: Mapping[int, np.ndarray], plan: Plan, generation: int) -> dict[int, Details | None]:
        return self._fan_out(lambda shard, actor: actor.details.remote(plan, wanted[shard], generation), list(wanted))

    # -- administration ------------------------------------------------------------------------------

    def _everywhere(self, method: str, *args: Any) -> list[Any]:
        ray = _ray()
        refs = [getattr(actor, method).remote(*args) for replicas in self.actors for actor in replicas]
        try:
            return list(ray.get(refs, timeout=CALL_TIMEOUT))
        except (ray.exceptions.RayError, LookupError, OSError, PasokhError) as exc:
            raise ClusterError(f"the shards could not {method}: {exc}") from None

    def load(self, folder: Path) -> int:
        """Load the build in ``folder`` into every replica beside what they serve; return its generation."""
        generations = set(self._everywhere("load", str(folder)))
        if len(generations) != 1:
            raise ClusterError(f"replicas loaded different generations {sorted(generations)}: the build changed")
        return int(generations.pop())

    def retire(self, generation: int) -> None:
        """Drop a generation no question names any more."""
        self._everywhere("drop", generation)

    def article(self, shard: int, article: int, generation: int) -> list[Sentence]:
        got = self._fan_out(lambda _, actor: actor.article.remote(article, generation), [shard])[shard]
        if got is None:
            raise ClusterError(f"shard {shard} did not answer")
        return list(got)

    def articles(self, generation: int) -> list[tuple[ArticleInfo, ...]]:
        ray = _ray()
        try:
            return list(
                ray.get([replicas[0].articles.remote(generation) for replicas in self.actors], timeout=CALL_TIMEOUT)
            )
        except (ray.exceptions.RayError, LookupError) as exc:
            raise ClusterError(f"the shards' articles could not be read: {exc}") from None

    def status(self, timeout: float = 2.0) -> list[int]:
        """Replicas answering, per shard."""
        ray = _ray()
        refs = {actor.ping.remote(): shard for shard, replicas in enumerate(self.actors) for actor in replicas}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        up = [0] * self.shards
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayError:
                continue
            up[refs[ref]] += 1
        return up

    def stop(self) -> None:
        """Kill every replica (a deployment that no longer serves this build)."""
        ray = _ray()
        for replicas in self.actors:
            for actor in replicas:
                ray.kill(actor, no_restart=True)


class RayRunner:
    """The passes of a sharded build (``shards.Runner``) as Ray tasks, one per shard, in parallel over the
    cluster: an analysed shard stays in Ray's object store between the passes."""

    def __init__(self, cpus: float = 1.0) -> None:
        self.cpus = cpus

    def starmap(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        remote = _ray().remote(function).options(num_cpus=self.cpus, max_retries=2)
        return [remote.remote(*args) for args in calls]

    def fetch(self, handles: Sequence[Any]) -> list[Any]:
        return list(_ray().get(list(handles)))
