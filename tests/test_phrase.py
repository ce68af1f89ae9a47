"""The answer phrase (``retrieval.phrase``): which questions ask for one, and which span of a sentence it is."""

from __future__ import annotations

import pytest

from retrieval.phrase import Kind, answer_phrase, asked_for, question_kind


def _phrase(question: str, sentence: str) -> str | None:
    span = answer_phrase(asked_for(question, kinds=tuple(Kind)), sentence)
    return None if span is None else sentence[span[0] : span[1]]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("این شرکت در چه سالی تأسیس شد؟", Kind.DATE),
        ("انقلاب در چه تاریخی پیروز شد؟", Kind.DATE),
        ("قلعه در کدام قرن ساخته شد؟", Kind.DATE),
        ("جنگ چند سال طول کشید؟", Kind.NUMBER),  # how many years: a number, not a date
        ("قیمت سکه چقدر است؟", Kind.NUMBER),
        ("چه تعداد کارمند دارد؟", Kind.NUMBER),
        ("فرمانده انتظامی لرستان کیست؟", Kind.PERSON),
        ("کتاب را چه کسی نوشت؟", Kind.PERSON),
        ("شرکت در کدام شهر است؟", Kind.PLACE),
        ("پایتخت فرانسه کجاست؟", Kind.PLACE),
        ("بسیج یعنی چه؟", None),
        ("", None),
        ("والیبال کی ساخته شد؟", None),  # «کی» is "when" as often as "who"
        ("چه زمانی به اروپا رفت؟", None),  # answered by an event as often as by a date
        ("در چه سالی و در کجا تأسیس شد؟", None),  # two things asked
        ("پس از چند سال به چه سازی علاقه‌مند شد؟", None),  # «چند» is "some" here
        ("چند شهر بزرگ ایران را نام ببرید", None),  # a list, not a number
    ],
)
def test_what_a_question_asks_for(question: str, kind: Kind | None) -> None:
    assert question_kind(question) is kind


