"""Saving and loading an index as plain files: JSON and NumPy arrays, never a pickle.

A saved index is a folder:

- ``manifest.json``: format, recipe (analysis and scoring settings), library versions, seeds
  fingerprint and counts, build time;
- ``articles.json``: the articles (id, title, date, paragraphs, file digest);
- ``terms.json`` and ``fuzzy.json``: the term and character n-gram vocabularies, in column order;
- ``arrays.npz``: sentence columns and texts, idf, and the sparse matrices' parts.

Loading checks the manifest against the running code first and refuses any difference with a message
that says how to rebuild.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from retrieval.errors import IndexFileError, RecipeMismatch
from retrieval.index import Index, library_versions, scoring_recipe
from retrieval.seeds import Article

__all__ = ["FORMAT", "check_manifest", "load_index", "save_index"]

FORMAT = 1
# Versions that change analysis (stems, stopwords, sentence splits) or scoring: a saved index built
# with others is refused. numpy and scipy only store the arrays, in formats that do not change.
_BINDING_LIBRARIES = ("hazm", "scikit-learn")


def _matrix_parts(prefix: str, matrix: sp.csc_matrix | sp.csr_matrix) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_data": matrix.data,
        f"{prefix}_indices": matrix.indices,
        f"{prefix}_indptr": matrix.indptr,
        f"{prefix}_shape": np.array(matrix.shape, dtype=np.int64),
    }


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def save_index(index: Index, folder: Path) -> None:
    """Write ``index`` to ``folder`` (created if needed; files replaced only once all are written)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".saving-") as tmp:
        staging = Path(tmp)
        manifest = dict(index.manifest) | {"format": FORMAT}
        _write_json(staging / "manifest.json", manifest)
        _write_json(
            staging / "articles.json",
            [
                {
                    "id": a.id,
                    "title": a.title,
                    "date": a.date.isoformat() if a.date else None,
                    "paragraphs": list(a.paragraphs),
                    "digest": a.digest,
                }
                for a in index.articles
            ],
        )
        _write_json(staging / "terms.json", list(index.terms))
        _write_json(staging / "fuzzy.json", sorted(index.fuzzy_vocabulary, key=index.fuzzy_vocabulary.__getitem__))
        arrays: dict[str, Any] = {
            "sentence_article": index.sentence_article,
            "sentence_paragraph": index.sentence_paragraph,
            "sentence_position": index.sentence_position,
            "text_offsets": index.text_offsets,
            "texts": np.frombuffer(index.texts.encode("utf-32-le"), dtype=np.uint32),
            "context_of": index.context_of,
            "idf": index.idf,
            "fuzzy_words": index.fuzzy_words,
            **_matrix_parts("sentence", index.sentence_weights),
            **_matrix_parts("context", index.context_weights),
            **_matrix_parts("fuzzy", index.fuzzy_matrix),
        }
        np.savez(staging / "arrays.npz", **arrays)
        # Move the manifest last: a folder with a manifest is a complete index.
        for name in ("articles.json", "terms.json", "fuzzy.json", "arrays.npz", "manifest.json"):
            os.replace(staging / name, folder / name)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFileError(f"not a saved index (no {path.name}): {path.parent}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"damaged index file {path}: {exc}") from None


def check_manifest(manifest: Mapping[str, Any], *, seeds_fingerprint: str | None = None) -> None:
    """Raise ``RecipeMismatch`` unless an index with ``manifest`` can be used by the running code."""
    rebuild = "rebuild it with `pasokh index build`"
    if manifest.get("format") != FORMAT:
        raise RecipeMismatch(f"index format {manifest.get('format')} is not {FORMAT}: {rebuild}")
    if manifest.get("recipe") != scoring_recipe():
        raise RecipeMismatch(f"index was built with other analysis or scoring settings: {rebuild}")
    saved, running = manifest.get("versions", {}), library_versions()
    for name in _BINDING_LIBRARIES:
        if saved.get(name) != running[name]:
            raise RecipeMismatch(
                f"index was built with {name} {saved.get(name)}, this is {name} {running[name]}: {rebuild}"
            )
    if seeds_fingerprint is not None and manifest.get("seeds", {}).get("fingerprint") != seeds_fingerprint:
        raise RecipeMismatch(f"index was built from other seed files than the seeds folder holds: {rebuild}")


def _matrix(arrays: Mapping[str, np.ndarray], prefix: str, kind: type[sp.csc_matrix] | type[sp.csr_matrix]) -> Any:
    shape = tuple(int(x) for x in arrays[f"{prefix}_shape"])
    return kind((arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]), shape=shape)


def load_index(folder: Path, *, seeds_fingerprint: str | None = None) -> Index:
    """Load an index saved by ``save_index``; refuse one built by other settings or from other seeds."""
    manifest = _read_json(folder / "manifest.json")
    check_manifest(manifest, seeds_fingerprint=seeds_fingerprint)
    articles = tuple(
        Article(
            id=a["id"],
            title=a["title"],
            date=dt.date.fromisoformat(a["date"]) if a["date"] else None,
            paragraphs=tuple(a["paragraphs"]),
            digest=a["digest"],
        )
        for a in _read_json(folder / "articles.json")
    )
    terms = tuple(_read_json(folder / "terms.json"))
    fuzzy = _read_json(folder / "fuzzy.json")
    try:
        # Opened here, not by numpy: np.load leaks its file handle when the archive is damaged.
        with (folder / "arrays.npz").open("rb") as file, np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        index = Index(
            articles=articles,
            sentence_article=arrays["sentence_article"],
            sentence_paragraph=arrays["sentence_paragraph"],
            sentence_position=arrays["sentence_position"],
            text_offsets=arrays["text_offsets"],
            texts=arrays["texts"].tobytes().decode("utf-32-le"),
            terms=terms,
            sentence_weights=_matrix(arrays, "sentence", sp.csc_matrix),
            context_weights=_matrix(arrays, "context", sp.csc_matrix),
            context_of=arrays["context_of"],
            idf=arrays["idf"],
            fuzzy_words=arrays["fuzzy_words"],
            fuzzy_matrix=_matrix(arrays, "fuzzy", sp.csr_matrix),
            fuzzy_vocabulary={g: i for i, g in enumerate(fuzzy)},
            manifest=manifest,
            vocabulary={t: i for i, t in enumerate(terms)},
        )
    except FileNotFoundError:
        raise IndexFileError(f"not a saved index (no arrays.npz): {folder}") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise IndexFileError(f"damaged index file {folder / 'arrays.npz'}: {exc}") from None
    if len(index) != manifest.get("seeds", {}).get("sentences") or len(articles) != manifest["seeds"]["articles"]:
        raise IndexFileError(f"index files in {folder} do not agree with its manifest: rebuild it")
    return index
