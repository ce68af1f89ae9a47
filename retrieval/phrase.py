"""The answer phrase: the one number or date in an answering sentence that a question asks for.

``asked_for(question)`` says what kind of phrase a question wants (a number: «چند»، «چقدر»، «چه مدت»; a
date: «چه سالی»، «در چه تاریخی»، «کدام قرن»), and ``answer_phrase(asked, sentence)`` finds it in a
displayed sentence: the span of the only candidate of that kind that the question does not already hold.
Two candidates or none mark nothing: a reader is better served by no mark than by a wrong one. A phrase
takes in what belongs to it: «حدود ۲۰۰ هزار نفر»، «بین ۱ تا ۱۸٪»، «اواخر سده ۱۲ ام»، «سال ۳۳۱ پ. م».

Only the kinds in ``ENABLED`` are marked: those whose marks held the gold answer at least 80% of the time
on the dev sets (``python -m benchmarks.phrases``). Persons and places are recognised in questions (so a
question asking for a date and a person marks nothing, and the benchmark can count them), but there is
nothing to find them with in sentences: hazm's tagger and named-entity models are downloads, and its
lexicon tags no proper nouns.

Not asked for, on purpose: «کی» (colloquial for both "when" and "who": on the dev sets it meant "who" as
often as "when") and «چه زمانی» (answered by an event as often as by a date: 31% of its marks were right).
"""

from __future__ import annotations

import bisect
import enum
import re
from collections.abc import Collection
from dataclasses import dataclass

import jdatetime

from retrieval import analysis
from retrieval.normalize import fold

__all__ = ["ENABLED", "Asked", "Kind", "answer_phrase", "asked_for", "question_kind"]


class Kind(enum.Enum):
    """What a question asks for."""

    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"


ENABLED = frozenset({Kind.NUMBER, Kind.DATE})
"""The kinds that are marked. On pquad_val and persianqa_test together (``python -m benchmarks.phrases``,
benchmarks/RESULTS.md «Answer phrase»), over the questions the bot answers: numbers 82.0% right (187 of
228 marks), dates 89.2% (405 of 454). Persons and places have no finder."""

# -- questions (over folded words, joined by single spaces) ----------------------------------------


def _asking(*forms: str) -> re.Pattern[str]:
    return re.compile(f"(?<= )(?:{'|'.join(forms)})(?= )")


# fmt: off
_ASKING = (
    (Kind.DATE, _asking(
        r"(?:چه|کدام|کدامین) (?:سال|سالی|سالهای|سالهایی|تاریخ|تاریخی|روز|روزی|ماه|ماهی|قرن|قرنی|سده|سدهای|دهه|دههای)",
    )),
    (Kind.PERSON, _asking(
        r"(?:چه|کدام) (?:کسی|کسانی|کس|شخصی|شخص|فردی|فرد|افرادی)", "کیست|کیستند|کیه|کیا|کیان",
        r"کی (?:بود|بودند|است|هست|هستند|بوده)", r"(?:توسط|برای|از|به|با) کی",
    )),
    (Kind.NUMBER, _asking(
        "چند|چقدر|چقد|چقدره|چنده|چندتا|چندتاست", r"چه (?:تعداد|مقدار|میزان|اندازه|قدر|مدت|درصد|سنی|سن)",
    )),
    (Kind.PLACE, _asking(
        "کجا|کجاست|کجای|کجاها|کجاس",
        r"(?:چه|کدام|کدامین) (?:شهر|شهری|شهرهایی|کشور|کشوری|کشورهایی|استان|استانی|منطقه|منطقهای|روستا|روستایی|"
        r"قاره|قارهای|مکان|مکانی|محل|محلی|جا|جایی)",
    )),
)
_OTHER_ASKING = _asking(
    "چه|چی|کدام|کدامین|کدوم|کجا|چرا|چگونه|چطور|چطوری|کی|چیست|چیه|کیست|چند|چقدر|ببرید|ببر|بنویسید|بنویس"
)
"""Asking for something else too: «پس از چند سال به چه سازی …» (there «چند» is "some"), «… و در کجا»."""
# fmt: on
_COUNTED = re.compile(r"(?<= )(?:چند|چه تعداد) (\S+)(?= )")
"""«چند نفر» → «نفر»: the word a number in the answer is often followed by, and marked with."""
_SCALES = frozenset(("هزار", "میلیون", "میلیارد", "بیلیون", "تریلیون", "درصد"))


def question_kind(question: str) -> Kind | None:
    """What ``question`` asks for: None when it is none of the kinds, or asks for more than one thing."""
    rest = f" {' '.join(analysis.words(question))} "
    kinds = set()
    for kind, pattern in _ASKING:
        rest, found = pattern.subn("", rest)
        if found:
            kinds.add(kind)
    return kinds.pop() if len(kinds) == 1 and not _OTHER_ASKING.search(rest) else None


