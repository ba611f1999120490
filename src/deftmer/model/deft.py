"""DEFT: three disentangled experts -> projectors -> an LLM with LoRA that decides the class.

The class distribution comes from the LLM (``model.decision``): by default a class head on the
LLM's final hidden state at the answer position of the decision instruction, or the
likelihood of each class answer, or both. Training (`deftmer.model.deft_training`) gives the experts
their own linear head and AU head first (stage 1), then tunes LoRA, the projectors and the LLM
class head with the hybrid objective: class cross-entropy on the LLM's logits plus the
language-model loss on the complete Uni-MER answers (stage 2). With ``explain=True`` the LLM
also writes the reasoning after the decided class and the flow-grounded evidence.
``model.use_llm=False`` is the no-LLM ablation (experts + their linear head) through the same class.

Saved folders hold only what was trained (expert heads, projectors, class heads, LoRA) in one
safetensors file, plus ``model.json`` with the full config and the LLM reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deftmer.data.labels import ClassSet
from deftmer.errors import CheckpointError, UserError
from deftmer.facs import MODEL_AUS, REGION_NAMES
from deftmer.model.api import Prediction, RunConfig, TrainingPhase, register_model
from deftmer.model.backbones import FrozenBackbone
from deftmer.model.card import MODEL_CARD, read_model_card, save_model_folder, weights_file
from deftmer.model.deft_training import training_phases
from deftmer.model.evidence import grounded_evidence
from deftmer.model.experts import DynamicTextureExpert, MotionSemanticsExpert, StructureExpert
from deftmer.model.fusion import ClassHead, ExpertFusion, disentanglement_loss
from deftmer.model.inputs import REGION_FEATURES, flow_field, mirror_clip, region_motion_features
from deftmer.model.language import DeftLanguage
from deftmer.model.llm import add_lora, load_llm
from deftmer.model.prompt import option_text
from deftmer.preprocess.records import ClipInputs
from deftmer.unimer.answer import EVIDENCE_KEY, REASONING_KEY, format_evidence, parse_answer
from deftmer.unimer.builder import motion_descriptions
from deftmer.utils.console import logger
from deftmer.utils.seed import seed_everything

WEIGHTS = "deft.safetensors"
_AU_INDEX = {n: i for i, n in enumerate(MODEL_AUS)}
_FLOW_COLS = [REGION_FEATURES.index(f) for f in ("mean_u", "mean_v", "mean_mag", "p90_mag", "std_u", "std_v")]
_STRAIN_COL = REGION_FEATURES.index("mean_strain")


@dataclass
class ClipTensors:
    """Model inputs of a list of clips, stacked: frozen features, motion inputs, targets."""

    feats: dict[str, torch.Tensor]   # "face" (N,T,C), "diff", "dynamic", "motion" (N,R,F), "field" (N,3,S,S)
    labels: torch.Tensor             # (N,) class index, -1 when unknown
    au_targets: torch.Tensor         # (N, n_aus) multi-hot over MODEL_AUS
    au_mask: torch.Tensor            # (N,) 1 where the clip has AU annotations

    def select(self, idx: torch.Tensor) -> ClipTensors:
        return ClipTensors({k: v[idx] for k, v in self.feats.items()}, self.labels[idx],
                           self.au_targets[idx], self.au_mask[idx])

    def to(self, device: torch.device) -> ClipTensors:
        return ClipTensors({k: v.to(device) for k, v in self.feats.items()}, self.labels.to(device),
                           self.au_targets.to(device), self.au_mask.to(device))


@dataclass
class NetOutput:
    summaries: dict[str, torch.Tensor]   # one (B, dim) per active expert, weighted by its gate
    pooled: list[torch.Tensor]           # the same, unweighted, for disentanglement
    class_logits: torch.Tensor           # (B, n_classes) of the experts' own linear head
    au_logits: torch.Tensor | None       # (B, n_aus) when the motion expert is on


class DeftNet(nn.Module):
    """Every trained module except LoRA: experts, their class head, projectors, the LLM class head."""

    def __init__(self, experts: list[str], feat_dim: int, n_classes: int, llm_hidden: int | None,
                 embed_scale: float, m) -> None:
        super().__init__()
        dim = m.expert_dim
        self.experts = list(experts)
        # each expert's weight (see model.reliability); 1 = untouched
        self.register_buffer("expert_gate", torch.ones(len(self.experts)))
        mods: dict[str, nn.Module] = {}
        if "structure" in experts:
            mods["structure"] = StructureExpert(feat_dim, dim, m.dropout)
        if "dynamic" in experts:
            mods["dynamic"] = DynamicTextureExpert(feat_dim, dim, m.dropout)
        if "motion" in experts:
            mods["motion"] = MotionSemanticsExpert(dim, dropout=m.dropout, field_size=m.motion_field_size,
                                                   field_channels=tuple(m.motion_field_channels),
                                                   field_dropout=m.motion_field_dropout)
        self.expert_modules = nn.ModuleDict(mods)
        self.class_head = ClassHead(dim * len(experts), n_classes, dropout=0.2)
        self.fusion = None
        self.decision_head = None
        if llm_hidden:
            if m.llm_input == "experts":
                self.fusion = ExpertFusion(self.experts, dim, llm_hidden, embed_scale, {"motion": m.motion_llm_tokens})
            self.decision_head = nn.Sequential(nn.LayerNorm(llm_hidden), nn.Dropout(0.1),
                                               nn.Linear(llm_hidden, n_classes))

    def forward(self, feats: dict[str, torch.Tensor]) -> NetOutput:
        pooled: dict[str, torch.Tensor] = {}
        au_logits = None
        mods = self.expert_modules
        if "structure" in mods:
            pooled["structure"] = mods["structure"].pool(mods["structure"](feats["face"]))
        if "dynamic" in mods:
            pooled["dynamic"] = mods["dynamic"].pool(mods["dynamic"](feats["diff"], feats["dynamic"]))
        if "motion" in mods:
            _, pooled["motion"], au_logits = mods["motion"](feats["motion"], feats.get("field"))
        plain = [pooled[e] for e in self.experts]
        gated = {e: pooled[e] * self.expert_gate[i] for i, e in enumerate(self.experts)}
        logits = self.class_head(torch.cat([gated[e] for e in self.experts], -1))
        return NetOutput(gated, plain, logits, au_logits)


def active_experts(cfg_model, clips: list[ClipInputs]) -> list[str]:
    """Experts switched on in the config whose inputs every clip has; says which were dropped."""
    wanted = list(cfg_model.experts)
    if "dynamic" in wanted and any(c.prepared.diff is None or c.prepared.dynamic is None for c in clips):
        if wanted == ["dynamic"]:
            raise UserError("no onset frames, so no dynamic-texture input (e.g. a flowpack dataset), and the "
                            "dynamic-texture expert is the only one switched on; add another expert to "
                            "model.experts (e.g. model.experts=[structure,dynamic,motion])")
        logger.info("dynamic-texture expert left out: these clips have no onset frame "
                    "(difference/dynamic images missing, e.g. a flowpack dataset)")
        wanted.remove("dynamic")
    if not wanted:
        raise UserError("every expert is switched off (model.experts is empty); name at least one")
    return wanted


def class_weights(labels: torch.Tensor, n_classes: int, balanced: bool) -> torch.Tensor | None:
    """Inverse-frequency class weights (mean 1 over the training clips), or None when off.

    Macro UF1 counts every class alike, so a rare class must cost as much as a common one.
    Classes absent from training get weight 0 (nothing to learn from them).
    """
    if not balanced:
        return None
    known = labels[labels >= 0]
    counts = torch.bincount(known, minlength=n_classes).float()
    w = torch.where(counts > 0, len(known) / (n_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return w.to(labels.device)


class DeftModel:
    """The DEFT-LLM model behind the ``MERModel`` protocol (see module docstring)."""

    name = "deft"

    def __init__(self, cfg: RunConfig, class_set: ClassSet, experts: list[str] | None = None) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.experts: list[str] | None = experts
        self.backbone = FrozenBackbone(cfg.model.vision, cfg.model.image_size, cfg.model.vision_tokens)
        self.net: DeftNet | None = None
        self.language = None       # DeftLanguage (LLM + LoRA + prompts) when use_llm
        self.stats: dict = {}

    @property
    def llm(self):
        return None if self.language is None else self.language.llm

    @property
    def decision(self) -> str:
        """How the class is decided: the config's choice, or the experts' head without an LLM."""
        return self.cfg.model.decision if self.language is not None else "head"

    # --- building -------------------------------------------------------------------------

    def build(self, experts: list[str]) -> None:
        """Create the trainable modules (and load the LLM + LoRA) for the given experts."""

        seed_everything(self.cfg.seed)
        m = self.cfg.model
        self.experts = list(experts)
        hidden, scale = None, 1.0
        if m.use_llm:
            llm = load_llm(m.llm, seed=self.cfg.seed, num_layers=m.llm_layers)
            hidden = llm.hidden_size
            scale = float(llm.model.get_input_embeddings().weight.norm(dim=-1).median())
            llm.model = add_lora(llm.model, m.lora_rank, m.lora_alpha, m.lora_dropout, list(m.lora_targets)).eval()
            self.language = DeftLanguage(llm, self.class_set.classes, self.cfg.train.llm_precision)
        feat_dim = self.backbone.feature_dim() if ("structure" in experts or "dynamic" in experts) else 1
        torch.manual_seed(self.cfg.seed)
        self.net = DeftNet(self.experts, feat_dim, len(self.class_set), hidden, scale, m)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.net.to(device)
        if self.language is not None:
            self.language.llm.model.to(device)

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
                                "or train without it in model.experts")
            feats["diff"] = self.backbone.features([p.diff for p in preps], "diff")
            feats["dynamic"] = self.backbone.features([p.dynamic for p in preps], "dynamic")
        if "motion" in self.experts:
            feats.update(self._motion_inputs(preps))
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

    def _motion_inputs(self, preps) -> dict[str, torch.Tensor]:
        out = {"motion": torch.from_numpy(np.stack([region_motion_features(p.flow, p.strain, p.roi_masks)
                                                    for p in preps]))}
        if out["motion"].shape[1:] != (len(REGION_NAMES), len(REGION_FEATURES)):
            raise UserError(f"prepared clips have {out['motion'].shape[1]} ROI masks, the model expects "
                            f"{len(REGION_NAMES)} (facs.REGIONS); re-run `deftmer prepare`")
        size = self.cfg.model.motion_field_size
        if size:
            out["field"] = torch.from_numpy(np.stack([flow_field(p, size) for p in preps]))
        return out

    def jitter(self, batch: ClipTensors, gen: torch.Generator) -> ClipTensors:
        """The same motion a bit stronger or weaker (``model.intensity_jitter``): a physically
        valid variant of a clip, like its mirror image (`deftmer.model.inputs.mirror_clip`)."""
        sigma = self.cfg.model.intensity_jitter
        if "motion" not in batch.feats or sigma <= 0:
            return batch
        scale = torch.exp(torch.randn(batch.labels.shape[0], 2, generator=gen) * sigma).to(batch.labels.device)
        x = batch.feats["motion"].clone()
        x[..., _FLOW_COLS] = x[..., _FLOW_COLS] * scale[:, :1, None]
        x[..., _STRAIN_COL] = x[..., _STRAIN_COL] * scale[:, 1:]
        return ClipTensors({**batch.feats, "motion": x}, batch.labels, batch.au_targets, batch.au_mask)

    # --- losses used by the trainer -------------------------------------------------------

    def class_weights(self, labels: torch.Tensor) -> torch.Tensor | None:
        return class_weights(labels, len(self.class_set), self.cfg.model.class_balanced)

    def expert_losses(self, out: NetOutput, batch: ClipTensors, weights: torch.Tensor | None = None
                      ) -> dict[str, torch.Tensor]:
        """Class CE of the experts' head, auxiliary AU BCE (AU-annotated clips only), disentanglement."""
        m = self.cfg.model
        known = batch.labels >= 0
        losses = {"ce": F.cross_entropy(out.class_logits[known], batch.labels[known], weight=weights)
                  if known.any() else out.class_logits.sum() * 0}
        if out.au_logits is not None and batch.au_mask.sum() > 0:
            bce = F.binary_cross_entropy_with_logits(out.au_logits, batch.au_targets, reduction="none").mean(1)
            losses["au"] = m.au_weight * (bce * batch.au_mask).sum() / batch.au_mask.sum()
        if len(out.pooled) > 1 and m.disentangle_weight > 0:
            losses["disentangle"] = m.disentangle_weight * disentanglement_loss(out.pooled)
        return losses

    def text_inputs(self, clips: list[ClipInputs]) -> list[list[int]] | None:
        """Token ids of each clip's measured motion written as text, when the LLM reads text
        (``model.llm_input="motion_text"``); None when it reads expert tokens."""
        if self.language is None or self.cfg.model.llm_input != "motion_text":
            return None

        texts = motion_descriptions(clips, self.class_set, self.cfg.unimer)
        return [self.language.prompts.answer_ids(t, close=False) for t in texts]

    def llm_inputs(self, out: NetOutput, text_ids: list[list[int]] | None = None):
        """What goes into the expert slot: projected expert tokens, or the motion text's embeddings."""
        if text_ids is None:
            return self.net.fusion(out.summaries)
        embed = self.language.base.get_input_embeddings()
        dev = out.class_logits.device
        return [embed(torch.tensor(ids, device=dev, dtype=torch.long)) for ids in text_ids]

    def llm_losses(self, out: NetOutput, batch: ClipTensors, answers: list[list[int]] | None,
                   weights: torch.Tensor | None = None, text_ids: list[list[int]] | None = None
                   ) -> dict[str, torch.Tensor]:
        """Stage 2's hybrid objective: class CE on the LLM's class logits + the LM loss on the
        complete answers (``answers=None``: the class CE alone, on rows without answers)."""
        assert self.language is not None and self.net is not None
        m = self.cfg.model
        run = self.language.run(self.llm_inputs(out, text_ids), answers)
        logits = self.net.decision_head(run.answer_state)
        known = batch.labels >= 0
        losses = {} if run.lm_loss is None else {"lm": m.lm_weight * run.lm_loss}
        if known.any():
            losses["llm_ce"] = m.ce_weight * F.cross_entropy(logits[known], batch.labels[known], weight=weights)
        return losses

    def class_logprobs(self, out: NetOutput, text_ids: list[list[int]] | None = None) -> torch.Tensor:
        """Log-probabilities of the classes under ``self.decision`` (see module docstring)."""
        expert = torch.log_softmax(out.class_logits.float(), -1)
        if self.decision == "head":
            return expert
        emb = self.llm_inputs(out, text_ids)
        parts = []
        if self.decision in ("llm", "hybrid"):
            parts.append(torch.log_softmax(self.net.decision_head(self.language.run(emb).answer_state), -1))
        if self.decision in ("options", "hybrid"):
            parts.append(torch.log_softmax(self.language.option_logprobs(emb), -1))
        return torch.log_softmax(sum(parts), -1)

    # --- MERModel -------------------------------------------------------------------------

    def setup_training(self, train: list[ClipInputs]) -> None:
        """Build the modules for the experts these clips have inputs for (see `active_experts`)."""
        self.build(active_experts(self.cfg.model, train))

    def training_phases(self, train: list[ClipInputs], device) -> tuple[list[TrainingPhase], dict]:
        """Stage 1 (experts) then stage 2 (the LLM): see `deftmer.model.deft_training`; run by
        `deftmer.train.trainer.fit_model`."""
        return training_phases(self, train, device)

    def checkpoint_identity(self) -> list:
        return [self.cfg.model_dump(mode="json"), self.experts]

    @torch.no_grad()
    def predict(self, clips: list[ClipInputs], explain: bool = False, batch_size: int = 16) -> list[Prediction]:
        if self.net is None:
            raise UserError("the model is not trained: call fit() or load a saved model folder")
        self.net.eval()
        if self.language is not None:
            self.language.llm.model.eval()   # LoRA dropout off
        dev = next(self.net.parameters()).device
        preds: list[Prediction] = []
        for s in range(0, len(clips), batch_size):
            part = clips[s:s + batch_size]
            out = self.net(self.tensors(part).to(dev).feats)
            text_ids = self.text_inputs(part)
            probs = self.class_logprobs(out, text_ids).exp()
            if self.cfg.model.mirror_tta:
                mirrored = [mirror_clip(c) for c in part]
                m_out = self.net(self.tensors(mirrored).to(dev).feats)
                probs = (probs + self.class_logprobs(m_out, self.text_inputs(mirrored)).exp()) / 2
            probs = probs.cpu().numpy()
            labels = [self.class_set.classes[int(i)] for i in probs.argmax(1)]
            texts = [""] * len(part)
            if explain:
                au_probs = torch.sigmoid(out.au_logits).cpu().numpy() if out.au_logits is not None else None
                evidence = [self.evidence(c, None if au_probs is None else au_probs[j]) for j, c in enumerate(part)]
                texts = self.generate(out, labels, evidence, text_ids)
            for c, p, text in zip(part, probs, texts):
                preds.append(self._prediction(c.id, p, text))
        return preds

    def _prediction(self, sample_id: str, probs: np.ndarray, text: str) -> Prediction:
        classes = self.class_set.classes
        label = classes[int(np.argmax(probs))]
        pred = Prediction(sample_id, label, {c: float(v) for c, v in zip(classes, probs)})
        if text:
            parsed = parse_answer(text, self.class_set)
            pred.text, pred.aus, pred.evidence, pred.reasoning = text, parsed.aus, parsed.evidence, parsed.reasoning
        return pred

    def evidence(self, clip: ClipInputs, au_probs: np.ndarray | None) -> str:
        """The grounded Evidence line of one clip (see `deftmer.model.evidence`)."""

        m = self.cfg.model
        return format_evidence(grounded_evidence(clip.prepared, au_probs, self.cfg.unimer,
                                                 m.evidence_au_threshold, m.evidence_max_aus))

    def generate(self, out: NetOutput, labels: list[str], evidence: list[str],
                 text_ids: list[list[int]] | None = None) -> list[str]:
        """Answers ``Emotion: <decided class> / Evidence: <grounded> / Reasoning: <LLM>``.

        Class and evidence are fixed (decided, and grounded in the clip's flow); the LLM
        continues the assistant turn after ``Reasoning:`` (greedy, ``explain_max_tokens``), so
        its reasoning is conditioned on the expert tokens, the class and the evidence. The
        continuation stops at the first line that opens another section. Without an LLM
        (``use_llm=False``) the answer has no Reasoning part.
        """

        heads = [f"{option_text(lab)}\n{EVIDENCE_KEY}: {ev}" for lab, ev in zip(labels, evidence)]
        if self.language is None or self.cfg.model.explain_max_tokens <= 0:
            return heads
        heads = [f"{head}\n{REASONING_KEY}:" for head in heads]
        cont = self.language.continue_answers(self.llm_inputs(out, text_ids), heads, self.cfg.model.explain_max_tokens)
        return [f"{head} {_first_section(text)}".rstrip() for head, text in zip(heads, cont)]

    # --- persistence ----------------------------------------------------------------------

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Only what training changed: the DeftNet modules and the LoRA adapters."""
        assert self.net is not None
        state = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        if self.language is not None:
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
        if self.language is not None:
            from peft import set_peft_model_state_dict

            lora = {k[5:]: v for k, v in state.items() if k.startswith("lora.")}
            if not lora:
                raise CheckpointError(f"{where} has no LoRA weights but model.use_llm is on")
            set_peft_model_state_dict(self.llm.model, lora)

    def save(self, out_dir: Path) -> None:
        from safetensors.torch import save_file


        state = self.trained_state()
        save_model_folder(out_dir, self.name, self.cfg, self.class_set, WEIGHTS, lambda p: save_file(state, str(p)),
                          experts=self.experts, llm=self.llm.source if self.llm is not None else None,
                          stats={k: v for k, v in self.stats.items() if isinstance(v, (int, float, str))})

    @classmethod
    def load(cls, model_dir: Path) -> DeftModel:
        from safetensors.torch import load_file

        d = Path(model_dir)
        card = read_model_card(d)
        if "experts" not in card.extra:
            raise CheckpointError(f"{d / MODEL_CARD} is not a deft model card (no 'experts'); re-run training")
        path = weights_file(d, WEIGHTS)
        model = cls(card.cfg, card.class_set)
        model.build(card.extra["experts"])
        model.load_trained_state(load_file(str(path)), str(d))
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
def create_deft(cfg: RunConfig, class_set: ClassSet) -> DeftModel:
    return DeftModel(cfg, class_set)
