"""``data=demo``: a small English sentiment set this project writes itself.

Sentences are composed from the phrase lists below (written for distill_zoo) by a
seeded generator, so the set is identical everywhere and needs no download. It has
plain, negated and contrastive sentences so that a model must read more than one
keyword. Labels: 1 positive, 0 negative. Written as ``<dir>/glue/demo/{train,dev}.tsv``
in SST-2's layout, then read like any local GLUE task.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

SUBJECTS = [
    "the film",
    "this movie",
    "the plot",
    "the acting",
    "the soundtrack",
    "the dialogue",
    "the ending",
    "the cast",
    "the pacing",
    "the camera work",
    "the story",
    "the script",
    "the lead performance",
    "the final act",
    "the opening scene",
    "the humour",
    "the sequel",
    "the documentary",
    "the animation",
    "the score",
    "the villain",
    "the screenplay",
]
POSITIVE = [
    "wonderful",
    "moving",
    "brilliant",
    "gripping",
    "charming",
    "delightful",
    "sharp",
    "beautifully made",
    "genuinely funny",
    "thoughtful",
    "tender",
    "superb",
    "inventive",
    "a real pleasure",
    "warm and clever",
    "full of life",
    "honest and touching",
    "stunning",
    # Only in dev: the model must rely on what pre-training taught it about these words.
    "magnificent",
    "heartfelt",
    "witty",
    "a triumph",
    "luminous",
    "exhilarating",
]
NEGATIVE = [
    "dull",
    "tedious",
    "clumsy",
    "lifeless",
    "predictable",
    "a mess",
    "painfully slow",
    "forgettable",
    "shallow",
    "boring",
    "poorly written",
    "a chore to sit through",
    "flat",
    "irritating",
    "hollow",
    "overlong and empty",
    "badly acted",
    "a waste of time",
    # Only in dev.
    "dreadful",
    "insufferable",
    "a disaster",
    "muddled",
    "grating",
    "pointless",
]
#: Phrases at or after this index of POSITIVE / NEGATIVE appear in dev only.
HELD_OUT_FROM = 18
#: Bumped whenever the generator changes, so stale copies on disk are rewritten.
DEMO_VERSION = "2"
OPENERS = ["", "honestly, ", "to be fair, ", "frankly, ", "in the end, ", "sadly, ", "happily, "]
POS_VERBS = ["loved", "enjoyed", "adored", "admired", "would happily rewatch"]
NEG_VERBS = ["hated", "regretted watching", "could not stand", "was bored by", "disliked"]


def _sentence(rng: random.Random, label: int, positive: list[str], negative: list[str]) -> str:
    good, bad = rng.choice(positive), rng.choice(negative)
    subject, other = rng.sample(SUBJECTS, 2)
    template = rng.randrange(6)
    if template == 0:
        core = f"{subject} is {good if label else bad}"
    elif template == 1:
        core = f"{subject} is not {bad if label else good} at all"
    elif template == 2:
        core = f"i {rng.choice(POS_VERBS) if label else rng.choice(NEG_VERBS)} {subject}"
    elif template == 3:
        first, second = (bad, good) if label else (good, bad)
        core = f"although {other} is {first}, {subject} is {second} and that is what stays with you"
    elif template == 4:
        core = f"{subject} is far from {bad if label else good}"
    else:
        core = (
            f"{subject} is {good if label else bad}, and {other} is {rng.choice(positive if label else negative)} too"
        )
    return (rng.choice(OPENERS) + core + rng.choice([" .", " !", " ."])).strip()


def demo_examples(
    num_examples: int, seed: int, held_out: bool = False, exclude: set[str] | None = None
) -> list[tuple[str, int]]:
    """``num_examples`` distinct, balanced (sentence, label) pairs, none of them in ``exclude``.

    With ``held_out`` the phrases reserved for dev are used as well; otherwise they never are.
    """
    rng = random.Random(seed)
    end = None if held_out else HELD_OUT_FROM
    positive, negative = POSITIVE[:end], NEGATIVE[:end]
    seen: set[str] = set(exclude or ())
    out: list[tuple[str, int]] = []
    while len(out) < num_examples:
        label = len(out) % 2
        text = _sentence(rng, label, positive, negative)
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    rng.shuffle(out)
    return out


def write_demo_dataset(root: Path, num_train: int = 600, num_dev: int = 200, seed: int = 0) -> Path:
    """Write ``<root>/glue/demo/{train,dev}.tsv`` once per :data:`DEMO_VERSION`; return ``root``.

    Dev sentences are distinct from train ones, and half of them come from a generator
    that also uses the held-out phrases.
    """
    folder = root / "glue" / "demo"
    version = folder / "VERSION"
    if version.is_file() and version.read_text().strip() == DEMO_VERSION:
        return root
    folder.mkdir(parents=True, exist_ok=True)
    train = demo_examples(num_train, seed)
    seen = {text for text, _ in train}
    dev = demo_examples(num_dev // 2, seed + 1, exclude=seen)
    seen |= {text for text, _ in dev}
    dev += demo_examples(num_dev - num_dev // 2, seed + 2, held_out=True, exclude=seen)
    for split, rows in (("train", train), ("dev", dev)):
        tmp = folder / f".{split}.tsv.{os.getpid()}"
        tmp.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
        tmp.replace(folder / f"{split}.tsv")
    version.write_text(DEMO_VERSION)
    return root
