"""A sharded collection served by Ray actors (``retrieval.cluster``) on a local cluster of three nodes: built
as Ray tasks, it answers as one index; replicas of a shard sit on different nodes; a killed replica loses
no question, nor does a frozen one; two killed replicas of a shard leave partial answers until Ray restarts
them; a reload never mixes generations."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
# Started by `uv run`, Ray would start its workers through `uv run` and hang; Ray reads this on import.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
ray = pytest.importorskip("ray", reason="Ray is not installed (uv sync --extra cluster): no cluster tests")

from ray._private import ray_constants  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

import retrieval.cluster  # noqa: E402
from benchmarks.quality import Split, _key, load_split  # noqa: E402
from retrieval import Index, build_index  # noqa: E402
from retrieval.cluster import NAMESPACE, RayRunner, RayShards  # noqa: E402
from retrieval.index import Ranking  # noqa: E402
from retrieval.shards import Sharded, build_sharded, load_sharded, shard_of  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

SHARDS = 3
REPLICAS = 2
CPUS = 0.25
DEADLINE = 5.0
"""Seconds a question waits for a shard: generous, the machine is shared."""
RESTART_BOUND = 120.0
"""Seconds Ray may take to restart a killed replica here."""
SAMPLE = 1000
"""Questions of pquad_val compared with one index (every sixth: the whole split takes minutes here)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and two nodes on this machine, two CPUs each; shut down at the end."""
    saved = {name: os.environ.get(name) for name in ("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "RAY_TMPDIR")}
    # Read by the nodes' processes as they start (and by this one when Ray was imported: see the top).
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    assert not ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV, "Ray was imported before RAY_ENABLE_UV_RUN_RUNTIME_ENV=0"
    # Its own sessions and address file, so that other Ray clusters on this machine and this one never meet.
    temp = Path(tempfile.mkdtemp(prefix="pasokh-ray-"))
    os.environ["RAY_TMPDIR"] = str(temp)
    # Six replicas starting at once import hazm and load their shard: past a minute on a busy machine.
    patch = pytest.MonkeyPatch()
    patch.setattr(retrieval.cluster, "CALL_TIMEOUT", 600.0)
    started = Cluster()
    try:
        for _ in range(3):  # the first is the head
            started.add_node(num_cpus=2)
        started.wait_for_nodes()
        if ray.is_initialized():  # another test module left its connection open
            ray.shutdown()
        ray.init(address=started.address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)
        yield started
    finally:
        try:
            ray.shutdown()
            started.shutdown()
        finally:
            patch.undo()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def pquad() -> Split:
    if not (SHARED_DATA / "pquad_val" / "corpus.jsonl").exists():
        pytest.skip(f"{SHARED_DATA / 'pquad_val'} is absent: these tests need ../shared/data")
    return load_split("pquad_val", SHARED_DATA)


@dataclass(frozen=True)
class Built:
    folder: Path
    building: Future[Index]
    """One index over the same articles (built in a thread while the replicas start)."""
    questions: list[dict[str, Any]]

    @property
    def single(self) -> Index:
        return self.building.result()


@pytest.fixture(scope="module")
def built(pquad: Split, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """pquad_val in 3 shards built as Ray tasks, and one index over the same articles."""
    folder = tmp_path_factory.mktemp("ray") / "index"
    build_sharded(pquad.articles, SHARDS, folder, runner=RayRunner(cpus=0.5))
    with ThreadPoolExecutor(1) as pool:
        yield Built(folder, pool.submit(build_index, pquad.articles), pquad.questions[::6][:SAMPLE])


def _connect(folder: Path) -> RayShards:
    return RayShards.connect(
        folder, replicas=REPLICAS, cpus=CPUS, deadline=DEADLINE, name=f"test-{uuid.uuid4().hex[:8]}"
    )


@pytest.fixture(scope="module")
def served(built: Built) -> Iterator[RayShards]:
    """The build's shards served by 3 × 2 actors (killed at the end)."""
    shards = _connect(built.folder)
    try:
        yield shards
    finally:
        shards.stop()


def _top(ranking: Ranking) -> tuple[str, int] | None:
    return (ranking.hits[0].article.id, ranking.hits[0].sentence.position) if ranking.hits else None


def _tops(ranking: Ranking) -> list[tuple[str, int]]:
    return [(h.article.id, h.sentence.position) for h in ranking.hits]


def test_a_ray_build_answers_as_one_index(built: Built, served: RayShards) -> None:
    _, lexicon = load_sharded(built.folder)
    assert lexicon.keys.tolist() == built.single.term_keys.tolist()  # the whole's vocabulary, from the tasks
    sharded = Sharded.open(built.folder, served)
    same = recalled_single = recalled_sharded = 0
    for q in built.questions:
        answers = {_key(a) for a in q["answers"]} - {""}
        one, many = built.single.rank(q["question"], 1), sharded.rank(q["question"], 1)
        assert many.missing == 0, q["question"]
        same += _top(one) == _top(many)
        recalled_single += bool(one.hits) and any(a in _key(one.hits[0].sentence.text) for a in answers)
        recalled_sharded += bool(many.hits) and any(a in _key(many.hits[0].sentence.text) for a in answers)
    n = len(built.questions)
    assert n == SAMPLE
    assert same >= 0.995 * n, f"top-1 identical for {same} of {n}"
    assert abs(recalled_sharded - recalled_single) / n * 100 <= 0.1 + 1e-9, (recalled_single, recalled_sharded)
    assert served.counts["missed"] == 0


