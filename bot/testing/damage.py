"""Ways a saved index gets damaged, and what loading a damaged one does: the table of faults.

``cases()`` lists every case: each file of a saved index missing, emptied, cut in half, replaced by a
FIFO, a link to ``/dev/zero``, a link to an intact copy elsewhere or a folder, a byte changed, bytes
appended; then damage to what the files say (an ``indptr`` reversed, rows shuffled, NaN weights, a
dtype changed in a ``.npy`` header, unsorted keys, negative offsets, …), each twice: with the manifest's
checksum left as it was (the checksum catches it) and refreshed to match (only the structural checks
can); then damage to the manifest itself. ``try_case`` copies an intact index, damages the copy, loads it
in a thread with a time limit and, when it loads, compares its answers with the intact index's.

Shared by ``tests/test_saved_index.py`` and ``python -m benchmarks.store_faults``.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval import Index, IndexFileError
from retrieval.folders import Checksum
from retrieval.store import CHECKSUM, FILES, load_index

__all__ = ["EXTRA_ARTICLES", "Case", "Outcome", "Result", "answers", "cases", "try_case"]

EXTRA_ARTICLES = {
    "001_extra.txt": "date 2024-03-02 بارش برف در همدان\n"
    "بارش برف راه‌های روستایی همدان را بست.\n"
    "راهداران استان از بامداد دیروز برف‌روبی را آغاز کردند. آنها تا ظهر چهل کیلومتر راه را باز کردند.\n"
    "او گفت که هیچ خودرویی در راه نماند.",
    "002_extra.txt": "date 2024-03-05 نمایشگاه کتاب تبریز\n"
    "نمایشگاه کتاب تبریز با حضور ۲۰۰ ناشر گشایش یافت.\n"
    "این نمایشگاه تا جمعه ادامه دارد و بازدید از آن رایگان است.",
}
"""Two short articles written beside the bundled seed, so the damaged index holds several articles."""

QUESTIONS = (
    "فرمانده انتظامی استان لرستان کیست؟",
    "سردار جمشیدی پور",
    "بسیج یعنی چه؟",
    "راه‌های روستایی همدان",
    "نمایشگاه کتاب تبریز چند ناشر دارد؟",
    "او چه گفت",
    "فرماندهی انتطامی",  # a typo: the fuzzy word index answers
)


class Outcome(enum.Enum):
    """What loading a damaged index did."""

    REFUSED = "refused with a one-line error"
    SERVED_SAME = "loaded, and answers as the intact index"
    SERVED_WRONG = "loaded, and answers otherwise (or fails while answering)"
    TRACEBACK = "failed with another exception"
    HUNG = "did not return in time"


@dataclass(frozen=True)
class Case:
    """One way of damaging a saved index folder, and the outcome a safe loader gives."""

    name: str
    damage: Callable[[Path], None]
    expected: Outcome = Outcome.REFUSED


@dataclass(frozen=True)
class Result:
    case: Case
    outcome: Outcome
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.outcome is self.case.expected


# -- editing a saved index -----------------------------------------------------------------------


def _manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def refresh(folder: Path, name: str, *, header: bool = True) -> None:
    """Make the manifest's entry for ``name`` (size, checksum, and unless ``header`` is false dtype and
    shape) match the file as it is."""
    data = (folder / name).read_bytes()
    manifest = _manifest(folder)
    entry = manifest["files"][name]
    entry["bytes"], entry[CHECKSUM] = len(data), Checksum(data).hexdigest()
    if header and name.endswith(".npy"):
        with (folder / name).open("rb") as file:
            version = np.lib.format.read_magic(file)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(file)
        entry["dtype"], entry["shape"] = dtype.str, list(shape)
    _write_manifest(folder, manifest)


def _array(folder: Path, name: str) -> np.ndarray:
    array_: np.ndarray = np.load(folder / f"{name}.npy", allow_pickle=False)
    return array_


def _save(folder: Path, name: str, array_: np.ndarray) -> None:
    np.save(folder / f"{name}.npy", array_, allow_pickle=False)


def _edit_array(name: str, edit: Callable[[np.ndarray], np.ndarray | None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        array_ = _array(folder, name)
        edited = edit(array_)
        _save(folder, name, array_ if edited is None else edited)

    return damage


def _header_dtype(name: str, dtype: str) -> Callable[[Path], None]:
    """The same bytes under another dtype in the header, the shape fitted to them (as a hex editor would)."""

    def damage(folder: Path) -> None:
        data = _array(folder, name).tobytes()
        retyped = np.frombuffer(data[: len(data) // np.dtype(dtype).itemsize * np.dtype(dtype).itemsize], dtype=dtype)
        _save(folder, name, retyped)

    return damage


def _edit_json(name: str, edit: Callable[[Any], Any]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        value = json.loads((folder / name).read_text(encoding="utf-8"))
        (folder / name).write_text(json.dumps(edit(value), ensure_ascii=False), encoding="utf-8")

    return damage


def _edit_manifest(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    """Change the manifest in place (``edit`` returns None) or replace it (by what ``edit`` returns)."""

    def damage(folder: Path) -> None:
        manifest = _manifest(folder)
        edited = edit(manifest)
        value = manifest if edited is None else edited
        (folder / "manifest.json").write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")

    return damage


def _write_bytes(data: bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / "manifest.json").write_bytes(data)

    return damage


def _refreshed(name: str, damage: Callable[[Path], None], *, header: bool = True) -> Callable[[Path], None]:
    def both(folder: Path) -> None:
        damage(folder)
        refresh(folder, name, header=header)

    return both


# -- what can happen to any file -----------------------------------------------------------------


def _file_cases(name: str) -> list[Case]:
    def missing(folder: Path) -> None:
        (folder / name).unlink()

    def empty(folder: Path) -> None:
        (folder / name).write_bytes(b"")

    def half(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    def fifo(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    def dev_zero(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to("/dev/zero")

    def link_out(folder: Path) -> None:
        outside = folder.parent / f"{folder.name}-outside-{name}"
        shutil.copyfile(folder / name, outside)
        (folder / name).unlink()
        (folder / name).symlink_to(outside)

    def directory(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    def byte_changed(folder: Path) -> None:
        data = bytearray((folder / name).read_bytes())
        data[len(data) * 2 // 3] ^= 0x5A
        (folder / name).write_bytes(bytes(data))

    def appended(folder: Path) -> None:
        with (folder / name).open("ab") as file:
            file.write(b"\0" * 64)

    damages = [missing, empty, half, fifo, dev_zero, link_out, directory, byte_changed, appended]
    return [Case(f"{name}: {d.__name__.replace('_', ' ')}", d) for d in damages]


# -- what the files say --------------------------------------------------------------------------


def _set(index: int | slice, value: object) -> Callable[[np.ndarray], None]:
    def edit(array_: np.ndarray) -> None:
        array_[index] = value

    return edit


def _shuffled(array_: np.ndarray) -> np.ndarray:
    return np.random.default_rng(13).permutation(array_)


def _swap_first_last(array_: np.ndarray) -> None:
    array_[[0, -1]] = array_[[-1, 0]]


def _plus_one_inside_a_character(offsets: str, data: str) -> Callable[[Path], None]:
    """Move one offset forward by a byte, where that lands inside a two-byte character."""

    def damage(folder: Path) -> None:
        array_, text = _array(folder, offsets), _array(folder, data)
        at = next(i for i in range(1, len(array_) - 1) if text[array_[i]] >= 0xC0)
        array_[at] += 1
        _save(folder, offsets, array_)

    return damage


_HEADERS = [
    ("sentences.rows", "<i2"),
    ("term_keys", "<i8"),
    ("sentences.weights", "<i4"),
    ("text_offsets", "<i4"),
    ("anaphoric", "|u1"),
    ("idf", "<f8"),
]
"""Arrays whose ``.npy`` header is given another dtype (the outside pass's i4→i2, u8→i8, f4→i4, …)."""


def _content_damages() -> list[tuple[str, str, Callable[[Path], None]]]:
    """(file, what, damage): changes to what a file says, each keeping it a well-formed file."""
    arrays: list[tuple[str, str, Callable[[np.ndarray], np.ndarray | None]]] = [
        ("sentences.indptr", "reversed", lambda a: a[::-1].copy()),
        ("sentences.indptr", "zeroed", np.zeros_like),
        ("sentences.indptr", "negative", _set(1, -5)),
        ("sentences.indptr", "ends short", lambda a: np.append(a[:-1], a[-1] - 1)),
        ("paragraphs.indptr", "reversed", lambda a: a[::-1].copy()),
        ("sentences.rows", "shuffled", _shuffled),
        ("sentences.rows", "zeroed", np.zeros_like),
        ("sentences.rows", "out of range", lambda a: a + 10_000),
        ("sentences.rows", "negative", _set(0, -1)),
        ("paragraphs.rows", "shuffled", _shuffled),
        ("paragraphs.rows", "out of range", lambda a: a + 10_000),
        ("sentences.weights", "NaN", _set(0, np.nan)),
        ("sentences.weights", "negative", lambda a: -a),
        ("sentences.weights", "infinite", _set(3, np.inf)),
        ("paragraphs.weights", "NaN", _set(slice(None), np.nan)),
        ("sentences.max_weight", "halved", lambda a: a / 2),
        ("paragraphs.max_weight", "zeroed", np.zeros_like),
        ("sentences.skips", "shuffled", _shuffled),
        ("sentences.skip_indptr", "zeroed", np.zeros_like),
        ("term_keys", "unsorted", _swap_first_last),
        ("term_keys", "a key repeated", lambda a: np.sort(np.append(a[:-1], a[0]))),
        ("idf", "NaN", _set(0, np.nan)),
        ("idf", "negative", lambda a: -a),
        ("text_offsets", "negative", _set(1, -3)),
        ("text_offsets", "all shifted", lambda a: a + 7),
        ("text_offsets", "past the end", lambda a: np.append(a[:-1], a[-1] + 7)),
        ("text_offsets", "reversed", lambda a: a[::-1].copy()),
        ("display_offsets", "negative", _set(2, -1)),
        ("sentence_article", "unsorted", _swap_first_last),
        ("sentence_article", "out of range", lambda a: a + 5),
        ("sentence_position", "shifted", lambda a: a + 1),
        ("sentence_paragraph", "negative", lambda a: a - 1),
        ("paragraph_of", "shuffled", _shuffled),
        ("paragraph_start", "shifted", lambda a: a + 1),
        ("first_word", "out of range", lambda a: a + 1_000_000),
        ("anaphoric", "first sentence anaphoric", _set(0, True)),
        ("digits", "a byte neither 0 nor 1", lambda a: np.frombuffer(a.tobytes().replace(b"\0", b"\2", 1), np.bool_)),
        ("fuzzy.indptr", "reversed", lambda a: a[::-1].copy()),
        ("fuzzy.words", "out of range", lambda a: a + 100_000),
        ("fuzzy.word_terms", "out of range", lambda a: a + 1_000_000),
        ("fuzzy.word_offsets", "negative", _set(1, -2)),
        ("fuzzy.word_text", "not UTF-8", _set(0, 0xFF)),
        ("sentences.rows", "one value short", lambda a: a[:-1]),
        ("idf", "one value more", lambda a: np.append(a, a[:1])),
    ]
    damages = [(f"{n}.npy", what, _edit_array(n, edit)) for n, what, edit in arrays]
    damages += [
        ("text_offsets.npy", "inside a character", _plus_one_inside_a_character("text_offsets", "text_bytes")),
        ("display_offsets.npy", "inside a character", _plus_one_inside_a_character("display_offsets", "display_bytes")),
    ]
    damages += [
        ("articles.json", "an article dropped", _edit_json("articles.json", lambda a: a[:-1])),
        (
            "articles.json",
            "a title not a string",
            _edit_json("articles.json", lambda a: [[*a[0][:1], 7, *a[0][2:]], *a[1:]]),
        ),
        (
            "articles.json",
            "a bad date",
            _edit_json("articles.json", lambda a: [[*a[0][:2], "2024-13-45", *a[0][3:]], *a[1:]]),
        ),
        ("articles.json", "an object, not a list", _edit_json("articles.json", lambda a: {"articles": a})),
        ("articles.json", "a row too short", _edit_json("articles.json", lambda a: [a[0][:3], *a[1:]])),
        ("grams.json", "a trigram repeated", _edit_json("grams.json", lambda g: [*g[:-1], g[0]])),
        ("grams.json", "numbers", _edit_json("grams.json", lambda g: list(range(len(g))))),
        ("grams.json", "one trigram dropped", _edit_json("grams.json", lambda g: g[:-1])),
    ]
    return damages


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        del manifest[key]

    return edit


def _manifest_cases() -> list[Case]:
    """Damage to the manifest (which holds the checksums, so none covers it)."""

    def drop_file(m: dict[str, Any]) -> None:
        del m["files"]["sentences.rows.npy"]

    def drop_checksum(m: dict[str, Any]) -> None:
        del m["files"]["idf.npy"][CHECKSUM]

    def grow(m: dict[str, Any], *path: str) -> None:
        for key in path[:-1]:
            m = m[key]
        m[path[-1]] += 1

    edits: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
        ("format 6", lambda m: m.__setitem__("format", 6)),
        ("another recipe", lambda m: m["recipe"].__setitem__("k1", 1.2)),
        ("another hazm", lambda m: m["versions"].__setitem__("hazm", "0.1")),
        ("sentences +1", lambda m: grow(m, "seeds", "sentences")),
        ("articles +1", lambda m: grow(m, "seeds", "articles")),
        ("terms +1", lambda m: grow(m, "terms")),
        ("a file's size +1", lambda m: grow(m, "files", "term_keys.npy", "bytes")),
        ("a shape +1", lambda m: m["files"]["idf.npy"]["shape"].__setitem__(0, m["files"]["idf.npy"]["shape"][0] + 1)),
        ("a dtype changed", lambda m: m["files"]["sentences.rows.npy"].__setitem__("dtype", "<i2")),
        ("a checksum changed", lambda m: m["files"]["grams.json"].__setitem__(CHECKSUM, "0" * 8)),
        ("a file left out", drop_file),
        ("a checksum left out", drop_checksum),
        ("no files", _drop("files")),
        ("files a string", lambda m: m.__setitem__("files", "all")),
        ("seeds a list", lambda m: m.__setitem__("seeds", [])),
        ("versions a list", lambda m: m.__setitem__("versions", [])),
        ("no built_at", _drop("built_at")),
        ("counts as strings", lambda m: m["seeds"].__setitem__("sentences", "12")),
        ("a list", lambda m: [m]),
    ]
    manifest_cases = [Case(f"manifest.json: {what}", _edit_manifest(edit)) for what, edit in edits]
    manifest_cases += [
        Case("manifest.json: not JSON", _write_bytes(b"{not json")),
        Case("manifest.json: null", _write_bytes(b"null")),
        Case("manifest.json: not UTF-8", _write_bytes(b'{"format": "\xff\xfe"}')),
        Case("manifest.json: NUL bytes", _write_bytes(b"\0" * 4096)),
        Case("manifest.json: 2 MB", _write_bytes(b"{" + b" " * 2_000_000 + b"}")),
        Case("manifest.json: deeply nested", _write_bytes(b"[" * 100_000 + b"]" * 100_000)),
        # Controls: what does not matter to the answers loads, and answers as before.
        Case(
            "manifest.json: built_at changed",
            _edit_manifest(lambda m: m.__setitem__("built_at", "x")),
            Outcome.SERVED_SAME,
        ),
        Case("manifest.json: spaces added", _edit_manifest(lambda m: m), Outcome.SERVED_SAME),
    ]
    return manifest_cases


