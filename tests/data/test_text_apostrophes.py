"""An apostrophe inside a word joins it (``won't`` is one word, ``wont``), so the leakage
filter never matches a sentence against the bare stem before the apostrophe."""

from __future__ import annotations

from distill_zoo.data.text import drop_lines_containing, normalise_for_overlap


def test_an_apostrophe_inside_a_word_is_removed_not_a_word_break():
    assert normalise_for_overlap("You won't like Roger") == "you wont like roger"
    assert normalise_for_overlap("you wo n't like roger") == "you wont like roger"
    assert normalise_for_overlap("It's the cat's toy") == "its the cats toy"


def test_a_sentence_does_not_match_the_stem_of_a_contracted_word():
    lines = ["I won't go there.", "It's the cat's toy.", "I won the race."]
    # "i won" is in the third line only; "s toy" and "t go" are in none as whole words.
    assert drop_lines_containing(lines, ["I won", "s toy", "t go"]) == lines[:2]
