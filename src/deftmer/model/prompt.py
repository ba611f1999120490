"""Chat prompts with a slot for expert tokens (LLaVA style), built once and reused per batch.

A prompt is ``prefix | expert tokens | query`` and, in training, ``| answer``. The prefix (chat
header) is the same for every clip, so it is tokenised once; the expert tokens are embeddings,
not ids, and are spliced in between. Prompts are kept short on purpose: on CPU every token of
every training sequence costs a pass through the whole LLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deftmer.unimer.answer import EMOTION_KEY

SYSTEM_PROMPT = "You read facial micro-expressions."
PLACEHOLDER = "<EXPERTS>"
IGNORE = -100


def emotion_instruction(classes: tuple[str, ...]) -> str:
    return f"Emotion ({', '.join(classes)})? Give evidence and reasoning."


def option_text(label: str) -> str:
    """The start of an answer naming ``label``: what option scoring compares across classes."""
    return f"{EMOTION_KEY}: {label}"


@dataclass
class Assembled:
    """A right-padded batch: input embeddings, attention mask, and LM labels (-100 = no loss)."""

    embeds: torch.Tensor      # (B, L, H)
    mask: torch.Tensor        # (B, L) long
    labels: torch.Tensor      # (B, L) long


class PromptBuilder:
    """Tokenises prompts around the expert slot with the tokenizer's chat template."""

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() \
            else tokenizer.eos_token_id
        probe = self._render("QUERY")
        head, tail = probe.split(PLACEHOLDER)
        self.prefix_ids: list[int] = self._ids(head)
        self._tail_template = tail

    def _render(self, query: str) -> str:
        content = f"{PLACEHOLDER}\n{query}"
        if getattr(self.tok, "chat_template", None):
            msgs = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
            return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return f"{SYSTEM_PROMPT}\nUser: {content}\nAssistant: "

    def _ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def query_ids(self, instruction: str) -> list[int]:
        """Ids after the expert slot: the instruction and the assistant header."""
        return self._ids(self._tail_template.replace("QUERY", instruction))

    def answer_ids(self, answer: str, max_tokens: int | None = None, close: bool = True) -> list[int]:
        ids = self._ids(answer)
        if max_tokens is not None:
            ids = ids[:max_tokens]
        return ids + [self.eos_id] if close and (max_tokens is None or len(ids) < max_tokens) else ids

    def assemble(self, embed: torch.nn.Module, experts: torch.Tensor, queries: list[list[int]],
                 answers: list[list[int]] | None = None, left_pad: bool = False) -> Assembled:
        """Build ``prefix | experts[i] | queries[i] | answers[i]`` for each row, right-padded
        (``left_pad``: padded on the left, as batched generation needs)."""
        dev = experts.device
        B = experts.shape[0]
        answers = answers or [[] for _ in range(B)]
        pre = embed(torch.tensor(self.prefix_ids, device=dev))
        rows, labels = [], []
        for i in range(B):
            tail = torch.tensor(queries[i] + answers[i], device=dev, dtype=torch.long)
            rows.append(torch.cat([pre, experts[i], embed(tail)], 0))
            lab = [IGNORE] * (len(self.prefix_ids) + experts.shape[1] + len(queries[i])) + answers[i]
            labels.append(lab)
        L = max(r.shape[0] for r in rows)
        H = rows[0].shape[1]
        out = experts.new_zeros(B, L, H)
        mask = torch.zeros(B, L, dtype=torch.long, device=dev)
        lab_t = torch.full((B, L), IGNORE, dtype=torch.long, device=dev)
        for i, r in enumerate(rows):
            sl = slice(L - r.shape[0], L) if left_pad else slice(0, r.shape[0])
            out[i, sl] = r
            mask[i, sl] = 1
            lab_t[i, sl] = torch.tensor(labels[i], device=dev)
        return Assembled(out, mask, lab_t)
