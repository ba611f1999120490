"""How DEFT decides the class (``model.decision``) and what its LLM reads (``model.llm_input``).

The LLM reads either the experts' projected tokens (`deftmer.model.fusion.ExpertFusion`) or
the clip's measured motion written as text (the ``deft-motion-text`` peer). A decision combines
parts, each a class distribution of its own: the LLM's class head on its answer-position state
(``llm``; with ``words`` the LLM's next-word logits of the class words), the likelihood of each
class answer (``options``) and the experts' own linear head (``experts_head``). ``llm``,
``words``, ``options`` and ``head`` take one part; ``hybrid`` the LLM's two, ``joint`` the LLM's
class head and the experts' head (a product of the two distributions: the sum of their
log-probabilities). Without an LLM the class comes from the experts' head alone.
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


#: the parts' names, as a prediction's ``parts`` and a predictions table's ``<part>_prob_<class>`` name them
EXPERTS_HEAD, LLM_HEAD, OPTIONS = "experts_head", "llm", "options"
#: the parts each decision combines (see module docstring)
DECISION_PARTS: dict[str, tuple[str, ...]] = {
    "llm": (LLM_HEAD,), "words": (LLM_HEAD,), "options": (OPTIONS,), "hybrid": (LLM_HEAD, OPTIONS),
    "joint": (LLM_HEAD, EXPERTS_HEAD), "head": (EXPERTS_HEAD,)}


def part_logprobs(net: DeftNet, language: DeftLanguage | None, decision: str, out: NetOutput,
                  text_ids: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
    """Log-probabilities of the classes under each part ``decision`` reads, by part name; the
    experts' head always (it costs nothing), the LLM's parts only when the decision uses them."""
    parts = {EXPERTS_HEAD: torch.log_softmax(out.class_logits.float(), -1)}
    needs = DECISION_PARTS[decision]
    if needs == (EXPERTS_HEAD,):
        return parts
    emb = llm_inputs(net, language, out, text_ids)
    if LLM_HEAD in needs:
        parts[LLM_HEAD] = torch.log_softmax(llm_class_logits(net, language, decision, language.run(emb).answer_state), -1)
    if OPTIONS in needs:
        parts[OPTIONS] = torch.log_softmax(language.option_logprobs(emb), -1)
    return parts


def combine_parts(decision: str, parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """The decision's log-probabilities: its parts' log-probabilities summed and renormalised."""
    return torch.log_softmax(sum(parts[p] for p in DECISION_PARTS[decision]), -1)


def class_logprobs(net: DeftNet, language: DeftLanguage | None, decision: str, out: NetOutput,
                   text_ids: list[list[int]] | None = None) -> torch.Tensor:
    """Log-probabilities of the classes under ``decision`` (see module docstring)."""
    return combine_parts(decision, part_logprobs(net, language, decision, out, text_ids))