@dataclass(frozen=True, slots=True)
class Asked:
    """What a question asks for, with what it already says (its answer is something else)."""

    kind: Kind
    question: str
    """The question's folded words, number words as digits («سه» → «3»), joined by single spaces."""
    numbers: frozenset[str]
    """The numbers the question holds, as ASCII digits."""
    counted: str | None
    """The word after «چند» («چند نفر» → «نفر»), folded."""


def asked_for(question: str, kinds: Collection[Kind] = ENABLED) -> Asked | None:
    """What ``question`` asks for, when that is one of ``kinds``; else None (nothing will be marked)."""
    kind = question_kind(question)
    if kind is None or kind not in kinds:
        return None
    ws = [analysis.NUMBER_DIGITS.get(w, w) for w in analysis.words(question)]
    spaced = " ".join(ws)
    counted = _COUNTED.search(f" {spaced} ")
    word = counted.group(1) if counted else None
    if word is not None and (word in _SCALES or word in analysis.QUESTION_WORDS or analysis.is_stopword(word)):
        word = None
    return Asked(kind, spaced, frozenset(w for w in ws if w.isdigit()), word)


# -- sentences (displayed text: Persian letters, digits of any script) -----------------------------

_D = "[0-9۰-۹٠-٩]"
_BEFORE = r"(?<![\w\u200c])"
_AFTER = r"(?![\w\u200c])"


def _words(*words: str) -> str:
    """Any of ``words``, whole, longest first; a ZWNJ in one may also be a space, or left out."""
    spelled = (re.escape(w).replace("\u200c", "[\u200c ]?") for w in sorted(words, key=len, reverse=True))
    return rf"{_BEFORE}(?:{'|'.join(spelled)}){_AFTER}"


