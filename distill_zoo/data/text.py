"""Text helpers shared by the data modules: reading a user's file, matching text across tokenisations.

``Path.read_text`` raises a bare ``UnicodeDecodeError`` that names neither the file nor
the line; a data file saved as Latin-1 or Windows-1252 is a common slip, so say where.

Eval sets such as SST-2 hold sentences in Penn-Treebank-style tokenisation (``wo n't``,
``it 's``, ``-LRB-``, ````` `` `````), lowercased, while raw corpora hold the same sentence
as written (``won't``, ``it's``, ``(``, ``"``). :func:`normalise_for_overlap` maps both to
one form so that a leakage filter (:func:`drop_lines_containing`) finds one inside the other.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from distill_zoo.errors import DataError

#: PTB escapes of brackets; they carry no words, so they become spaces.
_PTB_BRACKETS = re.compile(r"-(?:lrb|rrb|lsb|rsb|lcb|rcb)-")
#: Clitics PTB splits off the word before (``do n't``, ``it 's``, ``we 're``): joined back.
_CLITIC = re.compile(r"(\w)\s+(n't|'(?:s|re|ve|ll|d|m)\b)")
#: Words PTB cuts in two (``can not`` for ``cannot``, ``gon na`` for ``gonna``): joined back.
_SPLIT_WORDS = re.compile(r"\b(can) (not)\b|\b(gon|wan) (na)\b|\b(got) (ta)\b|\b(gim|lem) (me)\b")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def read_utf8(path: Path) -> str:
    """The text of ``path``, decoded as UTF-8; a leading byte-order mark is dropped.

    Raises:
        DataError: naming the file, the line and the byte offset of the first byte that
            is not UTF-8.
    """
    data = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skip + err.start
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : skip + err.end]
        raise DataError(
            f"{path}, line {line}: byte {bad!r} at offset {offset} is not valid UTF-8; "
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def normalise_for_overlap(text: str) -> str:
    """The words of ``text`` in one form for raw and PTB-tokenised text alike, space-separated.

    Why: a leakage filter must see that SST-2's ``you wo n't like roger`` is the corpus's
    ``You won't like Roger``. Steps: Unicode compatibility form without accents, case
    folded; PTB bracket escapes (``-LRB-``) dropped; split clitics (``n't``, ``'s``, ``'re``,
    ``'ve``, ``'ll``, ``'d``, ``'m``) and split words (``can not``, ``gon na``, ``got ta``,
    ``wan na``, ``gim me``, ``lem me``) joined to their word; apostrophes removed inside
    words (``won't`` -> ``wont``); every other non-word character (quotes of any style,
    brackets, punctuation and the spaces PTB puts before it, hyphens) is a word break.
    Raw ``can not`` maps to ``cannot`` as well: the form may merge a few raw spellings,
    which only makes a leakage filter stricter.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().translate(_APOSTROPHES)
    text = _PTB_BRACKETS.sub(" ", text)
    text = _CLITIC.sub(r"\1\2", text)
    text = _SPLIT_WORDS.sub(lambda m: "".join(g for g in m.groups() if g), text)
    return " ".join(re.findall(r"\w+", text.replace("'", "")))


def drop_lines_containing(lines: Iterable[str], sentences: Iterable[str]) -> list[str]:
    """``lines`` without those that hold any of ``sentences``, compared by
    :func:`normalise_for_overlap` as whole words (``art`` is not in ``heart``); order kept.

    A line is dropped when a sentence's normalised words occur, in order and adjacent,
    inside the line's normalised words (an eval sentence is often one clause of a corpus
    line). Sentences with no words are ignored.
    """
    lines = list(lines)
    return [line for line, holds in zip(lines, lines_holding(lines, sentences)) if not holds]


def lines_holding(lines: Iterable[str], sentences: Iterable[str]) -> list[bool]:
    """For each of ``lines``, whether it holds one of ``sentences`` (the test of
    :func:`drop_lines_containing`)."""
    by_first: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for sentence in sentences:
        words = tuple(normalise_for_overlap(sentence).split())
        if words:
            by_first[words[0]].add(words)
    return [_holds_any(normalise_for_overlap(line).split(), by_first) for line in lines]


def _holds_any(words: list[str], by_first: dict[str, set[tuple[str, ...]]]) -> bool:
    """Whether any needle (indexed by its first word) occurs as a run of ``words``."""
    for i, word in enumerate(words):
        for needle in by_first.get(word, ()):
            if tuple(words[i : i + len(needle)]) == needle:
                return True
    return False
