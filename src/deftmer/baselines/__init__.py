"""Comparison models on the same cached inputs and LOSO folds as DEFT.

Each module registers its models with `deftmer.model.api.register_model` when imported (what
`deftmer.models` does on first use): ``flow-cnn`` (STSTNet-style CNN on flow), ``htnet``
(HTNet), ``mdmo-svm`` (MDMO region features + linear SVM), ``field-svm`` (RBF SVM on the motion
expert's flow field) and the DEFT ablations
(``deft-no-llm``, ``deft-*-only``, ``deft-no-motion``, ``deft-motion-text``). Nothing is
imported here, so reading `BaselinesConfig` stays cheap.
"""
