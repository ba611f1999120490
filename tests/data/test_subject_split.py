"""Holding out training subjects for DEFT's stage 2: whole subjects, per source, by clip count."""

from deftmer.data.sample import Sample
from deftmer.data.subject_split import held_out_subjects


def _samples(layout: dict[str, dict[str, int]]) -> list[Sample]:
    return [Sample(dataset="pack", subject=subject, clip=f"{subject}_{k}", emotion="x", source=source)
            for source, subjects in layout.items() for subject, n in subjects.items() for k in range(n)]


def test_half_of_each_source_is_held_out_by_clips_and_reproducibly():
    layout = {"smic": {"s1": 6, "s2": 5, "s3": 4, "s4": 3, "s5": 2},
              "casme2": {"sub1": 10, "sub2": 9, "sub3": 1, "sub4": 1, "sub5": 1}}
    samples = _samples(layout)
    held = held_out_subjects(samples, 0.5, seed=3)
    assert held == held_out_subjects(samples, 0.5, seed=3)
    for subjects in layout.values():
        n_held = sum(n for s, n in subjects.items() if s in held)
        assert 0 < n_held < sum(subjects.values())
        assert abs(2 * n_held - sum(subjects.values())) <= max(subjects.values())   # about half the clips
    # the two big CASME II subjects are split, so neither side lacks a large subject's clips
    assert ("sub1" in held) != ("sub2" in held)
    seeds = {frozenset(held_out_subjects(samples, 0.5, seed=s)) for s in range(20)}
    assert len(seeds) > 1   # the seed chooses among equally balanced splits


def test_share_sets_the_held_out_part_and_a_lone_subject_is_kept():
    samples = _samples({"a": {f"p{i}": 2 for i in range(10)}, "b": {"only": 5}})
    held = held_out_subjects(samples, 0.3, seed=0)
    assert len(held) == 3 and "only" not in held
    assert held_out_subjects(samples, 0.0, seed=0) == set()
