"""How DEFT decides the class (``model.decision``) and what its LLM reads (``model.llm_input``).

The LLM reads either the experts' projected tokens (`deftmer.model.fusion.ExpertFusion`) or
the clip's measured motion written as text (the ``deft-motion-text`` peer). The class comes
from the LLM: a class head on its answer-position state (``llm``), the likelihood of each
class answer (``options``) or both (``hybrid``); without an LLM, from the experts' own linear
head (``head``).
"""

from __future__ import annotations

import torch

from deftmer.data.labels import ClassSet
from deftmer.model.deft_net import DeftNet, NetOutput
from deftmer.model.language import DeftLanguage
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.builder import motion_descriptions
from deftmer.unimer.config import UnimerConfig


def motion_text_ids(language: DeftLanguage, clips: list[ClipInputs], class_set: ClassSet,
                    unimer: UnimerConfig) -> list[list[int]]:
    """Token ids of each clip's measured motion written as text (what ``motion_text`` reads)."""
    texts = motion_descriptions(clips, class_set, unimer)
    return [language.prompts.answer_ids(t, close=False) for t in texts]


def llm_inputs(net: DeftNet, language: DeftLanguage, out: NetOutput, text_ids: list[list[int]] | None):
    """What goes into the expert slot: projected expert tokens, or the motion text's embeddings."""
    if text_ids is None:
        return net.fusion(out.summaries)
    embed = language.base.get_input_embeddings()
    dev = out.class_logits.device
    return [embed(torch.tensor(ids, device=dev, dtype=torch.long)) for ids in text_ids]


def llm_class_logits(net: DeftNet, language: DeftLanguage, decision: str, answer_state: torch.Tensor) -> torch.Tensor:
    """Class logits from the LLM's answer-position state: its own next-word logits of the class
    words (``words``), else the LLM class head on that state."""
    return language.word_logits(answer_state) if decision == "words" else net.decision_head(answer_state)


def class_logprobs(net: DeftNet, language: DeftLanguage | None, decision: str, out: NetOutput,
                   text_ids: list[list[int]] | None = None) -> torch.Tensor:
    """Log-probabilities of the classes under ``decision`` (see module docstring)."""
    expert = torch.log_softmax(out.class_logits.float(), -1)
    if decision == "head":
        return expert
    emb = llm_inputs(net, language, out, text_ids)
    parts = []
    if decision in ("llm", "hybrid", "words"):
        parts.append(torch.log_softmax(llm_class_logits(net, language, decision, language.run(emb).answer_state), -1))
    if decision in ("options", "hybrid"):
        parts.append(torch.log_softmax(language.option_logprobs(emb), -1))
    return torch.log_softmax(sum(parts), -1)
