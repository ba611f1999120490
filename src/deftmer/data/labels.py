"""Target class sets and the explicit tables that map each dataset's emotion names into them.

Every mapping is a table here, never a string check scattered through loaders. A name that a
table does not list maps to ``None`` (excluded) and the loader reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from deftmer.errors import UserError


@dataclass(frozen=True)
class ClassSet:
    """An ordered set of target classes plus the table from raw emotion names to them."""

    name: str
    classes: tuple[str, ...]
    table: dict[str, str | None]

    def map(self, emotion: str) -> str | None:
        """Map a dataset's emotion name (case/space-insensitive) to a class, or ``None``."""
        key = normalise_emotion(emotion)
        return self.table.get(key)

    def index(self, label: str) -> int:
        return self.classes.index(label)

    def __len__(self) -> int:
        return len(self.classes)


def normalise_emotion(emotion: str) -> str:
    e = str(emotion).strip().lower().replace("_", " ")
    return " ".join(e.split())


# MEGC 2019 composite: negative / positive / surprise; "others" excluded.
MEGC3 = ClassSet(
    name="megc3",
    classes=("negative", "positive", "surprise"),
    table={
        "anger": "negative", "angry": "negative", "contempt": "negative", "disgust": "negative",
        "fear": "negative", "sadness": "negative", "sad": "negative", "repression": "negative",
        "negative": "negative", "ne": "negative",
        "happiness": "positive", "happy": "positive", "positive": "positive", "po": "positive",
        "surprise": "surprise", "sur": "surprise",
        "others": None, "other": None,
    },
)

# CASME II 5-class (the field's usual CASME II protocol). Fear and sadness are too rare and
# are conventionally excluded.
CASME2_5 = ClassSet(
    name="casme2_5",
    classes=("happiness", "disgust", "repression", "surprise", "others"),
    table={
        "happiness": "happiness", "disgust": "disgust", "repression": "repression",
        "surprise": "surprise", "others": "others", "fear": None, "sadness": None,
    },
)

# SAMM 5-class as commonly used (anger, contempt, happiness, surprise, other).
SAMM_5 = ClassSet(
    name="samm_5",
    classes=("anger", "contempt", "happiness", "surprise", "other"),
    table={
        "anger": "anger", "contempt": "contempt", "happiness": "happiness", "surprise": "surprise",
        "other": "other", "others": "other", "disgust": None, "fear": None, "sadness": None,
    },
)

# SMIC: its three folder classes.
SMIC_3 = ClassSet(
    name="smic3",
    classes=("negative", "positive", "surprise"),
    table={"negative": "negative", "positive": "positive", "surprise": "surprise"},
)

# CAS(ME)^3 part A, 7-class.
CASME3_7 = ClassSet(
    name="casme3_7",
    classes=("anger", "disgust", "fear", "happy", "sad", "surprise", "others"),
    table={
        "anger": "anger", "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
        "happiness": "happy", "sad": "sad", "sadness": "sad", "surprise": "surprise",
        "others": "others", "other": "others",
    },
)

# CAS(ME)^3 4-class (negative / positive / surprise / others), used in the CAS(ME)^3 paper.
CASME3_4 = ClassSet(
    name="casme3_4",
    classes=("negative", "positive", "surprise", "others"),
    table={
        "anger": "negative", "angry": "negative", "disgust": "negative", "fear": "negative",
        "sad": "negative", "sadness": "negative", "happy": "positive", "happiness": "positive",
        "surprise": "surprise", "others": "others", "other": "others",
    },
)

CLASS_SETS: dict[str, ClassSet] = {
    c.name: c for c in (MEGC3, CASME2_5, SAMM_5, SMIC_3, CASME3_7, CASME3_4)
}


def get_class_set(name: str) -> ClassSet:

    if name not in CLASS_SETS:
        raise UserError(f"unknown class set '{name}'; known: {', '.join(sorted(CLASS_SETS))}")
    return CLASS_SETS[name]
