"""Past one machine (issue 15): the index sharded by article, searched in this process and over a local Ray
cluster, beside the single index, in one run.

    uv run --extra cluster --group bench python -m benchmarks.shards --out /tmp/pasokh-shards

The collection is the base of ``benchmarks.corpus`` (the pquad_val and persianqa_test paragraphs, one
article each, and the news articles: 47,714 sentences), or with ``--sentences N`` that many of its padded
copies. It is built once as one saved index and as a sharded build per ``--shards`` count (3 and 8), in
``--work`` (reused while the articles and the recipe are the same). The question sample is
``benchmarks.corpus.question_sample``: QA questions (answerable and not) and news titles typed with
Persian ی/ک, shuffled together.

1. **Latency**, one question at a time (``k`` = 3, as the bot asks): the single index (``Index.rank``,
   loaded from its saved folder), ``Sharded`` over ``LocalShards`` (every shard in this process) and over
   ``RayShards`` (``--replicas`` actors a shard, on a local Ray cluster started here or the one at
   ``--ray-address``). Every system answers the whole sample once per round, after a warm-up round; the
   order of the systems rotates from round to round, so the machine's other work falls on all alike.
   Fan-out overhead: a sharded median minus the single index's median of the same round.
   Pieces, to explain the overhead: the router's ``plan_query`` (against the whole vocabulary) and the
   single index's, the single index's stages; each shard's ``candidates`` (its first stage and the
   details of its first rows) in this process and inside the actors (timed there and sent back with the
   reply); the wall time of the fan-out and of a second round trip for details, and the driver's rest
   (planning, merging, the second stage, the hits); the bare Ray round trip to 3, 8 and 20 trivial actors
   (no payload, and the real plan in and a real reply out with no work); the pickled size of the replies.
   ``--variants`` adds the 8-shard router with fewer rows detailed at once (the rest asked for in a second
   round trip when they make the best).
2. **Throughput**: ``--drivers`` processes (bot workers) asking questions back to back for ``--seconds``,
   each holding the single index, or all sharing the same actors (``RayShards.connect`` with the same
   name), against one process with the single index; questions a second in total, and the CPU used by the
   askers, the shard actors, Ray's own processes and the rest of the machine meanwhile.
3. **Per-shard figures against shard size** (``--scale``): a one-shard build of the padded corpus per size,
   measured in a fresh process: a shard's ``candidates`` latency, the router's ``plan_query``, resident
   memory after the load and after the sample, and the size on disk; with the shards of the sharded builds
   above, what the on-paper sizing for 10M and 100M sentences (``paper``) is computed from.

Writes ``results.json`` and ``report.md`` in ``--out`` and prints the report. Run by hand on a quiet
machine if there is one: every figure is wall time on a shared machine, and the load average is
reported beside each round.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import gc
import json
import logging
import math
import os
import pickle
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import base_articles, question_sample, scaled
from benchmarks.quality import DATA
from retrieval import Article, second
from retrieval import shards as shards_module
from retrieval.errors import PasokhError
from retrieval.index import Index, Ranking, plan_query
from retrieval.second import CANDIDATES
from retrieval.seeds import fingerprint
from retrieval.shards import (
    Details,
    LocalShards,
    Sharded,
    ShardReply,
    ShardServer,
    build_sharded,
    detailed_share,
    load_sharded,
    read_whole_manifest,
)

REPO = Path(__file__).resolve().parent.parent
K = 3
"""Hits asked for per question, as the bot asks."""


# -- statistics -----------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(values_s: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99 and mean of durations in seconds, in milliseconds."""
    ms = [v * 1e3 for v in values_s]
    if not ms:
        return {"n": 0, "median": math.nan, "p90": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "n": len(ms),
        "median": statistics.median(ms),
        "p90": pct(ms, 0.9),
        "p99": pct(ms, 0.99),
        "mean": statistics.fmean(ms),
    }


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the collection and its builds ----------------------------------------------------------------


def collection(data: Path, sentences: int) -> list[Article]:
    """The base collection, or ``sentences`` of its padded copies."""
    if sentences <= 0:
        return base_articles(data)
    return [article for article, _ in scaled(data, sentences)]


def _built_for(folder: Path, wanted: str, shards: int | None) -> bool:
    """Whether ``folder`` holds a build of the articles fingerprinted ``wanted`` (of ``shards`` shards)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("seeds", {}).get("fingerprint") != wanted:
        return False
    return shards is None or len(manifest.get("shards", ())) == shards


def prepare(articles: Sequence[Article], work: Path, counts: Sequence[int], *, rebuild: bool) -> dict[str, Any]:
    """The single index and the sharded builds in ``work``, built unless already there; their build times."""
    from retrieval import build_index
    from retrieval.store import load_index, save_index

    wanted = fingerprint(articles)
    built: dict[str, Any] = {}
    single = work / "single"
    fresh = rebuild or not _built_for(single, wanted, None)
    if not fresh:
        try:
            load_index(single)
        except PasokhError:  # another recipe: build again
            fresh = True
    if fresh:
        started = time.perf_counter()
        index = build_index(articles)
        built["single_build_s"] = round(time.perf_counter() - started, 1)
        save_index(index, single)
        del index
        gc.collect()
    for n in counts:
        folder = work / f"shards-{n}"
        fresh = rebuild or not _built_for(folder, wanted, n)
        if not fresh:
            try:
                load_sharded(folder)
            except PasokhError:
                fresh = True
        if fresh:
            started = time.perf_counter()
            build_sharded(articles, n, folder)
            built[f"shards_{n}_build_s"] = round(time.perf_counter() - started, 1)
    return built


# -- timing the pieces --------------------------------------------------------------------------------


class TimedServer(ShardServer):
    """A shard's server that notes how long its ``candidates`` took inside it, on the reply (``spent``)."""

    def candidates(self, plan: Any, n: int, detailed: int, generation: int) -> ShardReply:
        started, cpu = time.perf_counter(), time.thread_time()
        reply = super().candidates(plan, n, detailed, generation)
        object.__setattr__(reply, "spent", time.perf_counter() - started)
        object.__setattr__(reply, "spent_cpu", time.thread_time() - cpu)
        return reply


