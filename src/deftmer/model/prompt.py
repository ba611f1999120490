"""Chat prompts with a slot for expert tokens, and the LLM pass that shares their text head.

A sequence is ``head | expert tokens | tail | answer``: the head is the chat header plus the
user's instruction, the tail closes the user turn and opens the assistant's. For one
instruction the head is the same for every clip, so a batch runs it once and every row
attends to its keys and values (`forward_with_shared_head`): on CPU each token of each row is
a pass through the whole LLM, and the head is a third of a training row. The hidden state at
the tail's last token is the fixed *answer position*: it predicts the first answer token, and
DEFT's class head reads it there. With an answer prefix (``Emotion:``, for ``model.decision="words"``)
the tail ends with it, and the answer position predicts the class word itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deftmer.unimer.answer import EMOTION_KEY

SYSTEM_PROMPT = "You read facial micro-expressions."
PLACEHOLDER = "<EXPERTS>"
IGNORE = -100


def emotion_instruction(classes: tuple[str, ...]) -> str:
    """The one instruction under which DEFT decides the class (in training and at inference)."""
    return f"Emotion ({', '.join(classes)})? Give evidence and reasoning."


def option_text(label: str) -> str:
    """The start of an answer naming ``label``: what option scoring compares across classes."""
    return f"{EMOTION_KEY}: {label}"


@dataclass
class Assembled:
    """A padded batch of ``experts | tail | answer`` rows (the head is shared, not included)."""

    embeds: torch.Tensor      # (B, L, H)
    mask: torch.Tensor        # (B, L) long
    labels: torch.Tensor      # (B, L) long, IGNORE where there is no LM target
    answer_pos: torch.Tensor  # (B,) index in each row of the tail's last token (the answer position)


class PromptBuilder:
    """Tokenises prompts around the expert slot with the tokenizer's chat template."""

    def __init__(self, tokenizer, answer_prefix: str = "") -> None:
        self.tok = tokenizer
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() \
            else tokenizer.eos_token_id
        head, tail = self._render("QUERY").split(PLACEHOLDER)
        self._head_template = head
        # with an answer prefix the assistant turn opens with it, so the answer position is where
        # the answer's next word (the class, after "Emotion:") is predicted
        self.answer_prefix = answer_prefix
        self.tail_ids: list[int] = self._ids(tail) + (self._ids(answer_prefix) if answer_prefix else [])

    def _render(self, query: str) -> str:
        content = f"{query}\n{PLACEHOLDER}"
        if getattr(self.tok, "chat_template", None):
            msgs = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
            return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return f"{SYSTEM_PROMPT}\nUser: {content}\nAssistant: "

    def _ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def head_ids(self, instruction: str) -> list[int]:
        """Ids before the expert slot: chat header, system prompt and the instruction."""
        return self._ids(self._head_template.replace("QUERY", instruction))

    def answer_ids(self, answer: str, close: bool = True) -> list[int]:
        """The answer's ids, whole (never cut), closed by the end-of-turn token unless ``close=False``;
        an answer that starts with the answer prefix loses it (the prompt's tail already holds it)."""
        if self.answer_prefix and answer.startswith(self.answer_prefix):
            answer = answer[len(self.answer_prefix):]
        return self._ids(answer) + ([self.eos_id] if close else [])

    def assemble(self, embed: torch.nn.Module, experts: torch.Tensor | list[torch.Tensor],
                 answers: list[list[int]] | None = None, left_pad: bool = False) -> Assembled:
        """Rows ``experts[i] | tail | answers[i]``, right-padded (``left_pad`` for generation).

        ``experts`` is (B, K, H), or a list of (K_i, H) embeddings when rows differ in length
        (e.g. a motion description given as text instead of expert tokens).
        """
        dev = experts[0].device
        B = len(experts)
        answers = answers or [[] for _ in range(B)]
        tail = embed(torch.tensor(self.tail_ids, device=dev))
        slot = [int(e.shape[0]) for e in experts]
        lens = [k + len(self.tail_ids) + len(a) for k, a in zip(slot, answers)]
        L = max(lens)
        out = experts[0].new_zeros(B, L, experts[0].shape[-1])
        mask = torch.zeros(B, L, dtype=torch.long, device=dev)
        labels = torch.full((B, L), IGNORE, dtype=torch.long, device=dev)
        pos = torch.zeros(B, dtype=torch.long, device=dev)
        for i, ans in enumerate(answers):
            row = torch.cat([experts[i], tail, embed(torch.tensor(ans, device=dev, dtype=torch.long))], 0)
            start = L - lens[i] if left_pad else 0
            out[i, start:start + lens[i]] = row
            mask[i, start:start + lens[i]] = 1
            pos[i] = start + slot[i] + len(self.tail_ids) - 1
            if ans:
                labels[i, start + lens[i] - len(ans):start + lens[i]] = torch.tensor(ans, device=dev)
        return Assembled(out, mask, labels, pos)

    def full_batch(self, embed: torch.nn.Module, instruction: str, experts: torch.Tensor | list[torch.Tensor],
                   answers: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ``head | experts | tail | answer-start`` rows (embeds, mask) for ``generate``."""
        asm = self.assemble(embed, experts, answers, left_pad=True)
        dev = asm.embeds.device
        head = embed(torch.tensor(self.head_ids(instruction), device=dev))
        B = asm.embeds.shape[0]
        embeds = torch.cat([head[None].expand(B, -1, -1), asm.embeds], 1)
        # left padding must stay on the left: move each row's pad run in front of the head
        ones = torch.ones(B, head.shape[0], dtype=torch.long, device=dev)
        mask = torch.cat([ones, asm.mask], 1)
        order = torch.argsort(mask, dim=1, stable=True)
        idx = order[..., None].expand_as(embeds)
        return embeds.gather(1, idx), mask.gather(1, order)


def forward_with_shared_head(base, head_ids: list[int], asm: Assembled) -> torch.Tensor:
    """Hidden states (B, L, H) of ``head | row`` for every row, the head run once for the batch.

    ``base`` is a Hugging Face causal LM (``base.model`` its decoder). The head's keys and
    values are computed on one copy and repeated over the batch, so gradients reach LoRA in
    the head exactly as if every row had carried it (the output equals the unshared pass).
    """
    decoder = base.model
    dev = asm.embeds.device
    embed = base.get_input_embeddings()
    head = embed(torch.tensor(head_ids, device=dev))[None]
    cache = decoder(inputs_embeds=head, use_cache=True).past_key_values
    B, L = asm.mask.shape
    cache.batch_repeat_interleave(B)
    P = len(head_ids)
    mask = torch.cat([torch.ones(B, P, dtype=asm.mask.dtype, device=dev), asm.mask], 1)
    positions = torch.arange(P, P + L, device=dev)[None].expand(B, -1)
    out = decoder(inputs_embeds=asm.embeds.to(head.dtype), attention_mask=mask, past_key_values=cache,
                  position_ids=positions, use_cache=True)
    return out.last_hidden_state
