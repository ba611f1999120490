"""DEFT: disentangled experts -> projectors -> an LLM with LoRA that decides the class.

The LLM takes part in every decision (``model.decision``): by default its class head on its
final hidden state at the answer position of the decision instruction, weighed with the experts'
own head (the product of the two distributions); or that LLM head alone, or the likelihood of each
class answer. Every prediction also carries each part alone (`deftmer.model.api.Prediction.parts`),
so a run shows what the LLM and the experts' head each decide on the same trained model.
Training (`deftmer.model.deft_training`) gives the experts
their own linear head and AU head first (stage 1), then tunes LoRA, the projectors and the LLM
class head with the hybrid objective: class cross-entropy on the LLM's logits plus the
language-model loss on the complete Uni-MER answers (stage 2). With ``explain=True`` the LLM
also writes the reasoning after the decided class and the flow-grounded evidence.
``model.use_llm=False`` is the no-LLM ablation (experts + their linear head) through the same class.

`DeftModel` composes the parts, one module each:

========================  ====================================================================
`model.config`            `DeftConfig`: every setting, documented
`model.experts`           the experts, registered by name: ``build_inputs`` and ``forward``
`model.backbones`, `llm`  the frozen vision backbone and the LLM, registered by name
`model.deft_net`          `DeftNet`: experts, class head, projectors, LLM class head
`model.deft_inputs`       which experts the clips can feed; their stacked inputs and targets
`model.deft_losses`       the experts' losses and the LLM's hybrid objective
`model.deft_decision`     what the LLM reads and how the class is decided
`model.deft_explain`      the explained answer (class, grounded evidence, LLM reasoning)
`model.deft_training`     the preparation and the two training phases
`model.deft_crossfit`     stage 2's expert tokens from experts that never saw the clip's subject
`model.deft_state`        the saved folder: trained weights and model card
========================  ====================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deftmer.data.labels import ClassSet
from deftmer.errors import UserError
from deftmer.model import deft_decision, deft_explain, deft_losses, deft_state
from deftmer.model.api import Prediction, RunConfig, TrainingPhase, register_model
from deftmer.model.backbones import FrozenBackbone
from deftmer.model.deft_inputs import ClipTensors, Mixup, active_experts, clip_tensors
from deftmer.model.deft_net import DeftNet, NetOutput
from deftmer.model.deft_training import training_phases
from deftmer.model.experts import expert_class
from deftmer.model.inputs import mirror_clip
from deftmer.model.language import DeftLanguage
from deftmer.preprocess.records import ClipInputs
from deftmer.utils.seed import seed_everything

WEIGHTS = deft_state.WEIGHTS


class DeftModel:
    """The DEFT-LLM model behind the ``MERModel`` protocol (see module docstring)."""

    name = "deft"

    def __init__(self, cfg: RunConfig, class_set: ClassSet, experts: list[str] | None = None) -> None:
        self.cfg = cfg
        self.class_set = class_set
        self.experts: list[str] | None = experts
        self.backbone = FrozenBackbone(cfg.model.vision, cfg.model.image_size, cfg.model.vision_tokens)
        self.net: DeftNet | None = None
        self.language: DeftLanguage | None = None   # the LLM + LoRA + prompts, when model.use_llm
        self.stats: dict = {}

    @property
    def llm(self):
        return None if self.language is None else self.language.llm

    @property
    def decision(self) -> str:
        """How the class is decided: the config's choice, or the experts' head without an LLM."""
        return self.cfg.model.decision if self.language is not None else "head"

    def build(self, experts: list[str]) -> None:
        """Create the trainable modules (and load the LLM + LoRA) for the given experts."""
        seed_everything(self.cfg.seed)
        m = self.cfg.model
        self.experts = list(experts)
        if m.use_llm:
            self.language = DeftLanguage.from_config(m, self.class_set.classes, self.cfg.seed,
                                                     self.cfg.train.llm_precision)
        if any(expert_class(e).reads_backbone for e in self.experts):
            self.backbone.feature_dim()   # load it before seeding: building a network draws random numbers
        torch.manual_seed(self.cfg.seed)
        lang = self.language
        self.net = DeftNet(self.experts, m, self.backbone, len(self.class_set),
                           None if lang is None else lang.hidden_size, 1.0 if lang is None else lang.embed_scale)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.net.to(device)
        if self.language is not None:
            self.language.llm.model.to(device)

    # --- inputs and losses (used by deft_training) ---------------------------------------

    def tensors(self, clips: list[ClipInputs]) -> ClipTensors:
        """Stack the model inputs of ``clips`` (see `deftmer.model.deft_inputs`)."""
        assert self.net is not None
        return clip_tensors(self.net, clips, self.class_set)

    def jitter(self, batch: ClipTensors, gen: torch.Generator) -> ClipTensors:
        """A training batch as a physically valid variant (each expert's ``augment``; the motion
        expert's: ``model.intensity_jitter``), like its mirror image (`deftmer.model.inputs.mirror_clip`)."""
        feats = self.net.augment(batch.feats, gen, self.cfg.model)
        return batch if feats is batch.feats else ClipTensors(feats, batch.labels, batch.au_targets, batch.au_mask)

    def class_weights(self, labels: torch.Tensor) -> torch.Tensor | None:
        return deft_losses.class_weights(labels, len(self.class_set), self.cfg.model.class_balanced)

    def expert_losses(self, out: NetOutput, batch: ClipTensors, weights: torch.Tensor | None = None,
                      mix: Mixup | None = None) -> dict[str, torch.Tensor]:
        return deft_losses.expert_losses(self.cfg.model, out, batch, weights, mix)

    def text_inputs(self, clips: list[ClipInputs]) -> list[list[int]] | None:
        """Token ids of each clip's measured motion as text when the LLM reads text
        (``model.llm_input="motion_text"``); None when it reads expert tokens."""
        if self.language is None or self.cfg.model.llm_input != "motion_text":
            return None
        return deft_decision.motion_text_ids(self.language, clips, self.class_set, self.cfg.unimer)

    def llm_inputs(self, out: NetOutput, text_ids: list[list[int]] | None = None):
        return deft_decision.llm_inputs(self.net, self.language, out, text_ids)

    def llm_losses(self, out: NetOutput, batch: ClipTensors, answers: list[list[int]] | None,
                   weights: torch.Tensor | None = None, text_ids: list[list[int]] | None = None
                   ) -> dict[str, torch.Tensor]:
        assert self.language is not None and self.net is not None
        return deft_losses.llm_losses(self.cfg.model, self.net, self.language, self.llm_inputs(out, text_ids),
                                      batch, answers, weights, teacher=out.class_logits)

    def class_logprobs(self, out: NetOutput, text_ids: list[list[int]] | None = None) -> torch.Tensor:
        return deft_decision.class_logprobs(self.net, self.language, self.decision, out, text_ids)

    def _class_probs(self, clips: list[ClipInputs], dev: torch.device) -> tuple[NetOutput, torch.Tensor,
                                                                              dict[str, torch.Tensor]]:
        """The expert outputs, the decision's class probabilities and each part's (by part name),
        averaged with the mirror image's when ``model.mirror_tta``."""
        views = [clips] + ([[mirror_clip(c) for c in clips]] if self.cfg.model.mirror_tta else [])
        outs, probs, parts = [], 0.0, {}
        for view in views:
            outs.append(self.net(self.tensors(view).to(dev).feats))
            lp = deft_decision.part_logprobs(self.net, self.language, self.decision, outs[-1], self.text_inputs(view))
            probs = probs + deft_decision.combine_parts(self.decision, lp).exp()
            parts = {k: parts.get(k, 0.0) + v.exp() for k, v in lp.items()}
        return outs[0], probs / len(views), {k: v / len(views) for k, v in parts.items()}

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
            preds.extend(self._predict_batch(clips[s:s + batch_size], explain, dev))
        return preds

    def _predict_batch(self, part: list[ClipInputs], explain: bool, dev: torch.device) -> list[Prediction]:
        out, probs, part_probs = self._class_probs(part, dev)
        probs = probs.cpu().numpy()
        # every part beside a decision it does not make alone (the experts' head beside the LLM; both
        # beside ``joint``): what each adds, on the same trained model
        alone = deft_decision.DECISION_PARTS[self.decision]
        parts = {k: v.cpu().numpy() for k, v in part_probs.items() if alone != (k,)}
        texts = self._answers(part, out, probs, self.text_inputs(part)) if explain else [""] * len(part)
        return [deft_explain.to_prediction(c.id, p, text, self.class_set, {k: v[j] for k, v in parts.items()})
                for j, (c, p, text) in enumerate(zip(part, probs, texts))]

    def _answers(self, part: list[ClipInputs], out: NetOutput, probs: np.ndarray,
                 text_ids: list[list[int]] | None) -> list[str]:
        """The explained answers of a batch (see `deftmer.model.deft_explain`)."""
        labels = [self.class_set.classes[int(i)] for i in probs.argmax(1)]
        au_probs = torch.sigmoid(out.au_logits).cpu().numpy() if out.au_logits is not None else None
        evidence = [deft_explain.clip_evidence(c, None if au_probs is None else au_probs[j], self.cfg.model,
                                               self.cfg.unimer) for j, c in enumerate(part)]
        return deft_explain.answers(self.language, self.cfg.model, labels, evidence,
                                    lambda: self.llm_inputs(out, text_ids))

    # --- persistence (see `deftmer.model.deft_state`) ---------------------------------------

    def trained_state(self) -> dict[str, torch.Tensor]:
        assert self.net is not None
        return deft_state.trained_state(self.net, self.language)

    def load_trained_state(self, state: dict[str, torch.Tensor], where: str) -> None:
        assert self.net is not None
        deft_state.load_trained_state(self.net, self.language, state, where)

    def save(self, out_dir: Path) -> None:
        deft_state.save_deft(self, out_dir)

    @classmethod
    def load(cls, model_dir: Path) -> DeftModel:
        return deft_state.load_deft(cls, model_dir)


@register_model("deft", "DEFT-LLM: structure/dynamic/motion experts, projectors, LLM + LoRA", loader=DeftModel.load)
def create_deft(cfg: RunConfig, class_set: ClassSet) -> DeftModel:
    return DeftModel(cfg, class_set)