def _folder_cases() -> list[Case]:
    def missing(folder: Path) -> None:
        shutil.rmtree(folder)

    def a_file(folder: Path) -> None:
        shutil.rmtree(folder)
        folder.write_bytes(b"index")

    def a_fifo(folder: Path) -> None:
        shutil.rmtree(folder)
        os.mkfifo(folder)

    def emptied(folder: Path) -> None:
        shutil.rmtree(folder)
        folder.mkdir()

    def a_link_to_an_index(folder: Path) -> None:
        real = folder.with_name(f"{folder.name}-real")
        folder.rename(real)
        folder.symlink_to(real)

    return [
        Case("folder: missing", missing),
        Case("folder: a file", a_file),
        Case("folder: a FIFO", a_fifo),
        Case("folder: empty", emptied),
        Case("folder: a link to an intact index", a_link_to_an_index, Outcome.SERVED_SAME),
    ]


def cases() -> list[Case]:
    """Every case of the table (about 600)."""
    table = _folder_cases()
    for name in ("manifest.json", *FILES):
        table += _file_cases(name)
    for name, what, damage in _content_damages():
        table.append(Case(f"{name}: {what}", damage))
        table.append(Case(f"{name}: {what}, checksum refreshed", _refreshed(name, damage)))
    for array_name, dtype in _HEADERS:
        name, damage = f"{array_name}.npy", _header_dtype(array_name, dtype)
        table.append(Case(f"{name}: header says {dtype}", damage))
        table.append(
            Case(f"{name}: header says {dtype}, size and checksum refreshed", _refreshed(name, damage, header=False))
        )
        table.append(Case(f"{name}: header says {dtype}, manifest refreshed", _refreshed(name, damage)))
    return table + _manifest_cases()


