"""DEFT's answers with ``explain=True``: decided class, grounded evidence, LLM-written reasoning.

Class and evidence are fixed (decided, and grounded in the clip's flow: `deftmer.model.evidence`);
the LLM continues the assistant turn after ``Reasoning:`` (greedy, ``model.explain_max_tokens``),
so its reasoning is conditioned on the expert tokens, the class and the evidence. The
continuation stops at the first line that opens another section. Without an LLM the answer
has no Reasoning part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from deftmer.data.labels import ClassSet
from deftmer.model.api import Prediction
from deftmer.model.config import DeftConfig
from deftmer.model.evidence import grounded_evidence
from deftmer.model.language import DeftLanguage
from deftmer.model.prompt import option_text
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.answer import EVIDENCE_KEY, REASONING_KEY, format_evidence, parse_answer
from deftmer.unimer.config import UnimerConfig

_NEW_SECTION = re.compile(r"^\s*[*#>_-]*\s*(emotion|class|label|answer|evidence|action units|aus|motion|reasoning)\s*[:：]",
                          re.IGNORECASE)


def clip_evidence(clip: ClipInputs, au_probs: np.ndarray | None, cfg: DeftConfig, unimer: UnimerConfig) -> str:
    """The grounded Evidence line of one clip (see `deftmer.model.evidence`)."""
    return format_evidence(grounded_evidence(clip.prepared, au_probs, unimer, cfg.evidence_au_threshold,
                                             cfg.evidence_max_aus))


def answers(language: DeftLanguage | None, cfg: DeftConfig, labels: list[str], evidence: list[str],
            llm_inputs: Callable[[], Any]) -> list[str]:
    """``Emotion: <decided class> / Evidence: <grounded> / Reasoning: <LLM>`` for each clip;
    ``llm_inputs()`` gives the clips' LLM inputs (called only when the LLM writes)."""
    heads = [f"{option_text(lab)}\n{EVIDENCE_KEY}: {ev}" for lab, ev in zip(labels, evidence)]
    if language is None or cfg.explain_max_tokens <= 0:
        return heads
    heads = [f"{head}\n{REASONING_KEY}:" for head in heads]
    cont = language.continue_answers(llm_inputs(), heads, cfg.explain_max_tokens)
    return [f"{head} {first_section(text)}".rstrip() for head, text in zip(heads, cont)]


def first_section(text: str) -> str:
    """The generated reasoning up to the first line that opens another answer section."""
    kept = []
    for line in text.strip().splitlines():
        if _NEW_SECTION.match(line):
            break
        kept.append(line.strip())
    return " ".join(k for k in kept if k)


def to_prediction(sample_id: str, probs: np.ndarray, text: str, class_set: ClassSet,
                  parts: dict[str, np.ndarray] | None = None) -> Prediction:
    """A `Prediction` from class probabilities and, with ``text``, the parts of the answer;
    ``parts``: other parts' class probabilities (see `Prediction.parts`)."""
    classes = class_set.classes
    label = classes[int(np.argmax(probs))]
    pred = Prediction(sample_id, label, {c: float(v) for c, v in zip(classes, probs)},
                      parts={k: {c: float(v) for c, v in zip(classes, p)} for k, p in (parts or {}).items()})
    if text:
        parsed = parse_answer(text, class_set)
        pred.text, pred.aus, pred.evidence, pred.reasoning = text, parsed.aus, parsed.evidence, parsed.reasoning
    return pred
