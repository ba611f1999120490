"""Data layer: `Sample` records, the dataset registry, one loader per dataset, SynthME."""

from deftmer.data.dataset import MEDataset, list_datasets, load_dataset, register_dataset
from deftmer.data.labels import CLASS_SETS, ClassSet, get_class_set
from deftmer.data.sample import ActionUnit, Problem, Sample

# Loader modules register themselves when `load_dataset`/`list_datasets` first runs
# (deftmer.data.dataset.LOADER_MODULES), so importing a record type stays light and acyclic.

__all__ = [
    "ActionUnit", "CLASS_SETS", "ClassSet", "MEDataset", "Problem", "Sample",
    "get_class_set", "list_datasets", "load_dataset", "register_dataset",
]
