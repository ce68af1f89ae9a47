"""What the bot counts for Prometheus: questions, answers, reloads, answer latency, the index's size.

Each application has its own ``CollectorRegistry`` (not prometheus-client's global one), so several
applications can live in one process, as they do in the tests. Every worker process serves its own
numbers at ``GET /metrics``; Prometheus scrapes each worker and sums them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bot.library import Library, ReloadReport

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "ChatKind", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of the Prometheus text format."""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds: a search takes milliseconds, a reply through a busy Bot API can take seconds."""

type ChatKind = Literal["private", "group", "inline"]


class Metrics:
    """The bot's Prometheus metrics, in a registry of their own."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.started = time.monotonic()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory, CPU time, open files, start time
        self.questions = Counter(
            "pasokh_questions",
            "Questions searched (past the per-user limit), by where they were asked",
            ["chat_type"],
            registry=self.registry,
        )
        self.answered = Counter("pasokh_answered", "Chat questions answered", registry=self.registry)
        self.unanswered = Counter(
            "pasokh_unanswered", "Chat questions with words to search for but no answer", registry=self.registry
        )
        self.reloads = Counter("pasokh_reloads", "Index reloads, by result", ["result"], registry=self.registry)
        self.errors = Counter(
            "pasokh_errors", "Updates whose handling failed (the user got an apology)", registry=self.registry
        )
        self.failing_in_a_row = 0
        """Updates that failed since the last reply that worked: /healthz reports trouble past a few."""
        self.drops = Counter(
            "pasokh_dropped_updates",
            "Updates dropped unanswered: waited too long for their chat (late) or still waiting at shutdown",
            ["reason"],
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "pasokh_answer_seconds",
            "Seconds from a question reaching its handler to its reply being sent",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        articles = Gauge("pasokh_articles", "Articles in the current index", registry=self.registry)
        sentences = Gauge("pasokh_sentences", "Sentences in the current index", registry=self.registry)
        articles.set_function(lambda: self._size()[0])
        sentences.set_function(lambda: self._size()[1])
        for kind in ("private", "group", "inline"):  # present from the start, at 0
            self.questions.labels(kind)
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        for reason in ("late", "shutdown"):
            self.drops.labels(reason)

        self.registry.register(_Shards(library))

    def _size(self) -> tuple[int, int]:
        """Articles and sentences of the current index; zeros before the library is open."""
        try:
            index = self.library.index
        except RuntimeError:
            return 0, 0
        return len(index.articles), len(index)

    def asked(self, kind: ChatKind) -> None:
        """Count a question about to be searched."""
        self.questions.labels(kind).inc()

    def outcome(self, answered: bool) -> None:
        """Count a chat question as answered or not."""
        (self.answered if answered else self.unanswered).inc()

    def replied(self, since: float) -> None:
        """Record a reply sent; ``since`` is the ``time.perf_counter()`` when the question arrived."""
        self.answer_seconds.observe(time.perf_counter() - since)
        self.failing_in_a_row = 0

    def failed(self) -> None:
        """Count an update whose handling raised."""
        self.errors.inc()
        self.failing_in_a_row += 1

    def reloaded(self, report: ReloadReport) -> None:
        """Count a reload that ran (one refused as already running is not counted)."""
        if not report.already_running:
            self.reloads.labels("ok" if report.ok else "failed").inc()

    def dropped(self, reason: str) -> None:
        """Count an update dropped unanswered."""
        self.drops.labels(reason).inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class _Shards(Collector):
    """A sharded index's shards: replicas up per shard, and the shards' misses and failovers (read from
    the library at each scrape)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def collect(self) -> Iterator[Metric]:
        up_now = self.library.shards_up()
        if up_now is None:  # one index, in this process
            return
        counts = self.library.shard_counts()
        missed = CounterMetricFamily(
            "pasokh_shard_misses", "Shards left out of a question: no replica answered in time"
        )
        missed.add_metric([], counts.get("missed", 0))
        yield missed
        failovers = CounterMetricFamily(
            "pasokh_shard_failovers", "Questions a failed replica passed to another of its shard"
        )
        failovers.add_metric([], counts.get("failed_over", 0))
        yield failovers
        hedged = CounterMetricFamily(
            "pasokh_shard_hedges", "Questions also sent to another replica when the first was slow to answer"
        )
        hedged.add_metric([], counts.get("hedged", 0))
        yield hedged
        up = GaugeMetricFamily("pasokh_shard_replicas_up", "Replicas of each shard answering", labels=["shard"])
        for shard, replicas in enumerate(up_now):
            up.add_metric([str(shard)], replicas)
        yield up