@pytest.mark.parametrize(
    ("question", "sentence", "phrase"),
    [
        # The example: the one year of the sentence, with its «سال».
        ("این شرکت در چه سالی تأسیس شد؟", "شرکت در سال ۱۳۸۵ تأسیس شد.", "سال ۱۳۸۵"),
        ("این شرکت در چه سالی تأسیس شد؟", "شرکت در ۱۳۸۵ تأسیس شد.", "۱۳۸۵"),
        ("شرکت در چه سالی تأسیس شد؟", "شرکت در سال 2018 تأسیس شد.", "سال 2018"),  # ASCII digits
        ("شرکت در چه سالی تأسیس شد؟", "شرکت در سال ٢٠١٨ تأسیس شد.", "سال ٢٠١٨"),  # Arabic-Indic digits
        ("انقلاب در چه تاریخی پیروز شد؟", "انقلاب در ۲۲ بهمن ۱۳۵۷ پیروز شد.", "۲۲ بهمن ۱۳۵۷"),
        ("سریال در چه تاریخی پخش شد؟", "سریال در ۱۷ ژوئن ۲۰۰۸ پخش شد.", "۱۷ ژوئن ۲۰۰۸"),
        ("شهر در چه سالی بنا شد؟", "شهر در ۱۰۱۵ هجری خورشیدی بنا شد.", "۱۰۱۵ هجری خورشیدی"),
        ("نینوا در چه سالی ویران شد؟", "نینوا در سال ۶۱۲ پ. م ویران شد.", "سال ۶۱۲ پ. م"),
        ("قلعه در کدام قرن ساخته شد؟", "قلعه در اواخر قرن نوزدهم میلادی ساخته شد.", "اواخر قرن نوزدهم میلادی"),
        ("این سبک در کدام دهه رایج شد؟", "این سبک در دهه ۱۳۵۰ رایج شد.", "دهه ۱۳۵۰"),
        # Numbers take their unit, their range and what they are about.
        ("این شرکت چند کارمند دارد؟", "این شرکت ۱۲۰ کارمند دارد.", "۱۲۰ کارمند"),
        ("جنگ چند سال طول کشید؟", "جنگ نزدیک به هشت سال طول کشید.", "نزدیک به هشت سال"),
        ("تلفات چند نفر بود؟", "تلفات بیش از چهل هزار نفر بود.", "بیش از چهل هزار نفر"),
        ("شیوع آسم چقدر است؟", "شیوع آسم بین ۱ تا ۱۸٪ است.", "بین ۱ تا ۱۸٪"),
        ("فیلم چقدر فروخت؟", "فیلم ۱۱۳ میلیون دلار فروخت.", "۱۱۳ میلیون دلار"),
        ("وزن توپ چند گرم است؟", "وزن توپ ۴۷۵ گرم است.", "۴۷۵ گرم"),
        ("نمودار چند بار پخش شد؟", "این برنامه سه بار پخش شد.", "سه بار"),
        ("آلومینیوم چند ایزوتوپ پایدار دارد؟", "آلومینیوم یک ایزوتوپ پایدار دارد.", "یک ایزوتوپ"),  # «یک» when counted
        ("این شرکت چند کارمند دارد؟", "این شرکت یک کارخانه و ۱۲۰ کارمند دارد.", "۱۲۰ کارمند"),  # «یک» as "a"
        ("رکورد سرعت چقدر است؟", "رکورد سرعت ایکس-۱۵ برابر ۷۲۷۴ کیلومتر بر ساعت است.", "۷۲۷۴ کیلومتر بر ساعت"),
        # What the question already holds is not the answer.
        ("در سال ۱۳۸۵ چند نفر استخدام شدند؟", "در سال ۱۳۸۵ بیش از ۲۰۰ نفر استخدام شدند.", "بیش از ۲۰۰ نفر"),
        ("بازی‌های المپیک 2016 در چه تاریخی برگزار شد؟", "المپیک ۲۰۱۶ در ۵ تا ۲۱ اوت برگزار شد.", "۵ تا ۲۱ اوت"),
        # A number that counts is no year; a date is no count.
        ("شرکت در چه سالی تأسیس شد؟", "شرکت با ۱۵۰۰ نفر در سال ۱۳۸۵ تأسیس شد.", "سال ۱۳۸۵"),
        ("شرکت چند کارمند دارد؟", "شرکت از سال ۱۳۸۵ تا امروز ۱۲۰ کارمند دارد.", "۱۲۰ کارمند"),
        # Two candidates, or none: nothing is marked.
        ("این شرکت در چه سالی تأسیس شد؟", "شرکت در سال ۱۳۸۵ تأسیس شد و در سال ۱۳۹۰ گسترش یافت.", None),
        ("تهران چند منطقه دارد؟", "تهران ۲۲ منطقه و ۱۲۲ ناحیه دارد.", None),
        ("این شرکت در چه سالی تأسیس شد؟", "شرکت را دو برادر تأسیس کردند.", None),
        ("این شرکت چند کارمند دارد؟", "این شرکت کارمندان زیادی دارد.", None),
        ("", "شرکت در سال ۱۳۸۵ تأسیس شد.", None),
        ("این شرکت در چه سالی تأسیس شد؟", "", None),
        # A kind with no finder, or no kind: nothing.
        ("مدیر شرکت کیست؟", "مدیر شرکت از سال ۱۳۸۵ علی رضایی است.", None),
        ("شرکت در کدام شهر است؟", "شرکت در شهر تهران است.", None),
        ("شرکت چگونه تأسیس شد؟", "شرکت در سال ۱۳۸۵ با وام تأسیس شد.", None),
    ],
)
def test_the_answer_phrase_is_the_one_candidate_of_the_kind_asked(
    question: str, sentence: str, phrase: str | None
) -> None:
    assert _phrase(question, sentence) == phrase


def test_a_kind_not_enabled_is_not_asked_for() -> None:
    assert asked_for("مدیر شرکت کیست؟") is None
    assert asked_for("مدیر شرکت کیست؟", kinds=tuple(Kind)) is not None
    assert asked_for("شرکت در چه سالی تأسیس شد؟", kinds=()) is None
    assert answer_phrase(None, "شرکت در سال ۱۳۸۵ تأسیس شد.") is None
