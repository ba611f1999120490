"""Published results of other methods, as data, each with where it comes from.

A report puts a run beside these numbers for the same dataset, class set and protocol. They
are NOT comparable one-to-one: many MER papers keep each LOSO fold's best epoch as measured on
the test subject, which deftmer never does (`SELECTION_NOTE`). A number we could not read from
its source is recorded as ``None`` with the reason, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

SELECTION_NOTE = (
    "Published numbers are as reported by their authors. Many MER papers select each LOSO fold's "
    "best epoch on the test subject's own data (e.g. the HTNet and MMNet code keep the best test "
    "epoch), which inflates UF1/UAR; deftmer uses fixed epochs or an inner split of training "
    "subjects only, so its numbers are not directly comparable."
)


@dataclass(frozen=True)
class PublishedResult:
    """One method's reported result on one benchmark setting."""

    method: str
    dataset: str            # deftmer dataset name, e.g. "megc2019"
    class_set: str          # deftmer class set name, e.g. "megc3"
    protocol: str           # "loso" | "lodo"
    uf1: float | None
    uar: float | None
    source: str             # paper / venue, and where in it
    note: str = ""


PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("HTNet", "megc2019", "megc3", "loso", 0.860, 0.848,
                    "Wang et al., HTNet for micro-expression recognition, Neurocomputing 602 (2024), "
                    "arXiv 2307.14637; composite (Full) row of the state-of-the-art table",
                    "released code keeps each fold's best test epoch"),
    PublishedResult("SRMCL", "megc2019", "megc3", "loso", 0.863, 0.883,
                    "Boosting Micro-expression Recognition via Self-expression Reconstruction and Memory "
                    "Contrastive Learning (SRMCL; code github.com/pakchoi-php/SRMCL), composite MEGC 2019 result",
                    "venue and the table holding the composite row not verified here"),
    PublishedResult("LTR3O", "megc2019", "megc3", "loso", 0.893, 0.882,
                    "Zhu, Zong, Shi, Lu, Chang, Zheng, Learning to Rank Onset-Occurring-Offset Representations "
                    "for Micro-Expression Recognition, arXiv 2310.04664 (2023); composite MEGC 2019 result",
                    "the table holding the composite row not verified here"),
    PublishedResult("D-FACE", "megc2019", "megc3", "loso", 0.894, 0.897,
                    "D-FACE, composite MEGC 2019 result: citation unverified (the paper could not be found offline)"),
    PublishedResult("DEFT-LLM", "megc2019", "megc3", "loso", None, None,
                    "Zhang et al., DEFT-LLM, arXiv 2511.10948 (2025)",
                    "not recorded: the paper's result tables could not be read offline; fill in from the paper"),
)


def published_for(dataset: str, class_set: str | None = None, protocol: str = "loso") -> list[PublishedResult]:
    """Results reported for the same dataset (and class set, when given) and protocol.

    A composite run's per-source rows are not matched here: only whole-benchmark numbers.
    """
    ds = dataset.lower()
    return [r for r in PUBLISHED
            if r.dataset == ds and r.protocol == protocol and (class_set is None or r.class_set == class_set)]
