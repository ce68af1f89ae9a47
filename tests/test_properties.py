"""Hostile input: whatever people type or paste, normalization, analysis, search and answers never raise.

Property-based (hypothesis) over random Unicode and over pieces real messages are made of: Persian words and
affixes, bidi marks and controls, ZWNJ and ZWJ, emoji with skin tones and ZWJ sequences, control characters,
combining marks, astral characters, Arabic presentation forms, markup and URLs, up to 10,000 characters.
Then the same through the ``pasokh ask --json`` command line, and tables of the characters real Persian text
carries that folding must know.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.testing.processes import PASOKH_COMMAND, ROOT, SEEDS
from bot.testing.seed_questions import COMMANDER, QUESTION
from retrieval import Index, SeedSet, analysis, build_index
from retrieval.answer import Answer, answer, hits_as_dicts, plain_reply
from retrieval.normalize import display, fold
from retrieval.phrase import Kind, answer_phrase, asked_for
from retrieval.seeds import parse_article

PERSIAN = re.compile(r"[\u0600-\u06ff]")

# -- strategies -----------------------------------------------------------------------------------

# fmt: off
BIDI = ["\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
        "\u2066", "\u2067", "\u2068", "\u2069"]
JOINERS = ["\u200c", "\u200d", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u034f"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "❤️\u200d🔥", "🇮🇷", "👩🏿\u200d🚀", "1️⃣", "🫶🏻"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\x85", "\r\n", "\t",
            "\u2028", "\u2029"]
MARKS = ["\u064b", "\u064e", "\u0650", "\u0651", "\u0652", "\u0654", "\u0670", "\u0301", "\u20dd",
         "\U000e0100", "\ufe0f"]
ASTRAL = ["𝐀", "𝟏", "𠀀", "𓀀", "\U0010fffd", "\U000e0041", "𑂙", "𑂺"]
PRESENTATION = ["ﻻ", "ﯽ", "ﺑ", "ﮐ", "ﷺ", "﷽", "ﷲ", "ﻵ", "ﭖ"]
PERSIAN_PIECES = [
    "فرمانده", "انتظامی", "لرستان", "کیست", "چیست", "چند", "سال", "بسیج", "هاشمی", "فر", "می", "نمی", "ها", "های",
    "ترین", "ای", "ی", "است", "که", "در", "و", "خانهٔ", "كتاب", "علي", "مؤمن", "آمریکا", "بـــسیج", "سلام", "کی",
    "ے", "ڵ", "ۆ", "ٹ", "ں", "ٵ",
    "۱۴۰۴", "١٢", "12.5", "۱۲٫۵", "2025-11-26", "٪", "،", "؛", "؟", "«", "»", "!", ".", "...", ":", "(", ")", "-", "/",
]
MARKUP = ["<b>", "</b>", "<script>alert(1)</script>", '<a href="javascript:x">', "&amp;", "&#0;", "<", ">", "&"]
URLS = ["https://evil.example.com/a?b=<c>&d=1", "tg://resolve?domain=x", "www.example.org", "@pasokh_bot", "/ask"]
PIECES = [*PERSIAN_PIECES, *BIDI, *JOINERS, *EMOJI, *CONTROLS, *MARKS, *ASTRAL, *PRESENTATION, *MARKUP, *URLS,
          " ", "  "]
# fmt: on

_ANY_CHAR = st.characters(exclude_categories=("Cs",))  # every code point a Python str can carry in UTF-8
_pieces = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
_spaced_pieces = st.lists(st.sampled_from(PIECES), max_size=40).map(" ".join)
_random = st.text(_ANY_CHAR, max_size=200)
_mixed = st.lists(st.one_of(st.sampled_from(PIECES), _ANY_CHAR), max_size=60).map("".join)


def _to_length(text: str, length: int = 10_000) -> str:
    return (text * (length // max(len(text), 1) + 1))[:length] if text else "x" * length


# 10,000 characters: a drawn snippet repeated (hypothesis cannot draw that many characters one by one).
_long = st.one_of(_pieces, _mixed, _random).filter(bool).map(_to_length)

hostile = st.one_of(_pieces, _spaced_pieces, _random, _mixed, _long)
"""Text a hostile or careless user could send, up to 10,000 characters."""

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tiny_index() -> Index:
    """Two short articles: few sentences, so nearly every question word is unknown to it."""
    articles = (
        parse_article("a", "date 2024-03-20 زلزله کرمان\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.\nاو گفت."),
        parse_article("b", "قیمت نفت\nقیمت نفت برنت ۸۰ دلار شد. Brent crude rose.\n، افزایش یافت."),
    )
    return build_index(SeedSet(articles, ()))


# -- normalization --------------------------------------------------------------------------------


@FAST
@given(hostile)
def test_fold_never_raises_and_is_idempotent(text: str) -> None:
    folded = fold(text)
    assert fold(folded) == folded


@FAST
@given(hostile)
def test_fold_leaves_no_marks_format_characters_or_non_ascii_digits(text: str) -> None:
    for char in fold(text):
        assert unicodedata.category(char) not in ("Mn", "Me", "Cf", "Cc", "Zl", "Zp"), repr(char)
        assert not char.isdecimal() or char in "0123456789", repr(char)


def test_fold_is_idempotent_on_every_character_of_the_two_busiest_planes() -> None:
    for code in range(0x20000):
        if 0xD800 <= code < 0xE000:
            continue
        folded = fold(chr(code))
        assert fold(folded) == folded, hex(code)


@SLOW
@given(hostile)
def test_display_never_raises_and_is_idempotent(text: str) -> None:
    shown = display(text)
    assert display(shown) == shown


def test_display_of_a_long_word_takes_linear_time() -> None:
    """hazm's search for repeated letters was quadratic: a 100,000-letter word took minutes, now milliseconds."""
    import time

    word = ("فرمانده" * 15_000)[:100_000]
    display("")  # hazm's normalizer is built once, outside the timing
    started = time.perf_counter()
    assert display(word) == word
    assert time.perf_counter() - started < 1.0