def test_replicas_of_a_shard_run_on_different_nodes(cluster: Cluster, served: RayShards) -> None:
    nodes = [ray.get([actor.node.remote() for actor in replicas], timeout=60) for replicas in served.actors]
    assert all(len(set(shard)) == REPLICAS for shard in nodes), nodes
    alive = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert {n for shard in nodes for n in shard} <= alive and len(alive) == 3
    assert served.status() == [REPLICAS] * SHARDS


# -- faults ---------------------------------------------------------------------------------------


class Asking(threading.Thread):
    """Asks questions in a loop until stopped; records every ranking (with when it came) or failure."""

    def __init__(self, sharded: Sharded, questions: Sequence[str]) -> None:
        super().__init__(daemon=True)
        self.sharded, self.questions = sharded, questions
        self.rankings: list[tuple[float, float, str, Ranking]] = []
        """When each question was asked and answered, the question and its ranking."""
        self.failures: list[tuple[str, BaseException]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            question = self.questions[turn % len(self.questions)]
            turn += 1
            asked = time.monotonic()
            try:
                ranking = self.sharded.rank(question, 3)
            except Exception as exc:  # recorded: the test fails on it
                self.failures.append((question, exc))
            else:
                self.rankings.append((asked, time.monotonic(), question, ranking))

    def asked(self) -> int:
        return len(self.rankings) + len(self.failures)

    def wait_for(self, more: int, timeout: float = 120.0) -> None:
        """Until ``more`` questions past the ones asked so far are answered."""
        target, ends = self.asked() + more, time.monotonic() + timeout
        while self.asked() < target:
            assert time.monotonic() < ends, f"{self.asked()} questions, {target} expected"
            assert self.is_alive()
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(DEADLINE * 4)
        assert not self.is_alive()


def _expected(sharded: Sharded, questions: Sequence[str]) -> dict[str, tuple[str, int] | None]:
    return {q: _top(sharded.rank(q, 3)) for q in questions}


def _pid(actor: Any) -> int:
    return int(ray.get(actor.__ray_call__.remote(lambda _: os.getpid()), timeout=60))


def _wait_until_up(served: RayShards, killed: Sequence[tuple[Any, int]] = (), bound: float = RESTART_BOUND) -> float:
    """Seconds until every replica answers, the ``killed`` ones (actor, process id) from a new process."""

    def restarted(actor: Any, pid: int) -> bool:
        try:
            return _pid(actor) != pid
        except ray.exceptions.RayError:  # dying, or not back yet
            return False

    started = time.monotonic()
    while served.status() != [REPLICAS] * SHARDS or not all(restarted(actor, pid) for actor, pid in killed):
        assert time.monotonic() - started < bound, f"replicas up: {served.status()}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_killing_one_replica_mid_load_loses_no_question(built: Built, served: RayShards) -> None:
    sharded = Sharded.open(built.folder, served)
    questions = [str(q["question"]) for q in built.questions[:40]]
    expected = _expected(sharded, questions)
    before = served.counts.copy()
    asking = Asking(sharded, questions)
    asking.start()
    try:
        killed = served.actors[1][0]
        pid = _pid(killed)
        asking.wait_for(10)
        ray.kill(killed, no_restart=False)
        asking.wait_for(20)
        _wait_until_up(served, [(killed, pid)])
        asking.wait_for(20)
    finally:
        asking.stop()
    assert not asking.failures, asking.failures[:3]
    assert [q for _, _, q, r in asking.rankings if r.missing] == []
    assert all(_top(r) == expected[q] for _, _, q, r in asking.rankings)
    assert served.counts["missed"] == before["missed"]
    # The killed replica was asked meanwhile, and another answered for it.
    assert served.counts["failed_over"] + served.counts["hedged"] > before["failed_over"] + before["hedged"]


def test_a_frozen_replica_is_doubled_by_the_other_in_time(built: Built, served: RayShards) -> None:
    """A replica that neither answers nor fails (its process stopped: a frozen machine, a node cut off)
    costs its questions a quarter of the deadline, never the shard."""
    sharded = Sharded.open(built.folder, served)
    questions = [str(q["question"]) for q in built.questions[80:100]]
    expected = _expected(sharded, questions)
    before = served.counts.copy()
    frozen = served.actors[0][1]
    pid = _pid(frozen)
    os.kill(pid, signal.SIGSTOP)
    try:
        took = []
        for question in questions:
            asked = time.monotonic()
            ranking = sharded.rank(question, 3)
            took.append(time.monotonic() - asked)
            assert ranking.missing == 0 and _top(ranking) == expected[question], question
    finally:
        os.kill(pid, signal.SIGCONT)
    assert served.counts["missed"] == before["missed"]
    # About every other question went to it first (replicas take turns, and so do the calls for details).
    assert served.counts["hedged"] - before["hedged"] >= 3
    assert max(took) < DEADLINE, took
    _wait_until_up(served)


def test_killing_both_replicas_of_a_shard_leaves_partial_answers_until_restarted(
    built: Built, served: RayShards, pquad: Split
) -> None:
    sharded = Sharded.open(built.folder, served)
    questions = [str(q["question"]) for q in built.questions[40:80]]
    expected = _expected(sharded, questions)
    down = 2
    held = {a.id for a in pquad.articles if shard_of(a.id, SHARDS) == down}
    before = served.counts.copy()
    asking = Asking(sharded, questions)
    asking.start()
    try:
        pids = [(actor, _pid(actor)) for actor in served.actors[down]]
        asking.wait_for(10)
        killed = time.monotonic()
        for actor in served.actors[down]:
            ray.kill(actor, no_restart=False)
        restarted = _wait_until_up(served, pids)
        recovered = time.monotonic()
        while not any(asked > recovered for asked, _, _, _ in asking.rankings[-20:]):
            asking.wait_for(1)
        asking.wait_for(20)
    finally:
        asking.stop()
    assert not asking.failures, asking.failures[:3]
    partial = [(asked, r) for asked, _, _, r in asking.rankings if r.missing]
    assert partial, f"no partial answer while shard {down} was down ({restarted:.1f} s)"
    assert all(r.missing == 1 for _, r in partial)
    # Asked once the replicas were killed and before Ray had restarted them both.
    assert all(killed - DEADLINE <= asked <= recovered for asked, _ in partial)
    # Answered from the other shards meanwhile: never a sentence of the shard that was down.
    assert all(h.article.id not in held for _, r in partial for h in r.hits)
    assert sum(bool(r.hits) for _, r in partial) >= 0.8 * len(partial)
    assert served.counts["missed"] - before["missed"] >= len(partial)
    # Whole again once Ray restarted them: every question asked since.
    after = [(q, r) for asked, _, q, r in asking.rankings if asked > recovered]
    assert len(after) >= 20
    assert all(r.missing == 0 and _top(r) == expected[q] for q, r in after)


def test_a_reload_never_mixes_generations(built: Built, served: RayShards, pquad: Split) -> None:
    """The next generation built into the served folder and loaded beside the first: each router answers
    from its own. Last in this module: it leaves the folder at generation 2."""
    first = Sharded.open(built.folder, served)
    questions = [str(q["question"]) for q in built.questions[100:140]]
    expected = _expected(first, questions)
    asking = Asking(first, questions)
    asking.start()
    try:
        asking.wait_for(5)
        # The next generation: 30 articles gone, one added, built into the same folder as questions go on.
        added = dataclasses.replace(
            pquad.articles[0],
            id="generation-2",
            title="کتابخانهٔ مرکزی شیراز افتتاح شد",
            paragraphs=("کتابخانهٔ مرکزی شیراز با صد هزار جلد کتاب افتتاح شد.",),
        )
        gone = {a.id for a in pquad.articles[:30]}
        build_sharded([*pquad.articles[30:], added], SHARDS, built.folder, generation=2)
        assert served.load(built.folder) == 2
        second = Sharded.open(built.folder, served)
        asking.wait_for(5)
    finally:
        asking.stop()
    assert (first.generation, second.generation) == (1, 2)
    assert not asking.failures, asking.failures[:3]
    # Every question on the first generation's router answered from it alone, while the next was built
    # and loaded.
    assert all(r.missing == 0 and _top(r) == expected[q] for _, _, q, r in asking.rankings)
    assert {tuple(g) for g in ray.get([a.ping.remote() for r in served.actors for a in r])} == {(1, 2)}
    assert _expected(first, questions) == expected
    # The next generation's router answers from it: as the same build served in this process.
    question = "کتابخانهٔ مرکزی شیراز چند جلد کتاب دارد؟"
    assert _top(second.rank(question, 1)) == ("generation-2", 0)
    assert all(h.article.id != "generation-2" for h in first.rank(question, 5).hits)
    local = Sharded.open(built.folder)
    for q in questions:
        ranking = second.rank(q, 3)
        assert ranking.missing == 0 and not any(h.article.id in gone for h in ranking.hits)
        assert _tops(ranking) == _tops(local.rank(q, 3))
    # The first generation retired: every replica refuses its router (a shard missing each), not the next's.
    served.retire(1)
    assert {tuple(g) for g in ray.get([a.ping.remote() for r in served.actors for a in r])} == {(2,)}
    retired = first.rank(questions[0], 3)
    assert retired.missing == SHARDS and not retired.hits
    assert _top(second.rank(question, 1)) == ("generation-2", 0)
