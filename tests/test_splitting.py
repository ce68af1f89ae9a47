"""Sentence splitting in linear time (issue 13 §6)."""

from __future__ import annotations

import hazm
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.normalize import sentence_tokenizer

# -- hazm's sentence ends, found in linear time -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=".!?؟⸮ \n«»ع a", max_size=60))
def test_sentence_ends_are_hazms(text: str) -> None:
    assert sentence_tokenizer().tokenize(text) == hazm.SentenceTokenizer().tokenize(text)