# (input, displayed, what the row shows): hazm's steps run in a fixed order, so one pass of it is not
# idempotent; these were found by the property above before display repeated until nothing changed.
DISPLAY_CASES = [
    ("کتاب خانهٓ", "کتاب\u200cخانه", "hazm spaces affixes before it drops the madda that hides one"),
    ("ههه هه", "ههه هه", "repeated letters are left as written (hazm shortened them after spacing affixes)"),
    ("خانهٔها", "خانهٔها", "hamza above is kept (hazm dropped it, then spaced the suffix it hid)"),
    ('""', "«»", "hazm turns quotes to guillemets before it spaces them"),
    ("..\u200c.", "…", "an ellipsis split by a ZWNJ"),
    ("/\u200c", "/", "a stray ZWNJ after punctuation is dropped"),
    ("می۱۲", "می ۱۲", "«می» is not joined to a number (hazm alternated between «می‌۱۲» and «می‌ ۱۲»)"),
    ("می \u202e", "می \u202e", "«می» is not joined to a bidi control"),
]


@pytest.mark.parametrize(("text", "expected", "shows"), DISPLAY_CASES, ids=[c[2] for c in DISPLAY_CASES])
def test_display_settles(text: str, expected: str, shows: str) -> None:
    assert display(text) == expected
    assert display(expected) == expected


# (input, folded, what the row shows): characters real Persian text carries that fold() once missed.
FOLD_GAPS = [
    ("ے", "ی", "Urdu yeh barree"),
    ("ۓ", "ی", "Urdu yeh barree with hamza"),
    ("ێ", "ی", "Kurdish yeh with small v"),
    ("پاکستاں", "پاکستان", "Urdu noon ghunna"),
    ("ٹیم", "تیم", "Urdu tteh"),
    ("ڈالر", "دالر", "Urdu ddal"),
    ("گۆڵ", "گول", "Kurdish oe and lam with small v"),
    ("ڕێگا", "ریگا", "Kurdish reh and yeh with small v"),
    ("ۃ", "ه", "teh marbuta goal"),
    ("ٵ", "ا", "high hamza alef: NFKC leaves a high hamza (ٴ) that must go too"),
    ("ﮐﺘﺎﺏ", "کتاب", "presentation forms of a whole word"),
    ("ﷲ", "الله", "the Allah ligature"),
    ("१२३", "123", "Devanagari digits: every script's digits become ASCII"),
    ("۱۲۳٤٥٦", "123456", "Persian and Arabic-Indic digits mixed"),
    ("𝟏𝟐", "12", "mathematical digits"),
    ("الف\u202fب", "الف ب", "narrow no-break space"),
    ("می\u00adشود", "میشود", "soft hyphen"),
    ("هاشمی\u200dفر", "هاشمیفر", "ZWJ"),
    ("\u2067سلام\u2069", "سلام", "bidi isolates"),
    ("سلام\U000e0100", "سلام", "variation selector 17 (plane 14)"),
    ("\u1100\u200c\u1161", "\uac00", "Hangul jamo a ZWNJ kept apart compose once it is gone"),
]


