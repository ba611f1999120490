"""Settings of the comparison models; a fixed recipe each, so no choice can look at a test subject.

Kept in their own config section (``baselines.flow_cnn.epochs=...``) so a baseline run is
described by the same saved ``config.yaml`` as a DEFT run. Importing this module is cheap
(no torch, no sklearn): the whole config tree imports it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FlowCnnConfig(BaseModel):
    """STSTNet-style shallow CNN on (u, v, strain) resized to ``input_size``."""

    model_config = ConfigDict(extra="forbid")

    input_size: int = Field(28, ge=8, le=128)
    channels: tuple[int, int, int] = (3, 5, 8)   # STSTNet's three parallel conv branches
    epochs: int = Field(60, ge=1)                # fixed; never chosen on a test fold
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    class_weighted: bool = True                  # inverse-frequency CE weights (UF1 is macro)
    flip_augment: bool = True                    # mirror the face: u -> -u, columns reversed
    threads: int = Field(1, ge=1)                # torch intra-op threads while fitting/predicting


class MdmoSvmConfig(BaseModel):
    """MDMO-style region features + linear SVM (scikit-learn ``LinearSVC``)."""

    model_config = ConfigDict(extra="forbid")

    direction_bins: int = Field(8, ge=2)         # orientation bins for main direction + histogram
    histograms: bool = False                     # add each region's magnitude-weighted orientation histogram (HOOF-like; more features than small LOSO folds support)
    strain: bool = True                          # add each region's mean optical strain
    normalise: Literal["max_region", "none"] = "max_region"  # MDMO: divide by the clip's largest region
    C: float = Field(1.0, gt=0)
    class_weighted: bool = True
    max_iter: int = Field(20000, ge=100)


class FieldSvmConfig(BaseModel):
    """The flow field as DEFT's motion expert reads it -> PCA -> RBF SVM (scikit-learn ``SVC``)."""

    model_config = ConfigDict(extra="forbid")

    input_size: int = Field(28, ge=8, le=128)     # side of the field (the flow packs' 28)
    pca_components: int = Field(64, ge=2)        # issue #11's floor used PCA-64
    C: float = Field(1.0, gt=0)                  # scikit-learn's default; gamma is its "scale" default
    class_weighted: bool = True
    flip_augment: bool = True                    # train on the mirrored faces too (u negated, columns reversed)
    mirror_tta: bool = True                      # average the clip's and its mirror image's class scores


class HTNetConfig(BaseModel):
    """HTNet as published (architecture) with a fixed schedule instead of per-subject best epochs."""

    model_config = ConfigDict(extra="forbid")

    patch_size: int = Field(7, ge=1)
    dim: int = Field(256, ge=8)                  # width of the first level, doubled per level
    heads: int = Field(3, ge=1)                  # heads of the first level, doubled per level
    hierarchies: int = Field(3, ge=1, le=3)
    block_repeats: tuple[int, ...] = (2, 2, 10)
    dropout: float = Field(0.0, ge=0, lt=1)
    epochs: int = Field(100, ge=1)               # fixed; never chosen on a test fold
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-5, gt=0)                # the published Adam learning rate
    class_weighted: bool = True
    flip_augment: bool = True


class BaselinesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow_cnn: FlowCnnConfig = FlowCnnConfig()
    htnet: HTNetConfig = HTNetConfig()
    mdmo_svm: MdmoSvmConfig = MdmoSvmConfig()
    field_svm: FieldSvmConfig = FieldSvmConfig()
