"""Split a training set's subjects in two groups, within each source database and by clip count.

DEFT uses it to keep some training subjects away from its experts (`train.stage2_heldout`): the
LLM then learns on expert evidence of clips the experts never saw, as at test time. Whole
subjects move, never single clips, for the same reason LOSO holds out whole subjects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from deftmer.data.sample import Sample


def held_out_subjects(samples: Sequence[Sample], share: float, seed: int) -> set[str]:
    """Subjects holding about ``share`` of each source's clips, chosen reproducibly from ``seed``.

    Sources (``sample.source``, else ``sample.dataset``) are visited in order of first
    appearance; within one, subjects go in a seeded order, largest first, each to the side
    (held out or kept) further below its share of the source's clips; a tie keeps the subject.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.source or s.dataset, []).append(s)
    held: set[str] = set()
    for members in groups.values():
        counts = Counter(s.subject for s in members)
        subjects = sorted(counts)
        order = sorted((subjects[i] for i in rng.permutation(len(subjects))), key=lambda s: -counts[s])
        total, load_kept, load_held = len(members), 0, 0
        for subject in order:
            if share * total - load_held > (1 - share) * total - load_kept:
                held.add(subject)
                load_held += counts[subject]
            else:
                load_kept += counts[subject]
    return held