# -- trying a case -------------------------------------------------------------------------------


def answers(index: Index, questions: Iterable[str] = QUESTIONS) -> list[object]:
    """What an index serves: every sentence and article, and the top hits of each question."""
    sentences = [index.sentence(i) for i in range(len(index))]
    hits = [
        [
            (h.article.id, h.sentence.position, h.sentence.display, round(h.score, 4), round(h.coverage, 4))
            for h in index.search(q, 5)
        ]
        for q in questions
    ]
    return [index.articles, sentences, hits]


def _load_and_answer(folder: Path, into: list[tuple[str, object]]) -> None:
    try:
        index = load_index(folder)
    except IndexFileError as exc:
        into.append(("refused", str(exc)))
        return
    except BaseException as exc:  # the table counts every kind of failure
        into.append(("traceback", f"{type(exc).__name__}: {exc}"))
        return
    try:
        into.append(("served", answers(index)))
    except BaseException as exc:
        into.append(("served", f"{type(exc).__name__} while answering: {exc}"))


def try_case(intact: Path, expected: Sequence[object], case: Case, scratch: Path, *, timeout: float = 10.0) -> Result:
    """Copy the index at ``intact`` to ``scratch``, damage the copy, load it in a thread within ``timeout``."""
    folder = scratch / "index"
    shutil.copytree(intact, folder)
    case.damage(folder)
    into: list[tuple[str, object]] = []
    started = time.perf_counter()
    worker = threading.Thread(target=_load_and_answer, args=(folder, into), daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = time.perf_counter() - started
    if worker.is_alive() or not into:
        return Result(case, Outcome.HUNG, f"no answer after {timeout} s", seconds)
    kind, detail = into[0]
    if kind == "refused":
        message = str(detail)
        one_line = "\n" not in message and message.strip() == message != ""
        return Result(case, Outcome.REFUSED if one_line else Outcome.TRACEBACK, message, seconds)
    if kind == "traceback":
        return Result(case, Outcome.TRACEBACK, str(detail), seconds)
    same = detail == list(expected)
    return Result(
        case, Outcome.SERVED_SAME if same else Outcome.SERVED_WRONG, "" if same else str(detail)[:200], seconds
    )