@pytest.mark.parametrize(("text", "expected", "shows"), FOLD_GAPS, ids=[c[2] for c in FOLD_GAPS])
def test_fold_gap(text: str, expected: str, shows: str) -> None:
    assert fold(text) == expected


# (text, words, what the row shows): Persian and Arabic punctuation separates words.
WORD_CASES = [
    ("سلام،خوبی؟", ["سلام", "خوبی"], "Persian comma and question mark"),
    ("الف؛ب", ["الف", "ب"], "Persian semicolon"),
    ("«بسیج»", ["بسیج"], "guillemets"),
    ("۱۲٫۵٪", ["12.5"], "Arabic decimal separator and percent sign, like «12.5%»: one number"),
    ("۱٬۰۰۰", ["1", "000"], "Arabic thousands separator, like «1,000»"),
    ("پاکستان۔", ["پاکستان"], "Urdu full stop"),
    ("\u200fلرستان\u200e", ["لرستان"], "bidi marks around a word"),
]


@pytest.mark.parametrize(("text", "expected", "shows"), WORD_CASES, ids=[c[2] for c in WORD_CASES])
def test_words_split_at_punctuation(text: str, expected: list[str], shows: str) -> None:
    assert analysis.words(text) == expected


def test_fold_agrees_with_the_letters_hazm_shows() -> None:
    """A word copied from a reply (hazm's letters) folds like the article it came from."""
    from hazm.constants import TRANSLATION_DST, TRANSLATION_SRC

    differ = [
        (source, shown)
        for source, shown in zip(TRANSLATION_SRC, TRANSLATION_DST, strict=True)
        if source.isalpha() and fold(source) != fold(shown)
    ]
    assert differ == []


# -- analysis -------------------------------------------------------------------------------------


@FAST
@given(hostile)
def test_analysis_never_raises(text: str) -> None:
    words = analysis.words(text)
    assert all(w and not any(c.isspace() for c in w) for w in words)
    assert set(words) <= set(analysis.terms(text))
    kept = analysis.question_words(text)
    assert set(kept) <= set(analysis.merge_affixes(words))
    shape = analysis.question_shape(text)
    assert set(shape.subject) <= set(kept)
    assert set(analysis.content_words(text)) <= set(words)


# -- search and answers ---------------------------------------------------------------------------


def _check_hits(index: Index, text: str, k: int) -> None:
    hits = index.search(text, k)
    assert len(hits) <= max(k, 0)
    scores = [h.score for h in hits]
    assert all(math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True)
    for hit in hits[:1]:
        assert 0.0 <= hit.coverage <= 1.0 + 1e-9


@SLOW
@given(hostile, st.integers(min_value=-1, max_value=12))
def test_search_over_the_seeds_never_raises(seed_index: Index, text: str, k: int) -> None:
    _check_hits(seed_index, text, k)


@SLOW
@given(hostile, st.integers(min_value=1, max_value=12))
def test_search_over_a_tiny_index_never_raises(tiny_index: Index, text: str, k: int) -> None:
    _check_hits(tiny_index, text, k)


@SLOW
@given(hostile, st.integers(min_value=1, max_value=5))
def test_answer_always_has_a_reply(seed_index: Index, text: str, k: int) -> None:
    result = answer(seed_index, text, k)
    assert isinstance(result, Answer)
    reply = plain_reply(result)
    assert reply.strip()
    assert PERSIAN.search(reply)
    assert len(result.hits) <= k
    json.dumps(hits_as_dicts(result.hits, result.asked), ensure_ascii=False)  # what the CLI prints


@FAST
@given(st.one_of(hostile, st.sampled_from(["چند نفر؟", "در چه سالی؟", "چقدر است؟", "در کدام قرن؟"])), hostile)
def test_the_answer_phrase_is_a_span_of_the_sentence_or_none(question: str, sentence: str) -> None:
    span = answer_phrase(asked_for(question, kinds=tuple(Kind)), sentence)
    assert span is None or 0 <= span[0] < span[1] <= len(sentence)


@pytest.mark.parametrize(
    "text",
    [QUESTION + "\u0651" * 5000, "\u200f" * 900 + QUESTION, "\u200c".join(QUESTION), (QUESTION + " 😀 ") * 300],
    ids=["5,000 shaddas", "900 RLMs first", "ZWNJ between every letter", "question and emoji 300 times"],
)
def test_the_question_is_still_found_under_noise(seed_index: Index, text: str) -> None:
    result = answer(seed_index, text)
    assert result.answered
    assert COMMANDER in plain_reply(result)


def test_invisible_characters_do_not_use_up_the_searched_length(seed_index: Index) -> None:
    result = answer(seed_index, "\u200f" * 10_000 + QUESTION)
    assert result.answered


