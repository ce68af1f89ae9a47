"""Questions readers would ask about the bundled seed article, and the sentence that answers each.

Sentence numbers are positions in the article (0 is the lead). Phrasings vary the way people type:
with and without ZWNJ, Arabic ي/ك, the hamza mark «ٔ», diacritics, colloquial question words.
"""

SEED_ARTICLE = "000_9ca2ac7c38fe4584"
"""The bundled seed article's id (its file is ``seeds/000_9ca2ac7c38fe4584.txt``)."""

QUESTION = "فرمانده انتظامی استان لرستان کیست؟"
"""The question the README shows; the answer names ``COMMANDER``."""
COMMANDER = "محمدرضا هاشمیفر"
"""As the seed article writes it (without a ZWNJ)."""

PRIORITY = "اولویت مهم انتظامی لرستان چیست؟"
"""A question answered by a sentence in the middle of the article (both neighbours shown)."""
PRIORITY_ANSWER = "مقابله قاطع با سوداگران مرگ"

ANSWERABLE: list[tuple[str, int]] = [
    ("سردار جمشیدی‌پور که بود؟", 7),
    ("سردار جمشیدی پور", 7),
    ("بسیج از چه عناصری تشکیل شده است؟", 2),
    ("بسيج متشكل از چه عناصري است؟", 2),
    ("رهبر معظم انقلاب درباره بسیج چه فرموده‌اند؟", 2),
    ("اولویت مهم انتظامی لرستان چیست؟", 6),
    ("مقابله با سوداگران مرگ", 6),
    ("بسیج یعنی چه؟", 11),
    ("بَسیج یَعنی چِه؟", 11),
    ("دیدار به چه مناسبتی انجام شد؟", 0),
    ("فرمانده انتظامی بر ضرورت چه چیزی تأکید کرد؟", 0),
    ("هم‌افزایی میان سپاه و فراجا", 0),
    ("همافزایی سپاه و فراجا", 0),
    ("امنیت پایدار لرستان حاصل چیست؟", 3),
    ("چه چیزی زحمات نیروهای عملیاتی را خنثی می‌کند؟", 9),
    ("در دورترین نقاط چه کسانی در کنار ما بودند؟", 10),
    ("سرمایه بزرگ امنیت استان چیست؟", 10),
    ("خون شهدا چه می‌کند؟", 4),
    ("مجموعهٔ انتظامی در حوزه‌های اجتماعی چه می‌کند؟", 5),
    ("مجموعه انتظامی تو حوزه های اجتماعی چیکار میکنه؟", 5),
    ("با همکاری چه کسانی در شهرستان‌ها وارد عمل شدند؟", 8),
    ("تسلیت ایام فاطمیه", 1),
]

# Questions whose answer lies in a neighbour of the best sentence: the reply (which shows the
# neighbours) must hold the answer, as shown («نعمتالله» gets back its ZWNJ: the lexicon knows «نعمت‌الله»).
IN_REPLY: list[tuple[str, str]] = [
    # The lead restates the question and ranks first; the next sentence, which names him, is shown with it.
    (QUESTION, COMMANDER),
    ("فرمانده انتظامی لرستان کیه؟", COMMANDER),
    ("نام فرمانده سپاه حضرت ابوالفضل چیست؟", "نعمت\u200cالله باقری"),
    ("فرمانده سپاه حضرت ابوالفضل (ع) چه کسی است", "نعمت\u200cالله باقری"),
    ("آخرین شهید مقابله با سوداگران مرگ چه کسی بود؟", "جمشیدیپور"),
]

# Ranked first but refused by the no-answer model: «خبر» and «داد» are not in the article, and
# common words missing still count against the passage (the threshold of ``retrieval.second``).
RANKED_BUT_REFUSED: list[tuple[str, int]] = [
    ("کدام خبرگزاری این خبر را گزارش داد؟", 1),
]

# Messages that must get no answer: small talk, no content words, topics the article does not cover.
UNANSWERABLE: list[str] = [
    "سلام",
    "سلام، خسته نباشید",
    "؟؟؟",
    "چه کسی است؟",
    "😀👍",
    "قیمت دلار امروز چند است؟",
    "نتیجه بازی پرسپولیس و استقلال چه شد؟",
    "پایتخت فرانسه کجاست؟",
    "بهترین گوشی موبایل سال ۲۰۲۴ کدام است؟",
    "hello world",
]
