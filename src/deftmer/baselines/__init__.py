"""Comparison models on the same cached inputs and LOSO folds as DEFT.

Importing this package registers them with `deftmer.model.api.register_model`:
``flow-cnn`` (STSTNet-style CNN on flow), ``htnet`` (HTNet), ``mdmo-svm`` (MDMO region features + linear SVM)
and the DEFT ablations (``deft-no-llm``, ``deft-*-only``, ``deft-no-motion``). The modules
import torch/sklearn lazily, so this import is cheap.
"""

from deftmer.baselines import ablations, flow_cnn, htnet, mdmo_svm  # noqa: F401  (registration)
