"""DEFT: three disentangled experts -> projectors -> an LLM with LoRA, plus a class head.

The class decision comes from the classification head on the fused expert features
(discriminative), from the LLM's likelihood of each class option (generative), or both
(``model.decision``); either way it is always a valid class with probabilities. With
``explain=True`` the LLM also generates the evidence and reasoning, parsed by
``deftmer.unimer.answer.parse_answer``. ``model.use_llm=False`` is the no-LLM ablation
(experts + linear head) through the same class.

Saved folders hold only what was trained (expert heads, projectors, class head, LoRA) in one
safetensors file, plus ``model.json`` with the full config and the LLM reference.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deftmer.data.labels import ClassSet, get_class_set
from deftmer.errors import CheckpointError, UserError
from deftmer.model.api import MODEL_CARD, ClipInputs, Prediction, register_model, write_model_card
from deftmer.model.experts import (EXPERTS, REGION_FEATURES, DynamicTextureExpert, FrozenBackbone,
                                   MotionSemanticsExpert, StructureExpert, region_motion_features)
from deftmer.model.fusion import ClassHead, ExpertFusion, disentanglement_loss
from deftmer.unimer.facs import MODEL_AUS, REGION_NAMES
from deftmer.utils.console import logger

WEIGHTS = "deft.safetensors"
_AU_INDEX = {n: i for i, n in enumerate(MODEL_AUS)}


@dataclass
class ClipTensors:
    """Model inputs of a list of clips, stacked: frozen features, region motion, targets."""

    feats: dict[str, torch.Tensor]   # "face" (N,T,C), "diff", "dynamic" (N,T,C), "motion" (N,R,F)
    labels: torch.Tensor             # (N,) class index, -1 when unknown
    au_targets: torch.Tensor         # (N, n_aus) multi-hot over MODEL_AUS
    au_mask: torch.Tensor            # (N,) 1 where the clip has AU annotations

    def select(self, idx: torch.Tensor) -> "ClipTensors":
        return ClipTensors({k: v[idx] for k, v in self.feats.items()}, self.labels[idx],
                           self.au_targets[idx], self.au_mask[idx])

    def to(self, device: torch.device) -> "ClipTensors":
        return ClipTensors({k: v.to(device) for k, v in self.feats.items()}, self.labels.to(device),
                           self.au_targets.to(device), self.au_mask.to(device))


@dataclass
class NetOutput:
    tokens: dict[str, torch.Tensor]   # expert tokens (B, T_e, dim)
    pooled: list[torch.Tensor]        # one (B, dim) per active expert, for disentanglement
    class_logits: torch.Tensor        # (B, n_classes)
    au_logits: torch.Tensor | None    # (B, n_aus) when the motion expert is on


class DeftNet(nn.Module):
    """Every trained module except LoRA: expert heads, fusion projectors, class head."""

    def __init__(self, experts: list[str], feat_dim: int, dim: int, n_classes: int,
                 llm_hidden: int | None, embed_scale: float, dropout: float) -> None:
        super().__init__()
        self.experts = list(experts)
        # each expert's weight in the class head (see model.reliability); 1 = untouched
        self.register_buffer("expert_gate", torch.ones(len(self.experts)))
        mods: dict[str, nn.Module] = {}
        if "structure" in experts:
            mods["structure"] = StructureExpert(feat_dim, dim, dropout)
        if "dynamic" in experts:
            mods["dynamic"] = DynamicTextureExpert(feat_dim, dim, dropout)
        if "motion" in experts:
            mods["motion"] = MotionSemanticsExpert(dim, dropout=dropout)
        self.expert_modules = nn.ModuleDict(mods)
        self.class_head = ClassHead(dim * len(experts), n_classes, dropout=0.2)
        self.fusion = ExpertFusion(self.experts, dim, llm_hidden, embed_scale) if llm_hidden else None

    def forward(self, feats: dict[str, torch.Tensor]) -> NetOutput:
        tokens: dict[str, torch.Tensor] = {}
        au_logits = None
        if "structure" in self.expert_modules:
            tokens["structure"] = self.expert_modules["structure"](feats["face"])
        if "dynamic" in self.expert_modules:
            tokens["dynamic"] = self.expert_modules["dynamic"](feats["diff"], feats["dynamic"])
        if "motion" in self.expert_modules:
            tokens["motion"], au_logits = self.expert_modules["motion"](feats["motion"])
        pooled = [self.expert_modules[e].pool(tokens[e]) for e in self.experts]
        gated = [p * self.expert_gate[i] for i, p in enumerate(pooled)]
        return NetOutput(tokens, pooled, self.class_head(torch.cat(gated, -1)), au_logits)


def active_experts(cfg_model, clips: list[ClipInputs]) -> list[str]:
    """Experts switched on in the config whose inputs every clip has; says which were dropped."""
    wanted = [e for e, on in zip(EXPERTS, (cfg_model.use_structure, cfg_model.use_dynamic, cfg_model.use_motion)) if on]
    if "dynamic" in wanted and any(c.prepared.diff is None or c.prepared.dynamic is None for c in clips):
        if wanted == ["dynamic"]:
            raise UserError("no onset frames, so no dynamic-texture input (e.g. a flowpack dataset), and the "
                            "dynamic-texture expert is the only one switched on; switch on model.use_structure "
                            "or model.use_motion")
        logger.info("dynamic-texture expert left out: these clips have no onset frame "
                    "(difference/dynamic images missing, e.g. a flowpack dataset)")
        wanted.remove("dynamic")
    if not wanted:
        raise UserError("every expert is switched off (model.use_structure/use_dynamic/use_motion); "
                        "switch at least one on")
    return wanted


class DeftModel:
    """The DEFT-LLM model behind the ``MERModel`` protocol (see module docstring)."""

    name = "deft"

    def __init__(self, cfg, class_set: ClassSet, experts: list[str] | None = None) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.experts: list[str] | None = experts
        self.backbone = FrozenBackbone(cfg.model.vision, cfg.model.image_size, cfg.model.vision_tokens)
        self.net: DeftNet | None = None
        self.llm = None            # LoadedLLM with a peft-wrapped model when use_llm
        self.prompts = None        # PromptBuilder
        self.stats: dict = {}

    # --- building -------------------------------------------------------------------------

    def build(self, experts: list[str]) -> None:
        """Create the trainable modules (and load the LLM + LoRA) for the given experts."""
        from deftmer.utils.seed import seed_everything

        seed_everything(self.cfg.seed)
        m = self.cfg.model
        self.experts = list(experts)
        hidden, scale = None, 1.0
        if m.use_llm:
            from deftmer.model.llm import add_lora, load_llm
            from deftmer.model.prompt import PromptBuilder

            llm = load_llm(m.llm, seed=self.cfg.seed, num_layers=m.llm_layers)
            hidden = llm.hidden_size
            emb = llm.model.get_input_embeddings().weight
            scale = float(emb.norm(dim=-1).median())
            llm.model = add_lora(llm.model, m.lora_rank, m.lora_alpha, m.lora_dropout, list(m.lora_targets)).eval()
            self.llm = llm
            self.prompts = PromptBuilder(llm.tokenizer)
        feat_dim = self.backbone.feature_dim() if ("structure" in experts or "dynamic" in experts) else 1
        torch.manual_seed(self.cfg.seed)
        self.net = DeftNet(self.experts, feat_dim, m.expert_dim, len(self.class_set), hidden, scale, m.dropout)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.net.to(device)
        if self.llm is not None:
            self.llm.model.to(device)

    # --- inputs ---------------------------------------------------------------------------

    def tensors(self, clips: list[ClipInputs]) -> ClipTensors:
        """Stack the model inputs of ``clips`` (frozen features come from the content cache)."""
        assert self.experts is not None
        feats: dict[str, torch.Tensor] = {}
        preps = [c.prepared for c in clips]
        if "structure" in self.experts:
            faces = [p.onset_face if p.onset_face is not None else p.apex_face for p in preps]
            feats["face"] = self.backbone.features(faces, "face")
        if "dynamic" in self.experts:
            missing = [p.sample_id for p in preps if p.diff is None or p.dynamic is None]
            if missing:
                raise UserError(f"{len(missing)} clips (e.g. {missing[0]}) have no difference/dynamic image but this "
                                "model was trained with the dynamic-texture expert; prepare them with onset frames "
                                "or train with model.use_dynamic=false")
            feats["diff"] = self.backbone.features([p.diff for p in preps], "diff")
            feats["dynamic"] = self.backbone.features([p.dynamic for p in preps], "dynamic")
        if "motion" in self.experts:
            feats["motion"] = torch.from_numpy(np.stack(
                [region_motion_features(p.flow, p.strain, p.roi_masks) for p in preps]))
            if feats["motion"].shape[1:] != (len(REGION_NAMES), len(REGION_FEATURES)):
                raise UserError(f"prepared clips have {feats['motion'].shape[1]} ROI masks, the model expects "
                                f"{len(REGION_NAMES)} (facs.REGIONS); re-run `deftmer prepare`")
        labels = torch.tensor([self.class_set.index(c.sample.label) if c.sample.label in self.class_set.classes
                               else -1 for c in clips], dtype=torch.long)
        au_t = torch.zeros(len(clips), len(MODEL_AUS))
        au_m = torch.zeros(len(clips))
        for i, c in enumerate(clips):
            if c.sample.aus:
                au_m[i] = 1.0
                for a in c.sample.aus:
                    if a.number in _AU_INDEX and not a.alternative:
                        au_t[i, _AU_INDEX[a.number]] = 1.0
        return ClipTensors(feats, labels, au_t, au_m)

    # --- losses used by the trainer -------------------------------------------------------

    def expert_losses(self, out: NetOutput, batch: ClipTensors) -> dict[str, torch.Tensor]:
        """Class CE, auxiliary AU BCE (AU-annotated clips only) and disentanglement."""
        m = self.cfg.model
        known = batch.labels >= 0
        losses = {"ce": F.cross_entropy(out.class_logits[known], batch.labels[known]) if known.any()
                  else out.class_logits.sum() * 0}
        if out.au_logits is not None and batch.au_mask.sum() > 0:
            bce = F.binary_cross_entropy_with_logits(out.au_logits, batch.au_targets, reduction="none").mean(1)
            losses["au"] = m.au_weight * (bce * batch.au_mask).sum() / batch.au_mask.sum()
        if len(out.pooled) > 1 and m.disentangle_weight > 0:
            losses["disentangle"] = m.disentangle_weight * disentanglement_loss(out.pooled)
        return losses

    def expert_embeddings(self, out: NetOutput) -> torch.Tensor:
        assert self.net is not None and self.net.fusion is not None
        return self.net.fusion(out.tokens)

    def _base_lm(self):
        return self.llm.model.get_base_model()

    def answer_loss(self, expert_embeds: torch.Tensor, queries: list[list[int]], answers: list[list[int]]) -> torch.Tensor:
        """Language-model loss on the answer tokens only (prompt and experts masked out)."""
        base = self._base_lm()
        asm = self.prompts.assemble(base.get_input_embeddings(), expert_embeds, queries, answers)
        hidden = base.model(inputs_embeds=asm.embeds, attention_mask=asm.mask).last_hidden_state
        target = asm.labels[:, 1:]
        sel = target != -100
        logits = base.lm_head(hidden[:, :-1][sel])   # logits only where there is a target: fast
        return F.cross_entropy(logits.float(), target[sel])

    def option_logprobs(self, expert_embeds: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each class option after the emotion question: (B, K), one forward."""
        from deftmer.model.prompt import emotion_instruction, option_text

        base = self._base_lm()
        B, K = expert_embeds.shape[0], len(self.class_set)
        q = self.prompts.query_ids(emotion_instruction(self.class_set.classes))
        opts = [self.prompts.answer_ids(option_text(c), close=False) for c in self.class_set.classes]
        rep = expert_embeds.repeat_interleave(K, 0)
        asm = self.prompts.assemble(base.get_input_embeddings(), rep, [q] * (B * K), opts * B)
        hidden = base.model(inputs_embeds=asm.embeds, attention_mask=asm.mask).last_hidden_state
        target = asm.labels[:, 1:]
        sel = target != -100
        logp = torch.log_softmax(base.lm_head(hidden[:, :-1][sel]).float(), -1)
        tok_lp = logp.gather(1, target[sel][:, None])[:, 0]
        row = torch.arange(B * K, device=hidden.device)[:, None].expand_as(target)[sel]
        scores = torch.zeros(B * K, device=hidden.device).index_add_(0, row, tok_lp)
        return scores.view(B, K)

    # --- MERModel -------------------------------------------------------------------------

    def fit(self, train: list[ClipInputs], progress: Callable[[str, int, int], None] | None = None,
            checkpoint_dir: Path | None = None) -> dict:
        """Train on ``train`` (training subjects only): stage 1 then stage 2, see train.trainer."""
        from deftmer.train.trainer import train_deft

        if not train:
            raise UserError("no training clips: the training split is empty")
        self.build(active_experts(self.cfg.model, train))
        self.stats = train_deft(self, train, progress=progress, checkpoint_dir=checkpoint_dir)
        return self.stats

    @torch.no_grad()
    def predict(self, clips: list[ClipInputs], explain: bool = False, batch_size: int = 16) -> list[Prediction]:
        if self.net is None:
            raise UserError("the model is not trained: call fit() or load a saved model folder")
        self.net.eval()
        if self.llm is not None:
            self.llm.model.eval()   # LoRA dropout off
        dev = next(self.net.parameters()).device
        preds: list[Prediction] = []
        for s in range(0, len(clips), batch_size):
            part = clips[s:s + batch_size]
            batch = self.tensors(part).to(dev)
            out = self.net(batch.feats)
            logp = torch.log_softmax(out.class_logits.float(), -1)
            emb = None
            if self.llm is not None:
                emb = self.expert_embeddings(out)
                if self.cfg.model.decision != "head":
                    opt = torch.log_softmax(self.option_logprobs(emb), -1)
                    logp = opt if self.cfg.model.decision == "options" else torch.log_softmax(logp + opt, -1)
            probs = logp.exp().cpu().numpy()
            labels = [self.class_set.classes[int(i)] for i in probs.argmax(1)]
            texts = [""] * len(part)
            if explain:
                au_probs = torch.sigmoid(out.au_logits).cpu().numpy() if out.au_logits is not None else None
                evidence = [self.evidence(c, None if au_probs is None else au_probs[j]) for j, c in enumerate(part)]
                texts = self.generate(emb, labels, evidence)
            for c, p, text in zip(part, probs, texts):
                preds.append(self._prediction(c.id, p, text))
        return preds

    def _prediction(self, sample_id: str, probs: np.ndarray, text: str) -> Prediction:
        from deftmer.unimer.answer import parse_answer

        classes = self.class_set.classes
        label = classes[int(np.argmax(probs))]
        pred = Prediction(sample_id, label, {c: float(v) for c, v in zip(classes, probs)})
        if text:
            parsed = parse_answer(text, self.class_set)
            pred.text, pred.aus, pred.evidence, pred.reasoning = text, parsed.aus, parsed.evidence, parsed.reasoning
        return pred

    def evidence(self, clip: ClipInputs, au_probs: np.ndarray | None) -> str:
        """The grounded Evidence line of one clip (see `deftmer.model.evidence`)."""
        from deftmer.model.evidence import grounded_evidence
        from deftmer.unimer.answer import format_evidence

        m = self.cfg.model
        return format_evidence(grounded_evidence(clip.prepared, au_probs, self.cfg.unimer,
                                                 m.evidence_au_threshold, m.evidence_max_aus))

    def generate(self, expert_embeds: torch.Tensor | None, labels: list[str], evidence: list[str]) -> list[str]:
        """Answers ``Emotion: <decided class> / Evidence: <grounded> / Reasoning: <LLM>``.

        Class and evidence are fixed (decided, and grounded in the clip's flow); the LLM
        continues the assistant turn after ``Reasoning:`` (greedy, ``explain_max_tokens``), so
        its reasoning is conditioned on the expert tokens, the class and the evidence. The
        continuation stops at the first line that opens another section. Without an LLM
        (``use_llm=False``) the answer has no Reasoning part.
        """
        from deftmer.model.prompt import emotion_instruction, option_text
        from deftmer.unimer.answer import EVIDENCE_KEY, REASONING_KEY

        heads = [f"{option_text(lab)}\n{EVIDENCE_KEY}: {ev}" for lab, ev in zip(labels, evidence)]
        if expert_embeds is None or self.llm is None or self.cfg.model.explain_max_tokens <= 0:
            return heads
        base = self._base_lm()
        q = self.prompts.query_ids(emotion_instruction(self.class_set.classes))
        heads = [f"{head}\n{REASONING_KEY}:" for head in heads]
        starts = [q + self.prompts.answer_ids(head, close=False) for head in heads]
        # all clips in one greedy generate call, left-padded (the attention mask hides the padding)
        asm = self.prompts.assemble(base.get_input_embeddings(), expert_embeds, starts, left_pad=True)
        ids = self.llm.model.generate(inputs_embeds=asm.embeds, attention_mask=asm.mask, do_sample=False,
                                      max_new_tokens=self.cfg.model.explain_max_tokens,
                                      eos_token_id=self.prompts.eos_id,
                                      pad_token_id=self.llm.tokenizer.pad_token_id)
        texts = []
        for head, row in zip(heads, ids):
            reasoning = _first_section(self.llm.tokenizer.decode(row, skip_special_tokens=True))
            texts.append(f"{head} {reasoning}".rstrip())
        return texts

    # --- persistence ----------------------------------------------------------------------

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Only what training changed: the DeftNet modules and the LoRA adapters."""
        assert self.net is not None
        state = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        if self.llm is not None:
            from peft import get_peft_model_state_dict

            for k, v in get_peft_model_state_dict(self.llm.model).items():
                state[f"lora.{k}"] = v.detach().cpu().contiguous()
        return state

    def load_trained_state(self, state: dict[str, torch.Tensor], where: str) -> None:
        assert self.net is not None
        net_state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
        try:
            self.net.load_state_dict(net_state)
        except RuntimeError as e:
            raise CheckpointError(f"{where} does not match this model's config ({str(e).splitlines()[0]}); "
                                  "load it with the config it was trained with") from None
        if self.llm is not None:
            from peft import set_peft_model_state_dict

            lora = {k[5:]: v for k, v in state.items() if k.startswith("lora.")}
            if not lora:
                raise CheckpointError(f"{where} has no LoRA weights but model.use_llm is on")
            set_peft_model_state_dict(self.llm.model, lora)

    def save(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        from deftmer.utils.io import atomic_write_with

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_with(out_dir / WEIGHTS, lambda p: save_file(self.trained_state(), str(p)))
        write_model_card(out_dir, self.name, self.cfg, self.class_set, experts=self.experts,
                         llm=self.llm.source if self.llm is not None else None, weights=WEIGHTS,
                         stats={k: v for k, v in self.stats.items() if isinstance(v, (int, float, str))})

    @classmethod
    def load(cls, model_dir: Path) -> "DeftModel":
        from safetensors.torch import load_file

        from deftmer.config import ExperimentConfig

        d = Path(model_dir)
        try:
            card = json.loads((d / MODEL_CARD).read_text())
            cfg = ExperimentConfig.model_validate(card["config"])
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{d / MODEL_CARD} is unreadable or not a deft model card ({e}); re-run training") from None
        if not (d / WEIGHTS).is_file():
            raise CheckpointError(f"{d} has no {WEIGHTS}; the training run did not finish - re-run it")
        model = cls(cfg, get_class_set(card["class_set"]))
        model.build(card["experts"])
        model.load_trained_state(load_file(str(d / WEIGHTS)), str(d))
        return model


_NEW_SECTION = re.compile(r"^\s*[*#>_-]*\s*(emotion|class|label|answer|evidence|action units|aus|motion|reasoning)\s*[:：]",
                          re.IGNORECASE)


def _first_section(text: str) -> str:
    """The generated reasoning up to the first line that opens another answer section."""
    kept = []
    for line in text.strip().splitlines():
        if _NEW_SECTION.match(line):
            break
        kept.append(line.strip())
    return " ".join(k for k in kept if k)


@register_model("deft", "DEFT-LLM: structure/dynamic/motion experts, projectors, LLM + LoRA", loader=DeftModel.load)
def create_deft(cfg, class_set: ClassSet) -> DeftModel:
    return DeftModel(cfg, class_set)
