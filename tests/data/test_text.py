"""One form for raw and PTB-tokenised text, and the line filter that keeps eval text out of training."""

from __future__ import annotations

import pytest

from distill_zoo.data.text import drop_lines_containing, normalise_for_overlap

# (PTB-tokenised as in SST-2, as written in the movie-review corpus)
SAME = [
    ("you wo n't like roger , but you will", "You won't like Roger, but you will"),
    ("what the director ca n't do", "What the director can't do"),
    ("you do n't have to know", "You don't have to know"),
    ("it ai n't pretty", "it ain't pretty"),
    ("the film 's easygoing blend", "the film's easygoing blend"),
    (
        "they 're here , we 've been , i 'd go , i 'm in , you 'll see",
        "They're here, we've been, I'd go, I'm in, you'll see",
    ),
    ("( d ) oes n't bother", "(D)oesn't bother"),
    ("-LRB- næs -RRB- directed the stage version", "(Næs) directed the stage version"),
    ("the subtle strength of `` elling '' is", 'The subtle strength of "Elling" is'),
    ("the subtle strength of `` elling '' is", "The subtle strength of ``Elling'' is"),
    ("steven soderbergh 's ` solaris ' is", "Steven Soderbergh's \u2018Solaris\u2019 is"),
    ("it can not be enjoyed", "It cannot be enjoyed"),
    ("i 'm gon na go", "I'm gonna go"),
    ("a mystery/thriller , a romance", "a mystery/thriller, a romance"),
    ("as she was in amélie .", "as she was in Amelie."),
    ("the   acting ,\tcostumes", "The acting, costumes"),
]


@pytest.mark.parametrize(("tokenised", "raw"), SAME)
def test_ptb_tokenised_and_raw_text_share_one_form(tokenised, raw):
    assert normalise_for_overlap(tokenised) == normalise_for_overlap(raw)


@pytest.mark.parametrize(("a", "b"), [("it 's art", "it's heart"), ("do n't go", "do go"), ("can not", "can")])
def test_different_words_keep_different_forms(a, b):
    assert normalise_for_overlap(a) != normalise_for_overlap(b)


def test_a_line_is_dropped_when_it_holds_a_sentence_as_whole_words():
    lines = ["You won't like Roger, but you will quickly recognize him. And that's that.", "A heartfelt film."]
    kept = drop_lines_containing(lines, ["you wo n't like roger , but you will quickly recognize him .", "art"])
    assert kept == ["A heartfelt film."], "'art' is no word of 'heartfelt'"
    assert drop_lines_containing(lines, ["", " , "]) == lines, "a sentence without words drops nothing"
