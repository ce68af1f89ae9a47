"""The bot's library over shards served by Ray actors: opening, publishing through the delta, reloading
as the next generation, a second worker sharing the actors, and what /healthz and /metrics read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.serving.metrics import Metrics
from bot.settings import ClusterSettings
from bot.testing.harness import copy_seeds
from bot.testing.seed_questions import PRIORITY, PRIORITY_ANSWER
from retrieval.answer import answer
from retrieval.shards import Sharded

# Read by Ray when it is imported: else it starts its workers with `uv run` in a copy of this folder.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
ray = pytest.importorskip("ray", reason="Ray is not installed (uv sync --extra cluster): sharded serving untested")
pytestmark = pytest.mark.slow  # starts a Ray cluster

ARTICLE = "date 2025-12-11 کتابخانهٔ مرکزی افتتاح شد\nکتابخانهٔ مرکزی شیراز با صد هزار جلد کتاب افتتاح شد.\n"
QUESTION = "کتابخانهٔ مرکزی شیراز چند جلد کتاب دارد؟"
OTHER = (
    "date 2025-12-12 بارش برف در همدان\n"
    "بارش نخستین برف پاییزی در ارتفاعات الوند همدان، رفت‌وآمد در گردنه اسدآباد را کند کرد.\n"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    os.environ.setdefault("RAY_worker_register_timeout_seconds", "300")  # a loaded CI machine starts them slowly
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, namespace="pasokh")
    yield
    ray.shutdown()


def _top(index: Sharded, question: str) -> str:
    result = answer(index, question)
    assert result.answered and not result.partial
    return result.hits[0].sentence.text


async def test_a_sharded_library_publishes_reloads_and_is_shared(cluster: None, tmp_path: Path) -> None:
    from bot.sharded import ShardedLibrary

    seeds = copy_seeds(tmp_path / "seeds")
    (seeds / "snow.txt").write_text(OTHER, encoding="utf-8")
    settings = ClusterSettings("auto", shards=2, replicas=2, deadline=10.0)
    library = ShardedLibrary(seeds, tmp_path / "index", settings)
    library.open()
    index = library.index
    assert isinstance(index, Sharded) and index.generation == 1 and index.shards == 2
    assert PRIORITY_ANSWER in _top(index, PRIORITY)
    assert library.shards_up() == [2, 2]

    # Published: answerable at once from this worker's delta; the shards are not built again.
    report = await library.publish("library", ARTICLE.encode())
    assert report.ok, report
    published = library.index
    assert isinstance(published, Sharded) and published.generation == 1 and published.delta_sentences == 1
    assert "صد هزار" in _top(published, QUESTION)

    # Another worker on the same folder and cluster: the same actors, the seeds folder's articles.
    other = ShardedLibrary(seeds, tmp_path / "index", settings)
    other.open()
    assert isinstance(other.index, Sharded) and other.index.generation == 1
    assert "صد هزار" in _top(other.index, QUESTION)

    # A reload builds generation 2 and swaps it in; the old collection still answers from generation 1.
    reload = await library.reload()
    assert reload.ok, reload
    reloaded = library.index
    assert isinstance(reloaded, Sharded) and reloaded.generation == 2 and reloaded.delta_sentences == 0
    assert "صد هزار" in _top(reloaded, QUESTION)
    assert PRIORITY_ANSWER in _top(published, PRIORITY)  # generation 1 is still held by the replicas

    # Removed: gone from the answers (hidden in the shards through the delta).
    removed = await library.remove("library")
    assert removed.ok, removed
    result = answer(library.index, QUESTION)
    assert all("صد هزار" not in h.sentence.text for h in result.hits)

    # /metrics: both shards' replicas up, nothing missed.
    exposition = Metrics(library).exposition().decode()
    assert 'pasokh_shard_replicas_up{shard="0"} 2.0' in exposition
    assert "pasokh_shard_misses_total 0.0" in exposition