# fmt: off
_SCALE = _words("هزار", "میلیون", "میلیارد", "بیلیون", "تریلیون")
_NAME = _words(*(w for w in analysis.NUMBER_DIGITS if w != "یک"))
"""Number words; «یک» alone is mostly "a", and «نه» "no" (``analysis`` leaves it out)."""
_RUN = rf"{_D}+(?:[٫٬,./]{_D}+)*"
_DIGITS = rf"(?<![\w\u200c٫٬,./-])(?<!- ){_RUN}"
"""Digits, not the end of a model name («ایکس-۱۵»، «اف- ۱»)."""
_NUMERAL = rf"(?:{_DIGITS}|{_NAME}(?: و (?:{_NAME}|{_words('یک')}))*|{_words('یک')}(?= {_SCALE}))"
_PERCENT = rf"(?: ?(?:[٪%]|{_words('درصد')}))?"
_AMOUNT = rf"{_NUMERAL}(?: {_SCALE})*(?: و {_NUMERAL}(?: {_SCALE})*)*{_PERCENT}"
_ABOUT = _words(
    "بیش از", "بیشتر از", "کمتر از", "کم‌تر از", "حدود", "در حدود", "حدوداً", "حدودا", "نزدیک به", "نزدیک",
    "تقریباً", "تقریبا", "به تقریب", "قریب به", "بالغ بر", "متجاوز از", "دست‌کم", "حداقل", "حداکثر", "بین", "فقط",
)
_UNIT = _words(
    "نفر", "تن", "عدد", "بار", "برابر", "مرتبه", "نوع", "گونه", "مورد", "جلد", "نسخه", "دستگاه", "قسمت",
    "سال", "ساله", "سالگی", "ماه", "ماهه", "هفته", "روز", "روزه", "ساعت", "دقیقه", "ثانیه", "قرن", "دهه",
    "دلار", "یورو", "تومان", "ریال", "پوند", "فرانک", "روبل", "ین", "درهم", "دینار", "لیره",
    "متر", "کیلومتر", "سانتی‌متر", "میلی‌متر", "مایل", "هکتار", "کیلوگرم", "گرم", "کیلو", "لیتر", "درجه",
    "وات", "کیلووات", "مگاوات", "ولت", "ریشتر", "فوت", "اینچ",
)
_PER = _words("مربع", "مکعب", "بر ثانیه", "بر ساعت", "در ساعت", "در سال")
_ORDINAL = rf"(?:{_words('بیست', 'سی')} و )?" + _words(
    "اول", "یکم", "دوم", "سوم", "چهارم", "پنجم", "ششم", "هفتم", "هشتم", "نهم", "دهم", "یازدهم", "دوازدهم",
    "سیزدهم", "چهاردهم", "پانزدهم", "شانزدهم", "هفدهم", "هجدهم", "هیجدهم", "نوزدهم", "بیستم", "سی‌ام",
)
_MONTH_NAMES = (
    *jdatetime.date.j_months_fa, "امرداد",  # Jalali: jdatetime's names, and Mordad's older spelling
    "ژانویه", "ژانویهٔ", "فوریه", "فوریهٔ", "مارس", "آوریل", "آپریل", "مه", "مهٔ", "می", "ژوئن", "جون", "ژوئیه",
    "ژوئیهٔ", "جولای", "اوت", "آگوست", "سپتامبر", "اکتبر", "نوامبر", "دسامبر",  # Gregorian
    "محرم", "صفر", "ربیع‌الاول", "ربیع‌الثانی", "ربیع‌الآخر", "جمادی‌الاول", "جمادی‌الاولی", "جمادی‌الثانی",
    "جمادی‌الآخر", "رجب", "شعبان", "رمضان", "شوال", "ذی‌القعده", "ذیقعده", "ذی‌الحجه", "ذیحجه",  # Hijri
)
_MONTH = _words(*_MONTH_NAMES, *(f"{m}\u200cماه" for m in _MONTH_NAMES))
_SEASON = _words("بهار", "تابستان", "پاییز", "پائیز", "زمستان")
_WEEKDAY = _words("شنبه", "یکشنبه", "یک‌شنبه", "دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "پنج‌شنبه", "جمعه")
_ERA = (
    r" ?\(?(?:"
    + _words("میلادی", "هجری شمسی", "هجری قمری", "هجری خورشیدی", "هجری", "خورشیدی", "شمسی", "قمری",
             "پیش از میلاد", "قبل از میلاد", "پس از میلاد", "بعد از میلاد")
    + r"|(?<![\w\u200c])(?:ه\u200d?|هـ)\.? ?[قش]\.?(?![\w\u200c])|(?<![\w\u200c])[پق]\. ?م\.?|(?<![\w\u200c])م\.)\)?"
)
"""A calendar after a year: «میلادی»، «هجری قمری»، «ه‍. ق»، «پ. م»، «(پیش از میلاد)»."""
_WHEN = _words(
    "اوایل", "اوائل", "اواسط", "اواخر", "ابتدای", "آغاز", "پایان", "انتهای", "میانه", "میانهٔ", "نیمهٔ اول",
    "نیمهٔ دوم", "نیمهٔ نخست", "نیمه اول", "نیمه دوم", "پس از", "بعد از", "پیش از", "قبل از",
)
_IN_YEAR = _words("سال", "سالِ", "سال‌های", "سال‌ها")
_CENTURY = _words("قرن", "قرون", "قرن‌های", "سده", "سدهٔ", "سده‌ی", "سده‌های")
_DECADE = _words("دهه", "دههٔ", "دهه‌ی", "دهه‌های")
# fmt: on
_DAY = rf"(?:{_BEFORE}{_D}{{1,2}}(?!{_D})|{_ORDINAL})"
_YEAR = rf"{_BEFORE}{_D}{{1,4}}(?![\d٫٬,./])"
_YEARS = rf"{_YEAR}(?: ?[-–] ?{_D}{{1,4}}(?!{_D})| (?:تا|و) (?:{_IN_YEAR} )?{_YEAR})?(?:{_ERA})?"
_FOUR_DIGIT_YEAR = rf"{_BEFORE}(?:[1۱١]{_D}{{3}}|[2۲٢][0۰٠]{_D}{{2}})(?![\d٫٬,./])"
_CENTURY_NUMBER = rf"(?:{_BEFORE}{_D}{{1,2}}(?:[\u200c ]?ا?م)?{_AFTER}|{_ORDINAL})"
_DATE = re.compile(
    rf"(?:{_WHEN} )?(?:"
    + "|".join(
        (
            rf"{_BEFORE}{_D}{{1,4}}([/-]){_D}{{1,2}}\1{_D}{{1,4}}(?!{_D})",  # ۱۳۸۵/۰۲/۱۵
            rf"(?:{_WEEKDAY} ?)?(?:{_words('روز')} )?{_DAY} (?:(?:تا|و|-|–) {_DAY} )?{_MONTH}"
            rf"(?: (?:{_IN_YEAR} )?{_YEARS})?",  # چهارشنبه ۱۵ شهریور ۱۳۹۶
            rf"(?:{_MONTH}|{_SEASON}) (?:{_IN_YEAR} )?{_YEARS}",  # سپتامبر ۱۹۸۰، بهار ۱۳۵۸
            rf"{_DECADE} (?:{_D}{{2,4}}(?!{_D})|{_NAME})(?:{_ERA})?",  # دهه ۱۳۵۰، دهه هفتاد میلادی
            rf"{_CENTURY} {_CENTURY_NUMBER}(?: (?:و|تا) {_CENTURY_NUMBER})?(?:{_ERA})?",  # قرن نوزدهم میلادی
            rf"{_IN_YEAR} {_YEARS}",  # سال ۲۸۲
            rf"{_YEAR}(?: ?[-–] ?{_D}{{1,4}}(?!{_D}))?{_ERA}",  # ۱۰۱۵ هجری
            rf"{_FOUR_DIGIT_YEAR} ?[-–] ?{_FOUR_DIGIT_YEAR}",  # ۱۲۶۴–۱۳۱۳
        )
    )
    + rf")|{_WHEN} {_MONTH}"  # اواخر مهرماه
)
"""What can only be a date or a time of history: with a month, a season, a decade, a century, «سال» or an
era, after «اوایل»، «پس از» … when written."""
_BARE_YEAR = re.compile(
    rf"(?:{_WHEN} )?{_FOUR_DIGIT_YEAR}(?: ?[-–] ?{_D}{{1,4}}(?!{_D}))?"
    rf"(?! (?:{_SCALE}|{_UNIT}|{_words('درصد')}))"
)
"""Four digits that could be a year (1000–2099), unless they count something («۱۵۰۰ نفر»)."""
_QUANTITY = re.compile(
    rf"(?:{_ABOUT} )?{_AMOUNT}(?: ?[-–] ?{_RUN}{_PERCENT}| (?:تا|الی) {_AMOUNT})?"
    rf"(?: {_UNIT}(?: {_PER})?)?(?: و (?:{_AMOUNT} {_UNIT}|{_words('نیم')}))*"
)
"""An amount («۱٫۵»، «۲۰,۰۰۰»، «بیست و پنج»، «دو میلیون»، «۱۰٪») with its unit («دلار»، «سال»), a range
(«۹ تا ۱۳ سال») and what it is about («حدود»، «بیش از»)."""
_ONE = re.compile(_words("یک", "نه"))
"""«یک» and «نه» count only what the question counts («یک ایزوتوپ»)."""
_NEXT_WORD = re.compile(r" ((?:[^\W\d_]|\u200c)+)")


def _candidates(asked: Asked, sentence: str) -> list[tuple[int, int]]:
    """The (start, end) spans in ``sentence`` of the phrases of ``asked.kind`` the question does not hold."""
    dates = [m.span() for m in _DATE.finditer(sentence)]
    if asked.kind is Kind.DATE:
        spans = sorted(dates + _outside([m.span() for m in _BARE_YEAR.finditer(sentence)], dates))
    elif asked.kind is Kind.NUMBER:
        spans = [_with_counted(m.span(), sentence, asked) for m in _QUANTITY.finditer(sentence)]
        spans += [s for m in _ONE.finditer(sentence) if (s := _with_counted(m.span(), sentence, asked)) != m.span()]
        spans = _outside(sorted(spans), dates)
    else:
        return []
    return [s for s in spans if not _echoed(sentence[s[0] : s[1]], asked)]


def answer_phrase(asked: Asked | None, sentence: str) -> tuple[int, int] | None:
    """The (start, end) span of the answer phrase in ``sentence``: the only candidate of the kind asked."""
    if asked is None:
        return None
    found = _candidates(asked, sentence)
    return found[0] if len(found) == 1 else None


def _with_counted(span: tuple[int, int], sentence: str, asked: Asked) -> tuple[int, int]:
    """``span`` with the word after it when that is what the question counts («۱۲ نفر» for «چند نفر»)."""
    following = _NEXT_WORD.match(sentence, span[1])
    if asked.counted and following and analysis.stems([fold(following.group(1))]) == analysis.stems([asked.counted]):
        return span[0], following.end()
    return span


def _outside(spans: list[tuple[int, int]], others: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``spans`` that overlap none of ``others`` (in order, not overlapping: found by one regex)."""
    ends = [end for _, end in others]
    kept = []
    for start, end in spans:
        after = bisect.bisect_right(ends, start)  # the first of the others that ends after this starts
        if after == len(others) or others[after][0] >= end:
            kept.append((start, end))
    return kept


def _echoed(phrase: str, asked: Asked) -> bool:
    """Whether the question already holds ``phrase``: word for word (numbers as digits), or, for a date,
    every number of it («سال ۱۳۵۷» when it asks about «انقلاب ۱۳۵۷»)."""
    ws = [analysis.NUMBER_DIGITS.get(w, w) for w in analysis.words(phrase)]
    numbers = frozenset(w for w in ws if w.isdigit())
    return f" {' '.join(ws)} " in f" {asked.question} " or (
        asked.kind is Kind.DATE and bool(numbers) and numbers <= asked.numbers
    )