# -- through the command line ---------------------------------------------------------------------

CLI_CASES = {
    "4096 characters": ((QUESTION + " ") * 200)[:4096],
    "4096 letters in one word": "ب" * 4096,
    "emoji only": "😀👍🏽👨\u200d👩\u200d👧🇮🇷",
    "script tag": "<script>alert('x')</script>",
    "markup around the question": f"<b>{QUESTION}</b><i>",
    "a url": "https://evil.example.com/login?next=<b>&x=1",
    "a url and the question": f"{QUESTION} https://example.org/?q=لرستان",
    "control characters": "\x01\x07\x1b[31mفرمانده\x1b[0m\x7f\x85",
    "rtl marks and overrides": "\u202e\u200fفرمانده انتظامی لرستان کیست؟\u200e\u202c",
    "bidi isolates only": "\u2067\u2069\u200f",
    "presentation forms": "ﻓﺮﻣﺎﻧﺪﻩ ﺍﻧﺘﻈﺎﻣﯽ ﻟﺮﺳﺘﺎﻥ",
}


ANSWERED = {CLI_CASES[k] for k in ("4096 characters", "markup around the question", "rtl marks and overrides")}
ANSWERED |= {CLI_CASES["presentation forms"], CLI_CASES["a url and the question"]}


def _check_json_line(line: str, question: str | None = None) -> dict:
    obj = json.loads(line)
    assert set(obj) == {"question", "answered", "confidence", "partial", "reply", "passages"}
    if question is not None:
        assert obj["question"] == question.strip()
    assert isinstance(obj["answered"], bool)
    assert isinstance(obj["reply"], str)
    assert PERSIAN.search(obj["reply"])
    for passage in obj["passages"]:
        assert set(passage) == {"text", "answer_phrase", "score", "article", "sentence"}
        phrase = passage["answer_phrase"]
        assert phrase is None or passage["text"][phrase["start"] : phrase["end"]] == phrase["text"]
        assert set(passage["article"]) == {"id", "title", "date"}
        assert math.isfinite(passage["score"])
    return obj


@pytest.mark.parametrize("question", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_hostile_question(question: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "--json", "--seeds", str(SEEDS), question])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Traceback" not in err
    [line] = out.splitlines()
    obj = _check_json_line(line, question)
    if question in ANSWERED:
        assert COMMANDER in obj["reply"]
    else:
        assert not obj["answered"]


def test_a_url_after_the_question_does_not_hide_the_answer(seed_index: Index) -> None:
    assert answer(seed_index, CLI_CASES["a url and the question"]).answered


STDIN_LINES = ["a\x00b", "\x00" * 10, f"\x00{QUESTION}", "\x1b[2J\x1b[H", "\ufeff" + QUESTION, "؟؟؟", ""]


def test_cli_reads_nul_and_controls_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(STDIN_LINES) + "\n"))
    code = main(["ask", "--json", "--seeds", str(SEEDS), "-"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Traceback" not in err
    objs = [_check_json_line(line, q) for line, q in zip(out.splitlines(), STDIN_LINES, strict=True)]
    assert [o["answered"] for o in objs] == [False, False, True, False, True, False, False]


def _run_pasokh(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PASOKH_COMMAND, *args],
        check=False,
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.slow
def test_console_script_answers_hostile_questions() -> None:
    """The real ``pasokh`` script, every hostile question a line on stdin (NUL included)."""
    lines = [*CLI_CASES.values(), *STDIN_LINES]
    result = _run_pasokh("ask", "--json", "-", stdin="\n".join(lines).encode() + b"\n")
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    out = result.stdout.decode("utf-8").splitlines()
    assert len(out) == len(lines)
    objs = [_check_json_line(line, question) for line, question in zip(out, lines, strict=True)]
    assert COMMANDER in objs[0]["reply"]  # the 4096-character question


def _strict_utf8(data: bytes = b"") -> io.TextIOWrapper:
    """A standard stream as a UTF-8 locale such as en_US.UTF-8 gives Python: strict, not surrogateescape."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict")


def test_cli_question_that_is_not_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _strict_utf8())
    assert main(["ask", "--json", "--seeds", str(SEEDS), "\udcff\udcfe سلام"]) == 0


def test_cli_stdin_that_is_not_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _strict_utf8())
    monkeypatch.setattr(sys, "stdin", _strict_utf8(b"\xff\xfe\n" + QUESTION.encode() + b"\n"))
    assert main(["ask", "--json", "--seeds", str(SEEDS), "-"]) == 0
