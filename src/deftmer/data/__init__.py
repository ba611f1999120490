"""Data layer: `Sample` records, the dataset registry, one loader per dataset, SynthME."""

from deftmer.data.dataset import MEDataset, list_datasets, load_dataset, register_dataset
from deftmer.data.labels import CLASS_SETS, ClassSet, get_class_set
from deftmer.data.sample import ActionUnit, Problem, Sample

# Loader modules register themselves on import (one line per dataset).
from deftmer.data import casme2  # noqa: F401,E402
from deftmer.data import samm  # noqa: F401,E402
from deftmer.data import smic  # noqa: F401,E402
from deftmer.data import casme3  # noqa: F401,E402
from deftmer.data import composite  # noqa: F401,E402
from deftmer.data import flowpack  # noqa: F401,E402
from deftmer.data import synth  # noqa: F401,E402

__all__ = [
    "ActionUnit", "CLASS_SETS", "ClassSet", "MEDataset", "Problem", "Sample",
    "get_class_set", "list_datasets", "load_dataset", "register_dataset",
]