def _timed_actor_class() -> type:
    from retrieval import cluster

    class TimedActor(cluster._Actor):
        """A replica (``cluster._Actor``) noting how long its ``candidates`` took, on the reply."""

        def candidates(self, plan: Any, n: int, detailed: int, generation: int) -> ShardReply:
            started, cpu = time.perf_counter(), time.thread_time()
            reply = super().candidates(plan, n, detailed, generation)
            object.__setattr__(reply, "spent", time.perf_counter() - started)
            object.__setattr__(reply, "spent_cpu", time.thread_time() - cpu)
            return reply

    return TimedActor


class TimedTransport:
    """A ``shards.Transport`` noting, per question, the wall time of its fan-outs and the shards' own times."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.shards = inner.shards
        self.reset()

    def reset(self) -> None:
        self.search_s = 0.0
        self.details_s = 0.0
        self.details_calls = 0
        self.spent: list[float] = []
        self.spent_cpu: list[float] = []

    def search(self, plan: Any, n: int, detailed: int, generation: int) -> list[ShardReply | None]:
        started = time.perf_counter()
        replies = self.inner.search(plan, n, detailed, generation)
        self.search_s += time.perf_counter() - started
        self.spent = [getattr(r, "spent", math.nan) for r in replies if r is not None]
        self.spent_cpu = [getattr(r, "spent_cpu", math.nan) for r in replies if r is not None]
        return list(replies)

    def details(self, wanted: Mapping[int, np.ndarray], plan: Any, generation: int) -> dict[int, Details | None]:
        started = time.perf_counter()
        found = self.inner.details(wanted, plan, generation)
        self.details_s += time.perf_counter() - started
        self.details_calls += 1
        return dict(found)

    def article(self, shard: int, article: int, generation: int) -> Any:
        return self.inner.article(shard, article, generation)

    def articles(self, generation: int) -> Any:
        return self.inner.articles(generation)


@contextlib.contextmanager
def detailing(rule: Callable[[int, int], int] | None) -> Iterator[None]:
    """Routers in this process detail ``rule(n, shards)`` rows a shard at once (None: as shipped)."""
    shipped = shards_module.detailed_share
    if rule is not None:
        shards_module.detailed_share = rule  # type: ignore[assignment]
    try:
        yield
    finally:
        shards_module.detailed_share = shipped  # type: ignore[assignment]


VARIANTS: dict[str, Callable[[int, int], int]] = {
    # The formula before 6d8e250: twice a shard's share of the best n, and two.
    "share": lambda n, shards: min(n, -(-2 * n // shards) + 2),
    # Nothing detailed at once: the rows that make the best are always asked for in a second round trip.
    "none": lambda n, shards: 0,
}


# -- systems ---------------------------------------------------------------------------------------------


class System:
    """Something that ranks a question, with what each question cost it."""

    def __init__(
        self,
        name: str,
        rank: Callable[[str, int], Ranking],
        transport: TimedTransport | None = None,
        rule: Callable[[int, int], int] | None = None,
        shards: int = 1,
    ) -> None:
        self.name = name
        self.rank = rank
        self.transport = transport
        self.rule = rule
        self.shards = shards

    def ask_all(self, questions: Sequence[str]) -> list[dict[str, Any]]:
        rows = []
        with detailing(self.rule):
            for question in questions:
                if self.transport is not None:
                    self.transport.reset()
                started, cpu = time.perf_counter(), time.process_time()
                ranking = self.rank(question, K)
                total = time.perf_counter() - started
                row: dict[str, Any] = {
                    "total": total,
                    "cpu": time.process_time() - cpu,
                    "top": _top(ranking),
                    "missing": ranking.missing,
                }
                if self.transport is not None:
                    t = self.transport
                    row |= {
                        "search": t.search_s,
                        "details": t.details_s,
                        "details_calls": t.details_calls,
                        "shard_max": max(t.spent) if t.spent else 0.0,
                        "shard_sum": sum(t.spent),
                        "spent": t.spent,
                        "shard_cpu_sum": sum(t.spent_cpu),
                        "shard_cpu_max": max(t.spent_cpu) if t.spent_cpu else 0.0,
                    }
                rows.append(row)
        return rows


def _top(ranking: Ranking) -> tuple[str, int] | None:
    if not ranking.hits:
        return None
    hit = ranking.hits[0]
    return hit.article.id, hit.sentence.position


def single_pieces(index: Index, questions: Sequence[str]) -> dict[str, list[float]]:
    """The single index's stages per question: planning, first stage, candidate features, the model."""
    pieces: dict[str, list[float]] = {"plan": [], "first_stage": [], "features": [], "model_and_hits": []}
    model = second.model()
    for question in questions:
        t0 = time.perf_counter()
        plan = plan_query(question, index)
        t1 = time.perf_counter()
        if plan is None:
            continue
        query = index.localize(plan)
        if not len(query.terms):
            continue
        rows, scores = index.scorer.top(query.terms, query.weights, CANDIDATES, query.boosts)
        t2 = time.perf_counter()
        if not len(rows):
            continue
        features = second.candidate_features(index, query.view, rows, scores)
        t3 = time.perf_counter()
        ranked = model.ranker.predict(features)
        order = second.rerank(ranked)
        model.answerable(second.confidence_features(query.view, features[order], ranked[order]))
        [index._hit(int(rows[i]), float(ranked[i]), query) for i in order[:K]]
        t4 = time.perf_counter()
        for name, value in zip(pieces, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            pieces[name].append(value)
    return pieces


def shard_pieces(sharded: Sharded, servers: Sequence[ShardServer], questions: Sequence[str]) -> dict[str, Any]:
    """Per shard and question, in this process: the router's plan, the shard's first stage, the details of
    its detailed rows (and per row), and the pickled size of the plan and of a reply."""
    shards = len(servers)
    detailed = detailed_share(CANDIDATES, shards)
    out: dict[str, list[float]] = {
        "plan": [],
        "first_stage": [],
        "details": [],
        "row_features": [],
        "details_per_row": [],
        "reply_bytes": [],
        "reply_bytes_no_texts": [],
        "plan_bytes": [],
        "pickle_replies": [],
        "unpickle_replies": [],
    }
    generation = sharded.generation
    for question in questions:
        t0 = time.perf_counter()
        plan = plan_query(question, sharded.lexicon)
        out["plan"].append(time.perf_counter() - t0)
        if plan is None or not plan.weights:
            continue
        out["plan_bytes"].append(len(pickle.dumps(plan, protocol=5)))
        replies = []
        for server in servers:
            index = server.indexes[generation]
            t1 = time.perf_counter()
            query = index.localize(plan)
            if not len(query.terms):
                continue
            rows, _ = index.scorer.top(query.terms, query.weights, CANDIDATES, query.boosts)
            t2 = time.perf_counter()
            shards_module._details(index, query.view, rows[:detailed])
            t3 = time.perf_counter()
            second.row_features(index, query.view, rows[:detailed])
            out["row_features"].append(time.perf_counter() - t3)
            out["first_stage"].append(t2 - t1)
            out["details"].append(t3 - t2)
            if len(rows[:detailed]):
                out["details_per_row"].append((t3 - t2) / len(rows[:detailed]))
            replies.append(server.candidates(plan, CANDIDATES, detailed, generation))
        t4 = time.perf_counter()
        blobs = [pickle.dumps(r, protocol=5) for r in replies]
        t5 = time.perf_counter()
        for blob in blobs:
            pickle.loads(blob)
        t6 = time.perf_counter()
        out["reply_bytes"] += [len(b) for b in blobs]
        out["reply_bytes_no_texts"] += [len(pickle.dumps(without_texts(r), protocol=5)) for r in replies]
        out["pickle_replies"].append(t5 - t4)
        out["unpickle_replies"].append(t6 - t5)
    return out


def without_texts(reply: ShardReply) -> ShardReply:
    """``reply`` with its rows' texts left out (as if only the hits' texts were sent, later)."""
    details = reply.details
    bare = Details(details.rows, details.features, details.relations, details.places, [])
    return ShardReply(reply.shard, reply.rows, reply.scores, bare)


# -- Ray --------------------------------------------------------------------------------------------------


def start_ray(address: str | None, cpus: int, temp_dir: Path) -> str:
    """Join the cluster at ``address``, or start one here; returns its GCS address (for the askers)."""
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    import ray

    from retrieval.cluster import NAMESPACE

    common = {"namespace": NAMESPACE, "logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **common)
    else:
        temp_dir.mkdir(parents=True, exist_ok=True)
        ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=str(temp_dir), **common)
    return str(ray.get_runtime_context().gcs_address)


def ray_shards(folder: Path, *, replicas: int, cpus: float, name: str) -> Any:
    """``RayShards.connect`` on ``folder``, whose replicas are started here first as ``TimedActor``: the
    same actors (names, options) ``connect`` starts, noting their own time; ``connect`` finds them."""
    import ray

    from retrieval import cluster

    remote = ray.remote(_timed_actor_class())
    options = {
        "max_restarts": -1,
        "max_task_retries": 0,
        "num_cpus": cpus,
        "lifetime": "detached",
        "scheduling_strategy": "SPREAD",
        "max_concurrency": 4,
    }
    for shard in range(len(read_whole_manifest(folder)["shards"])):
        for replica in range(replicas):
            remote.options(name=f"{name}-shard-{shard}-{replica}", get_if_exists=True, **options).remote(
                str(folder), shard
            )
    return cluster.RayShards.connect(folder, replicas=replicas, cpus=cpus, name=name, deadline=5.0)


class Canned:
    """A trivial shard: answers ``candidates`` with a reply made before (no work), and ``ping``."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def candidates(self, plan: Any, n: int, detailed: int, generation: int) -> Any:
        return self.reply

    def ping(self) -> None:
        return None


def round_trips(counts: Sequence[int], plan: Any, replies: Sequence[ShardReply], repeats: int) -> dict[str, Any]:
    """The bare Ray round trip to N trivial actors: ``ray.get`` of a ping to each, and ``RayShards.search``
    (the router's fan-out) with the real plan in and real replies out."""
    import ray

    from retrieval.cluster import RayShards

    remote = ray.remote(Canned).options(num_cpus=0, max_concurrency=4)  # no work: no CPU to reserve
    out: dict[str, Any] = {}
    for n in counts:
        actors = [remote.remote(replies[i % len(replies)]) for i in range(n)]
        transport = RayShards([[a] for a in actors], deadline=5.0)
        bare = [remote.remote(without_texts(replies[i % len(replies)])) for i in range(n)]
        ray.get([a.ping.remote() for a in actors + bare], timeout=600)  # all started
        bare_transport = RayShards([[a] for a in bare], deadline=5.0)
        times: dict[str, list[float]] = {"ping": [], "get_canned": [], "search_canned": [], "search_no_texts": []}
        cpu: dict[str, list[float]] = {name: [] for name in times}
        calls: dict[str, Callable[[], Any]] = {
            "ping": lambda: ray.get([a.ping.remote() for a in actors]),  # noqa: B023
            "get_canned": lambda: ray.get([a.candidates.remote(plan, CANDIDATES, 20, 1) for a in actors]),  # noqa: B023
            "search_canned": lambda: transport.search(plan, CANDIDATES, 20, 1),  # noqa: B023
            "search_no_texts": lambda: bare_transport.search(plan, CANDIDATES, 20, 1),  # noqa: B023
        }
        for _ in range(20):  # warm
            for call in calls.values():
                call()
        for _ in range(repeats):
            for name, call in calls.items():
                t0, c0 = time.perf_counter(), time.process_time()
                call()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        out[str(n)] = {name: summary(values) for name, values in times.items()}
        out[str(n)] |= {f"{name}_driver_cpu": summary(values) for name, values in cpu.items()} | {"load": load()}
        for actor in actors + bare:
            ray.kill(actor)
    return out


# -- throughput: askers in processes of their own ----------------------------------------------------------


def asker(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One bot worker: open its system, say ready, wait for the go, then ask back to back for a while."""
    questions = json.loads(Path(spec["questions"]).read_text(encoding="utf-8"))
    if spec["kind"] == "single":
        from retrieval.store import load_index

        rank = load_index(Path(spec["folder"])).rank
    else:
        from retrieval import cluster

        cluster.connect(spec["address"])
        transport = cluster.RayShards.connect(
            Path(spec["folder"]), replicas=spec["replicas"], cpus=spec["cpus"], name=spec["name"], deadline=5.0
        )
        rank = Sharded.open(Path(spec["folder"]), transport).rank
    for question in questions[:30]:
        rank(question, K)
    print("ready", flush=True)
    sys.stdin.readline()
    latencies: list[float] = []
    missing = 0
    at = spec["offset"]
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    ends = started + spec["seconds"]
    while (now := time.perf_counter()) < ends:
        ranking = rank(questions[at % len(questions)], K)
        latencies.append(time.perf_counter() - now)
        missing += ranking.missing > 0
        at += 1
    elapsed = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return {
        "questions": len(latencies),
        "seconds": elapsed,
        "cpu_s": cpu_s,
        "latency": summary(latencies),
        "partial": missing,
    }


def _cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _groups(askers: Sequence[int]) -> dict[int, str]:
    """This process's descendants by kind: askers, Ray workers (the actors), Ray's own processes."""
    import psutil

    kinds = {}
    for child in psutil.Process().children(recursive=True):
        try:
            name = " ".join(child.cmdline()[:1]) or child.name()
        except psutil.Error:
            continue
        if child.pid in askers:
            kinds[child.pid] = "askers"
        elif name.startswith("ray::"):
            kinds[child.pid] = "shard actors"
        else:
            kinds[child.pid] = "ray system"
    return kinds


def throughput(config: Mapping[str, Any], drivers: int, seconds: float, questions: Path) -> dict[str, Any]:
    """``drivers`` askers of ``config`` at once for ``seconds``: questions a second, latency, CPU by kind."""
    import psutil

    command = [sys.executable, "-m", "benchmarks.shards", "--asker"]
    env = os.environ | {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "PYTHONPATH": str(REPO)}
    processes = []
    for i in range(drivers):
        spec = dict(config) | {"questions": str(questions), "seconds": seconds, "offset": 997 * i}
        processes.append(
            subprocess.Popen(
                [*command, json.dumps(spec)],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            for p in processes:
                p.kill()
            raise RuntimeError(f"an asker did not start ({config['kind']}): {line!r}")
    kinds = _groups([p.pid for p in processes])
    watched = {}
    for pid in kinds:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            watched[pid] = (process, _cpu_seconds(process))
    machine = psutil.cpu_times()
    load_before = load()
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    cpu: dict[str, float] = dict.fromkeys(("askers", "shard actors", "ray system"), 0.0)
    for pid, (process, before) in watched.items():
        with contextlib.suppress(psutil.Error):
            cpu[kinds[pid]] += _cpu_seconds(process) - before
    after = psutil.cpu_times()
    busy = sum(getattr(after, f) - getattr(machine, f) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    cpu["askers"] = sum(r["cpu_s"] for r in results)  # they are gone: what they said they used
    cpu["rest of the machine"] = max(0.0, busy - sum(cpu.values()))
    asked = sum(r["questions"] for r in results)
    seconds_each = statistics.fmean(r["seconds"] for r in results)
    return {
        "drivers": drivers,
        "questions": asked,
        "per_second": sum(r["questions"] / r["seconds"] for r in results),
        "seconds": seconds_each,
        "latency_median": statistics.median(r["latency"]["median"] for r in results),
        "latency_p99": max(r["latency"]["p99"] for r in results),
        "partial": sum(r["partial"] for r in results),
        "cpu_percent": {k: round(100 * v / wall, 1) for k, v in cpu.items()},
        "load_before": load_before,
        "load_after": load(),
    }


# -- per-shard figures against shard size ---------------------------------------------------------------


def scale_child(spec: Mapping[str, Any]) -> dict[str, Any]:
    """In a fresh process: one shard of ``spec["folder"]`` loaded as an actor loads it, the router's
    vocabulary, and the sample asked ``rounds`` times (the shard's ``candidates``, the plan, and the
    whole ``Index.rank`` of that one shard for comparison)."""
    questions = json.loads(Path(spec["questions"]).read_text(encoding="utf-8"))
    folder = Path(spec["folder"])
    started_rss = rss_mb()
    server = ShardServer(folder, 0)
    shard_rss = rss_mb()
    _, lexicon = load_sharded(folder)
    loaded_rss = rss_mb()
    generation = server.generations()[0]
    index = server.indexes[generation]
    detailed = spec["detailed"]
    plans = [plan_query(q, lexicon) for q in questions]
    plans = [p for p in plans if p is not None and p.weights]
    for plan in plans:  # warm
        server.candidates(plan, CANDIDATES, detailed, generation)
    plan_s, shard_s, rank_s = [], [], []
    for _ in range(spec["rounds"]):
        for question in questions:
            t0 = time.perf_counter()
            plan = plan_query(question, lexicon)
            plan_s.append(time.perf_counter() - t0)
            if plan is None or not plan.weights:
                continue
            t1 = time.perf_counter()
            server.candidates(plan, CANDIDATES, detailed, generation)
            shard_s.append(time.perf_counter() - t1)
            t2 = time.perf_counter()
            index.rank(question, K)
            rank_s.append(time.perf_counter() - t2)
    manifest = read_whole_manifest(folder)
    lexicon_mb = sum((folder / name).stat().st_size for name in shards_module._LEXICON_FILES) / 2**20
    return {
        "sentences": int(manifest["seeds"]["sentences"]),
        "terms": int(manifest["terms"]),
        "candidates": summary(shard_s),
        "plan": summary(plan_s),
        "rank_one_index": summary(rank_s),
        "rss_start_mb": round(started_rss, 1),
        "rss_shard_loaded_mb": round(shard_rss, 1),
        "rss_with_lexicon_mb": round(loaded_rss, 1),
        "rss_after_sample_mb": round(rss_mb(), 1),
        "peak_mb": round(peak_mb(), 1),
        "shard_disk_mb": round(folder_mb(shards_module.shard_folder(folder, 0)), 1),
        "lexicon_disk_mb": round(lexicon_mb, 1),
        "load": load(),
    }


def run_child(flag: str, spec: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.shards", flag, json.dumps(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{flag} failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- on paper ------------------------------------------------------------------------------------------------


def fit_log(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """``a + b·log10(x)`` through ``points`` (least squares)."""
    x = np.log10([p[0] for p in points])
    y = np.array([p[1] for p in points])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def paper(results: Mapping[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Machines, memory and latency for 10M and 100M sentences, from this run's figures (see the report)."""
    scale = results.get("scale", {})
    per_shard = [(s["sentences"], s["candidates"]["median"]) for s in scale.values()]
    per_shard_p99 = [(s["sentences"], s["candidates"]["p99"]) for s in scale.values()]
    per_shard += results["shard_points"]["median"]
    per_shard_p99 += results["shard_points"]["p99"]
    if len({p[0] for p in per_shard}) < 2:
        return {}
    a, b = fit_log(per_shard)
    a99, b99 = fit_log(per_shard_p99)
    largest = max(scale.values(), key=lambda s: s["sentences"]) if scale else None
    if largest is None:
        return {}
    million = largest["sentences"] / 1e6
    disk_per_m = largest["shard_disk_mb"] / million
    baseline = largest["rss_start_mb"]
    lexicon_per_term = largest["lexicon_disk_mb"] * 2**20 / largest["terms"]
    heaps = results.get("heaps", {})
    beta = heaps.get("beta", 0.6)
    k_heaps = heaps.get("k", 0.0)
    driver_ms = results["driver_rest_ms"]
    trips = results["round_trips"]
    fewest = min(trips, key=int)
    # The fan-out to S shards: a Ray round trip (the ping to the fewest trivial actors, wall time on this
    # machine: an upper bound for a quiet node) and the driver's own CPU per shard (submitting, waiting,
    # unpickling a real reply: serial in the driver, wherever the shards are).
    tb = trips[fewest]["ping"]["median"]
    ta = statistics.fmean(v["search_canned_driver_cpu"]["median"] / int(n) for n, v in trips.items())
    plans = []
    for total in (10_000_000, 100_000_000):
        for shard_size in args.paper_shard_sizes:
            shards = math.ceil(total / shard_size)
            replica_gb = (shard_size / 1e6 * disk_per_m + baseline) / 1024
            usable = args.node_gb - args.node_reserve_gb
            per_node = max(1, int(usable // replica_gb))
            replicas = shards * args.replicas
            nodes = max(args.replicas, math.ceil(replicas / per_node))
            vocabulary = k_heaps * total**beta if k_heaps else math.nan
            shard_ms = a + b * math.log10(shard_size)
            shard_p99 = a99 + b99 * math.log10(shard_size)
            fan_out = ta * shards + tb
            plans.append(
                {
                    "sentences": total,
                    "shard_sentences": shard_size,
                    "shards": shards,
                    "replicas": replicas,
                    "replica_gb": round(replica_gb, 1),
                    "replicas_per_node": per_node,
                    "nodes": nodes,
                    "cluster_gb": round(replicas * replica_gb, 0),
                    "router_lexicon_gb": round(vocabulary * lexicon_per_term / 2**30, 2),
                    "vocabulary_terms": round(vocabulary),
                    "shard_ms": round(shard_ms, 2),
                    "shard_p99_ms": round(shard_p99, 2),
                    "fan_out_ms": round(fan_out, 2),
                    "median_ms": round(driver_ms + fan_out + shard_ms, 1),
                    "p99_ms": round(driver_ms + fan_out + shard_p99, 1),
                    "cpu_ms_per_question": round(shards * shard_ms + driver_ms, 1),
                }
            )
    return {
        "shard_ms_fit": {"a": a, "b": b, "a99": a99, "b99": b99},
        "fan_out_fit_ms": {"per_shard": float(ta), "fixed": float(tb)},
        "disk_mb_per_million": round(disk_per_m, 0),
        "replica_baseline_mb": baseline,
        "lexicon_bytes_per_term": round(lexicon_per_term, 1),
        "driver_rest_ms": driver_ms,
        "plans": plans,
    }


def heaps(work: Path, counts: Sequence[int]) -> dict[str, Any]:
    """Heaps' law (terms = k·sentences^β) fitted over the shards of the sharded builds and the single index:
    random sets of whole articles of real text, so their vocabularies grow as a real collection's would."""
    from retrieval.store import load_index

    points = []
    single = load_index(work / "single")
    points.append((len(single), len(single.term_keys)))
    for n in counts:
        folder = work / f"shards-{n}"
        manifest = read_whole_manifest(folder)
        for shard in range(n):
            index = shards_module.load_shard(folder, shard, manifest)
            points.append((len(index), len(index.term_keys)))
    x = np.log([p[0] for p in points])
    y = np.log([p[1] for p in points])
    beta, log_k = np.polyfit(x, y, 1)
    return {"beta": float(beta), "k": float(np.exp(log_k)), "points": points}


# -- the run ---------------------------------------------------------------------------------------------


def latency(systems: Sequence[System], questions: Sequence[str], rounds: int, single_index: Index) -> dict[str, Any]:
    """Every system over the sample once to warm, then ``rounds`` rounds in rotating order."""
    for system in systems:
        system.ask_all(questions)
    per: dict[str, list[list[dict[str, Any]]]] = {s.name: [] for s in systems}
    loads: list[list[float]] = []
    singles: list[dict[str, list[float]]] = []
    for r in range(rounds):
        loads.append(load())
        order = list(systems[r % len(systems) :]) + list(systems[: r % len(systems)])
        for system in order:
            per[system.name].append(system.ask_all(questions))
            median = statistics.median(x["total"] for x in per[system.name][-1])
            print(
                f"  round {r + 1} {system.name}: {median * 1e3:.2f} ms",
                file=sys.stderr,
                flush=True,
            )
        singles.append(single_pieces(single_index, questions))
    loads.append(load())
    return {"per": per, "loads": loads, "single_pieces": singles}


def summarize_latency(run: Mapping[str, Any], systems: Sequence[System]) -> dict[str, Any]:
    per = run["per"]
    single_tops = [row["top"] for rnd in per["single"] for row in rnd]
    out: dict[str, Any] = {}
    for system in systems:
        rounds = per[system.name]
        rows = [row for rnd in rounds for row in rnd]
        medians = [statistics.median(x["total"] for x in rnd) * 1e3 for rnd in rounds]
        single_medians = [statistics.median(x["total"] for x in rnd) * 1e3 for rnd in per["single"]]
        entry: dict[str, Any] = {
            "total": summary([x["total"] for x in rows]),
            "cpu": summary([x["cpu"] for x in rows]),
            "round_medians": [round(m, 2) for m in medians],
            "overhead_per_round": [round(m - s, 2) for m, s in zip(medians, single_medians, strict=True)],
            "same_top1": sum(a == b for a, b in zip((row["top"] for row in rows), single_tops, strict=True))
            / len(rows),
            "partial": sum(row["missing"] > 0 for row in rows),
        }
        if "search" in rows[0]:
            rest = [x["total"] - x["search"] - x["details"] for x in rows]
            entry |= {
                "search": summary([x["search"] for x in rows]),
                "shard_max": summary([x["shard_max"] for x in rows if x["shard_max"]]),
                "shard_sum": summary([x["shard_sum"] for x in rows if x["shard_sum"]]),
                "shard_each": summary([s for x in rows for s in x["spent"]]),
                "shard_cpu_sum": summary([x["shard_cpu_sum"] for x in rows if x["shard_sum"]]),
                "shard_cpu_max": summary([x["shard_cpu_max"] for x in rows if x["shard_sum"]]),
                "search_minus_shard_max": summary([x["search"] - x["shard_max"] for x in rows if x["shard_max"]]),
                "details_share": sum(x["details_calls"] > 0 for x in rows) / len(rows),
                "details_when_asked": summary([x["details"] for x in rows if x["details_calls"]]),
                "driver_rest": summary(rest),
            }
        out[system.name] = entry
    pieces: dict[str, list[float]] = {}
    for rnd in run["single_pieces"]:
        for name, values in rnd.items():
            pieces.setdefault(name, []).extend(values)
    out["single"]["pieces"] = {name: summary(values) for name, values in pieces.items()}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pasokh-shards"))
    parser.add_argument("--work", type=Path, default=None, help="builds (default: OUT/work)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=0, help="0: the base collection as it is")
    parser.add_argument("--shards", default="3,8")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--qa", type=int, default=300, help="QA questions in the sample")
    parser.add_argument("--titles", type=int, default=100, help="news titles in the sample")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also the 8-shard router detailing fewer rows")
    parser.add_argument("--ray-address", default=None, help="an existing cluster (default: start one here)")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--trivial", default="3,8,20", help="trivial actors for the bare round trip")
    parser.add_argument("--drivers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="each throughput measurement")
    parser.add_argument("--throughput-rounds", type=int, default=2)
    parser.add_argument("--scale", default="250000,1000000", help="one-shard builds for per-shard figures ('' none)")
    parser.add_argument("--scale-rounds", type=int, default=2)
    parser.add_argument("--node-gb", type=float, default=64)
    parser.add_argument("--node-reserve-gb", type=float, default=8, help="kept for the OS, Ray and a bot worker")
    parser.add_argument("--paper-shard-sizes", default="2000000,5000000")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--render", action="store_true", help="only print the report of OUT/results.json again")
    parser.add_argument("--asker", help=argparse.SUPPRESS)
    parser.add_argument("--scale-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID: where is it?
    if args.asker:
        print(json.dumps(asker(json.loads(args.asker))), flush=True)
        return 0
    if args.scale_child:
        print(json.dumps(scale_child(json.loads(args.scale_child))), flush=True)
        return 0
    if args.render:
        print(report(json.loads((args.out / "results.json").read_text(encoding="utf-8"))), end="")
        return 0
    args.paper_shard_sizes = [int(x) for x in args.paper_shard_sizes.split(",")]
    counts = [int(x) for x in args.shards.split(",")]
    out: Path = args.out
    work: Path = args.work or out / "work"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.shards", *(argv if argv is not None else sys.argv[1:])]),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_start": load(),
    }
    print(f"load {load()}: preparing the builds in {work}", file=sys.stderr, flush=True)
    articles = collection(args.data, args.sentences)
    results["builds"] = prepare(articles, work, counts, rebuild=args.rebuild)
    del articles
    gc.collect()
    sample = question_sample(args.data, args.qa, args.titles, 10**9)
    questions = [str(q["text"]) for q in sample]
    questions_file = out / "questions.json"
    questions_file.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")

    from retrieval.store import load_index

    single_index = load_index(work / "single")
    results["sentences"] = len(single_index)
    results["articles"] = len(single_index.articles)
    systems = [System("single", single_index.rank)]
    locals_: dict[int, tuple[Sharded, list[ShardServer]]] = {}
    for n in counts:
        folder = work / f"shards-{n}"
        servers: list[ShardServer] = [TimedServer(folder, i) for i in range(n)]
        transport = TimedTransport(LocalShards(servers))
        sharded = Sharded.open(folder, transport)
        locals_[n] = (sharded, servers)
        systems.append(System(f"local-{n}", sharded.rank, transport, shards=n))
    results["shard_sentences"] = {n: read_whole_manifest(work / f"shards-{n}")["shards"] for n in counts}

    print(f"load {load()}: starting Ray", file=sys.stderr, flush=True)
    started = time.perf_counter()
    address = start_ray(args.ray_address, args.ray_cpus, Path(f"/tmp/ray-shards-{os.getpid()}"))
    actors = sum(counts) * args.replicas
    actor_cpus = round(min(1.0, 0.9 * args.ray_cpus / actors), 3)
    results["ray"] = {"address": address, "actors": actors, "actor_cpus": actor_cpus, "cpus": args.ray_cpus}
    rays: dict[int, Any] = {}
    for n in counts:
        t = time.perf_counter()
        rays[n] = ray_shards(work / f"shards-{n}", replicas=args.replicas, cpus=actor_cpus, name=f"bench{n}")
        results["ray"][f"connect_{n}_s"] = round(time.perf_counter() - t, 1)
        transport = TimedTransport(rays[n])
        systems.append(System(f"ray-{n}", Sharded.open(work / f"shards-{n}", transport).rank, transport, shards=n))
    results["ray"]["start_s"] = round(time.perf_counter() - started, 1)
    if args.variants:
        for n in counts:
            for rule in VARIANTS.values():
                if rule(CANDIDATES, n) == detailed_share(CANDIDATES, n):
                    continue
                label = f"detailed={rule(CANDIDATES, n)}"
                local_transport = locals_[n][0].transport
                systems.append(System(f"local-{n} {label}", locals_[n][0].rank, local_transport, rule, n))
                transport = TimedTransport(rays[n])
                sharded = Sharded.open(work / f"shards-{n}", transport)
                systems.append(System(f"ray-{n} {label}", sharded.rank, transport, rule, n))

    print(f"load {load()}: latency, {len(questions)} questions × {args.rounds} rounds", file=sys.stderr, flush=True)
    run = latency(systems, questions, args.rounds, single_index)
    results["latency"] = summarize_latency(run, systems)
    results["latency_loads"] = run["loads"]

    print(f"load {load()}: pieces", file=sys.stderr, flush=True)
    pieces: dict[str, Any] = {}
    for n, (sharded, servers) in locals_.items():
        raw = shard_pieces(sharded, servers, questions)
        pieces[str(n)] = {
            name: (
                summary(values) if "bytes" not in name else {"median": statistics.median(values), "max": max(values)}
            )
            for name, values in raw.items()
        }
        pieces[str(n)]["detailed_rows"] = detailed_share(CANDIDATES, n)
    results["pieces"] = pieces
    n_plan = max(counts)
    sharded, servers = locals_[n_plan]
    plan = next(p for q in questions if (p := plan_query(q, sharded.lexicon)) is not None and p.weights)
    replies = [s.candidates(plan, CANDIDATES, detailed_share(CANDIDATES, n_plan), sharded.generation) for s in servers]
    trivial = [int(x) for x in args.trivial.split(",")]
    results["round_trips"] = round_trips(trivial, plan, replies, 300)
    results["driver_rest_ms"] = round(
        statistics.median(results["latency"][f"local-{n}"]["driver_rest"]["median"] for n in counts), 2
    )

    if args.drivers and args.seconds > 0:
        print(f"load {load()}: throughput", file=sys.stderr, flush=True)
        configs: list[tuple[str, dict[str, Any], int]] = [
            ("single", {"kind": "single", "folder": str(work / "single")}, 1),
            ("single", {"kind": "single", "folder": str(work / "single")}, args.drivers),
        ]
        for n in counts:
            config = {
                "kind": "ray",
                "folder": str(work / f"shards-{n}"),
                "address": address,
                "replicas": args.replicas,
                "cpus": actor_cpus,
                "name": f"bench{n}",
            }
            configs += [(f"ray-{n}", config, 1), (f"ray-{n}", config, args.drivers)]
        measured: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.throughput_rounds):
            for name, config, drivers in configs[r % len(configs) :] + configs[: r % len(configs)]:
                got = throughput(config, drivers, args.seconds, questions_file)
                measured.setdefault(f"{name} × {drivers}", []).append(got)
                print(f"  {name} × {drivers}: {got['per_second']:.1f} q/s", file=sys.stderr, flush=True)
        results["throughput"] = measured

    import ray

    for n in counts:
        rays[n].stop()
    ray.shutdown()
    del single_index
    results["shard_points"] = {"median": [], "p99": []}
    for n in counts:
        sizes = [s["sentences"] for s in results["shard_sentences"][n]]
        stats = results["latency"][f"local-{n}"]["shard_each"]
        results["shard_points"]["median"].append((statistics.fmean(sizes), stats["median"]))
        results["shard_points"]["p99"].append((statistics.fmean(sizes), stats["p99"]))
    results["heaps"] = heaps(work, counts)

    scale = [int(x) for x in args.scale.split(",") if x.strip()]
    results["scale"] = {}
    for size in scale:
        print(f"load {load()}: a shard of {size:,} sentences", file=sys.stderr, flush=True)
        folder = work / f"scale-{size}"
        scale_articles = collection(args.data, size)
        wanted = fingerprint(scale_articles)
        if args.rebuild or not _built_for(folder, wanted, 1):
            started = time.perf_counter()
            build_sharded(scale_articles, 1, folder)
            results["builds"][f"scale_{size}_build_s"] = round(time.perf_counter() - started, 1)
        del scale_articles
        gc.collect()
        spec = {
            "folder": str(folder),
            "questions": str(questions_file),
            "rounds": args.scale_rounds,
            "detailed": detailed_share(CANDIDATES, 8),
        }
        results["scale"][str(size)] = run_child("--scale-child", spec, timeout=3600)
    results["paper"] = paper(results, args)
    results["load_end"] = load()
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    text = report(results)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


# -- the report ---------------------------------------------------------------------------------------------


def head(*columns: str) -> list[str]:
    """A Markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _ms(stats: Mapping[str, float]) -> str:
    return f"{stats['median']:.2f} / {stats['p90']:.2f} / {stats['p99']:.2f}"


def report(results: Mapping[str, Any]) -> str:
    lines = [
        f"Run {results['started']}: {results['sentences']:,} sentences, {results['articles']:,} articles; "
        f"{results['cpus']} CPUs; load average at the start {results['load_start']}, at the end "
        f"{results['load_end']}; per round {results['latency_loads']}.",
        "",
        "#### Latency per question (k = 3), all rounds pooled",
        "",
        *head(
            "system",
            "median / p90 / p99 ms",
            "round medians ms",
            "overhead vs single, per round ms",
            "same top-1 as single",
            "partial",
        ),
    ]
    latency = results["latency"]
    for name, entry in latency.items():
        overhead = ", ".join(f"{x:+.2f}" for x in entry["overhead_per_round"]) if name != "single" else "—"
        lines.append(
            f"| {name} | {_ms(entry['total'])} | {', '.join(f'{x:.2f}' for x in entry['round_medians'])} | "
            f"{overhead} | {100 * entry['same_top1']:.1f}% | {entry['partial']} |"
        )
    lines += [
        "",
        "#### Where a sharded question's time goes (medians, ms)",
        "",
        *head(
            "system",
            "total",
            "fan-out wall",
            "slowest shard's candidates",
            "sum of shards' candidates",
            "fan-out − slowest shard",
            "driver rest (plan, merge, second stage, hits)",
            "second round trip: share / median ms",
            "CPU: driver process / shards' candidates (sum) / slowest shard",
        ),
    ]
    for name, entry in latency.items():
        if "search" not in entry:
            continue
        lines.append(
            f"| {name} | {entry['total']['median']:.2f} | {entry['search']['median']:.2f} | "
            f"{entry['shard_max']['median']:.2f} | {entry['shard_sum']['median']:.2f} | "
            f"{entry['search_minus_shard_max']['median']:.2f} | {entry['driver_rest']['median']:.2f} | "
            f"{100 * entry['details_share']:.1f}% / {entry['details_when_asked']['median']:.2f} | "
            f"{entry['cpu']['median']:.2f} / {entry['shard_cpu_sum']['median']:.2f} / "
            f"{entry['shard_cpu_max']['median']:.2f} |"
        )
    pieces = latency["single"]["pieces"]
    lines += [
        "",
        "Single index, its stages (median / p90 / p99 ms): "
        + "; ".join(f"{name.replace('_', ' ')} {_ms(stats)}" for name, stats in pieces.items())
        + ".",
        "",
        "#### Pieces in this process (median / p90 / p99 ms; bytes: median, max)",
        "",
        *head(
            "shards",
            "rows detailed a shard",
            "router's plan_query",
            "a shard's first stage",
            "a shard's details",
            "of which row features",
            "per detailed row",
            "plan pickled",
            "a reply pickled",
            "a reply without texts",
            "pickling / unpickling all replies",
        ),
    ]
    for n, p in results["pieces"].items():
        lines.append(
            f"| {n} | {p['detailed_rows']} | {_ms(p['plan'])} | {_ms(p['first_stage'])} | {_ms(p['details'])} | "
            f"{_ms(p['row_features'])} | {p['details_per_row']['median'] * 1e3:.0f} µs | "
            f"{p['plan_bytes']['median']:,.0f} B | "
            f"{p['reply_bytes']['median']:,.0f} B (max {p['reply_bytes']['max']:,.0f}) | "
            f"{p['reply_bytes_no_texts']['median']:,.0f} B | "
            f"{p['pickle_replies']['median']:.2f} / {p['unpickle_replies']['median']:.2f} |"
        )
    lines += [
        "",
        "#### Bare Ray round trip to N trivial actors (median / p90 / p99 ms)",
        "",
        *head(
            "actors",
            "ray.get of a ping to each",
            "ray.get of candidates from each: plan in, a real reply out, no work",
            "the same through RayShards.search (its wait loop)",
            "RayShards.search, replies without texts",
            "driver CPU: ping / search / search without texts",
            "load",
        ),
    ]
    for n, trip in results["round_trips"].items():
        lines.append(
            f"| {n} | {_ms(trip['ping'])} | {_ms(trip['get_canned'])} | {_ms(trip['search_canned'])} | "
            f"{_ms(trip['search_no_texts'])} | {trip['ping_driver_cpu']['median']:.2f} / "
            f"{trip['search_canned_driver_cpu']['median']:.2f} / {trip['search_no_texts_driver_cpu']['median']:.2f} | "
            f"{trip['load']} |"
        )
    if "throughput" in results:
        lines += [
            "",
            "#### Throughput: askers back to back (questions a second, all askers together)",
            "",
            *head(
                "system × askers",
                "q/s per run",
                "asker latency median / worst p99 ms",
                "partial",
                "CPU % of one core: askers, shard actors, Ray system, rest of the machine",
                "load before → after",
            ),
        ]
        for name, runs in results["throughput"].items():
            cpu = "; ".join(", ".join(f"{v:.0f}" for v in r["cpu_percent"].values()) for r in runs)
            lines.append(
                f"| {name} | {', '.join(f'{r["per_second"]:.1f}' for r in runs)} | "
                f"{', '.join(f'{r["latency_median"]:.1f} / {r["latency_p99"]:.0f}' for r in runs)} | "
                f"{sum(r['partial'] for r in runs)} | {cpu} | "
                f"{'; '.join(f'{r["load_before"][0]} → {r["load_after"][0]}' for r in runs)} |"
            )
    if results.get("scale"):
        lines += [
            "",
            "#### One shard against its size (fresh process each; median / p90 / p99 ms)",
            "",
            *head(
                "sentences",
                "terms",
                "a shard's candidates",
                "router's plan_query",
                "Index.rank of that one index",
                "RSS start / shard loaded / + lexicon / after sample MB",
                "shard disk MB",
                "lexicon disk MB",
            ),
        ]
        for s in results["scale"].values():
            lines.append(
                f"| {s['sentences']:,} | {s['terms']:,} | {_ms(s['candidates'])} | {_ms(s['plan'])} | "
                f"{_ms(s['rank_one_index'])} | {s['rss_start_mb']:.0f} / {s['rss_shard_loaded_mb']:.0f} / "
                f"{s['rss_with_lexicon_mb']:.0f} / {s['rss_after_sample_mb']:.0f} | {s['shard_disk_mb']:.0f} | "
                f"{s['lexicon_disk_mb']:.0f} |"
            )
    sizing = results.get("paper")
    if sizing:
        fit = sizing["shard_ms_fit"]
        lines += [
            "",
            "#### On paper",
            "",
            f"A shard's candidates, fitted: median {fit['a']:.2f} + {fit['b']:.2f}·log10(sentences) ms, p99 "
            f"{fit['a99']:.2f} + {fit['b99']:.2f}·log10(sentences); the fan-out "
            f"{sizing['fan_out_fit_ms']['fixed']:.2f} ms (a Ray round trip here) + "
            f"{sizing['fan_out_fit_ms']['per_shard']:.3f} ms of the driver's CPU a shard; "
            f"the driver's rest {sizing['driver_rest_ms']:.2f} ms; a replica {sizing['disk_mb_per_million']:.0f} MB "
            f"a million sentences (its files, all resident) + {sizing['replica_baseline_mb']:.0f} MB; the "
            f"router's vocabulary {sizing['lexicon_bytes_per_term']:.0f} bytes a term, terms = "
            f"{results['heaps']['k']:.1f}·sentences^{results['heaps']['beta']:.3f}.",
            "",
            *head(
                "sentences",
                "shard size",
                "shards",
                "replicas",
                "GB a replica",
                "replicas a node",
                "nodes",
                "cluster GB",
                "router vocabulary (terms, GB)",
                "a shard median / p99 ms",
                "fan-out ms",
                "question median / p99 ms",
                "CPU ms a question",
            ),
        ]
        for p in sizing["plans"]:
            lines.append(
                f"| {p['sentences'] / 1e6:.0f}M | {p['shard_sentences'] / 1e6:.0f}M | {p['shards']} | "
                f"{p['replicas']} | {p['replica_gb']} | {p['replicas_per_node']} | {p['nodes']} | "
                f"{p['cluster_gb']:.0f} | {p['vocabulary_terms'] / 1e6:.1f}M, {p['router_lexicon_gb']} | "
                f"{p['shard_ms']} / {p['shard_p99_ms']} | "
                f"{p['fan_out_ms']} | {p['median_ms']} / {p['p99_ms']} | {p['cpu_ms_per_question']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
