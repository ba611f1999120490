"""DEFT's LLM passes: the answer-position state that decides the class, the answer loss, option
scores and generation, all under the one decision instruction.

Training and inference put the same rows through the LLM (`deftmer.model.prompt`):
``head(instruction) | expert tokens | tail | answer``. One pass over a training row yields both
halves of the hybrid objective: the final hidden state at the answer position (the class head
reads it) and the language-model loss on every token of the complete Uni-MER answer. Inference
needs no answer at all for the class, so it costs a few tokens per clip.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deftmer.errors import UserError
from deftmer.model.config import DeftConfig
from deftmer.model.llm import LoadedLLM, add_lora, load_llm
from deftmer.model.prompt import PromptBuilder, emotion_instruction, forward_with_shared_head, option_text
from deftmer.unimer.answer import EMOTION_KEY


@dataclass
class LLMPass:
    """What one pass over a batch gives: the answer-position states and the answer-token loss."""

    answer_state: torch.Tensor        # (B, H) float32
    lm_loss: torch.Tensor | None      # mean over answer tokens, None without answers


class DeftLanguage:
    """The LLM (with LoRA), its prompts and the decision instruction for a class set."""

    def __init__(self, llm: LoadedLLM, classes: tuple[str, ...], precision: str = "bf16",
                 embed_scale: float = 1.0, answer_prefix: str = "") -> None:
        self.llm = llm
        self.prompts = PromptBuilder(llm.tokenizer, answer_prefix)
        self.classes = classes
        self.instruction = emotion_instruction(classes)
        self.head_ids = self.prompts.head_ids(self.instruction)
        self.precision = precision
        self.hidden_size = llm.hidden_size
        self.embed_scale = embed_scale    # median norm of the base LLM's word embeddings

    @classmethod
    def from_config(cls, cfg: DeftConfig, classes: tuple[str, ...], seed: int, precision: str) -> DeftLanguage:
        """The LLM ``cfg.llm`` names (`deftmer.model.llm.load_llm`) with fresh LoRA adapters."""
        llm = load_llm(cfg.llm, seed=seed, num_layers=cfg.llm_layers, attention=cfg.llm_attention)
        scale = float(llm.model.get_input_embeddings().weight.norm(dim=-1).median())
        llm.model = add_lora(llm.model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, list(cfg.lora_targets)).eval()
        prefix = f"{EMOTION_KEY}:" if cfg.decision == "words" else ""
        return cls(llm, classes, precision, scale, prefix)

    @property
    def base(self):
        return self.llm.model.get_base_model()

    @functools.cached_property
    def class_word_ids(self) -> list[int]:
        """The first token of each class's answer word after the answer prefix (``decision="words"``)."""
        ids = [self.prompts.answer_ids(option_text(c), close=False)[0] for c in self.classes]
        if len(set(ids)) < len(ids):
            words = [self.llm.tokenizer.decode([i]) for i in ids]
            raise UserError(f"classes {', '.join(self.classes)} start with the same LLM token ({words}), so "
                            "model.decision=words cannot tell them apart; use model.decision=llm")
        return ids

    def word_logits(self, answer_state: torch.Tensor) -> torch.Tensor:
        """(B, K): the LLM's own next-token logits of each class word at the answer position,
        through its (frozen) output layer: the class is the word the LLM would write next."""
        rows = self.base.get_output_embeddings().weight[self.class_word_ids]
        return answer_state.float() @ rows.float().T

    def autocast(self, device: torch.device):
        """bf16 autocast for the LLM's matrix products (float32 weights, float32 results out)."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    @contextlib.contextmanager
    def frozen_weights_cast_once(self) -> Iterator[None]:
        """Hold the frozen decoder projections in bf16 while training (with ``precision="bf16"``).

        Under bf16 autocast every matrix product casts its float32 weight to bf16 on every call,
        forward and backward, step after step; the frozen weights never change, so casting them
        once gives the same products bit for bit and saves the casts (stage 2 1.05x-1.19x faster on
        CPU, `benchmarks/bench_stage2.py`). The float32 weights are put back on exit: generation
        runs in float32.
        """
        if self.precision != "bf16":
            yield
            return
        saved = [(m, m.weight) for m in self.base.model.layers.modules()
                 if isinstance(m, nn.Linear) and not m.weight.requires_grad and m.weight.dtype == torch.float32]
        for m, w in saved:
            m.weight = nn.Parameter(w.detach().to(torch.bfloat16), requires_grad=False)
        try:
            yield
        finally:
            for m, w in saved:
                m.weight = w

    def run(self, expert_embeds: torch.Tensor | list[torch.Tensor], answers: list[list[int]] | None = None) -> LLMPass:
        """``head | experts | tail [| answer]`` rows; see the module docstring.

        Rows with an empty answer (``[]``) among rows with answers go through a pass of their own:
        in one padded batch each would cost as many tokens as the longest answer.
        """
        if answers and not all(answers) and any(answers):
            return self._run_split(expert_embeds, answers)
        return self._run(expert_embeds, answers)

    def _run_split(self, expert_embeds: torch.Tensor | list[torch.Tensor], answers: list[list[int]]) -> LLMPass:
        """Answered rows in one pass (their LM loss), the rest in another; states in row order."""
        with_ans = [i for i, a in enumerate(answers) if a]
        without = [i for i, a in enumerate(answers) if not a]

        def rows(ids: list[int]):
            return expert_embeds[ids] if torch.is_tensor(expert_embeds) else [expert_embeds[i] for i in ids]

        answered = self._run(rows(with_ans), [answers[i] for i in with_ans])
        plain = self._run(rows(without), None)
        state = torch.cat([answered.answer_state, plain.answer_state])
        order = torch.argsort(torch.tensor(with_ans + without, device=state.device))
        return LLMPass(state[order], answered.lm_loss)

    def _run(self, expert_embeds: torch.Tensor | list[torch.Tensor], answers: list[list[int]] | None) -> LLMPass:
        base = self.base
        asm = self.prompts.assemble(base.get_input_embeddings(), expert_embeds, answers)
        with self.autocast(asm.embeds.device):
            hidden = forward_with_shared_head(base, self.head_ids, asm)
            lm = None
            if answers:
                target = asm.labels[:, 1:]
                sel = target != -100
                logits = base.lm_head(hidden[:, :-1][sel])   # logits only where there is a target
                lm = F.cross_entropy(logits.float(), target[sel])
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return LLMPass(hidden[rows, asm.answer_pos].float(), lm)

    def option_logprobs(self, expert_embeds: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Log-likelihood of each ``Emotion: <class>`` answer: (B, K), one pass of B*K rows."""
        base = self.base
        B, K = len(expert_embeds), len(self.classes)
        opts = [self.prompts.answer_ids(option_text(c), close=False) for c in self.classes]
        rows = [e for e in expert_embeds for _ in range(K)]
        asm = self.prompts.assemble(base.get_input_embeddings(), rows, opts * B)
        with self.autocast(asm.embeds.device):
            hidden = forward_with_shared_head(base, self.head_ids, asm)
            target = asm.labels[:, 1:]
            sel = target != -100
            logp = torch.log_softmax(base.lm_head(hidden[:, :-1][sel]).float(), -1)
        tok_lp = logp.gather(1, target[sel][:, None])[:, 0]
        row = torch.arange(B * K, device=hidden.device)[:, None].expand_as(target)[sel]
        scores = torch.zeros(B * K, device=hidden.device).index_add_(0, row, tok_lp)
        return scores.view(B, K)

    def continue_answers(self, expert_embeds: torch.Tensor | list[torch.Tensor], starts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of the assistant turn after each ``starts[i]`` (one batched call)."""
        base = self.base
        begun = [self.prompts.answer_ids(s, close=False) for s in starts]
        embeds, mask = self.prompts.full_batch(base.get_input_embeddings(), self.instruction, expert_embeds, begun)
        # float32 on purpose: rows padded to different lengths must decode exactly as alone
        ids = self.llm.model.generate(inputs_embeds=embeds, attention_mask=mask, do_sample=False,
                                      max_new_tokens=max_new_tokens, eos_token_id=self.prompts.eos_id,
                                      pad_token_id=self.llm.tokenizer.pad_token_id)
        return [self.llm.tokenizer.decode(row, skip_special_tokens=True) for row in ids]
