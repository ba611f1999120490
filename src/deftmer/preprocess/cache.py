"""The on-disk cache of `PreparedSample`s that every later stage reads.

Layout: ``<cache_dir>/<config hash>/<dataset>/<subject>/<clip>.npz``, one file per sample,
written atomically. The config hash is a folder, so a changed preprocessing config starts a
fresh set (and the old one stays valid for its own config). A sample that failed (no face,
unreadable frame) gets ``<clip>.failed.json`` with the reason instead, so a resumed run does
not retry it and later stages can say why it is absent.

Storage (format 2): an *uncompressed* ``.npz`` with the float maps (flow, strain, dynamic
image) as float16 and the region masks bit-packed. zlib compression cost 35-55% of a DIS or
Farneback run for ~25% smaller files; float16 keeps |error| <= 2^-11 relative (< 0.001 px on a
2 px flow), far below optical-flow error, and the pipeline already rounds its output to that
precision (`round_to_storage`), so storing loses nothing. Loading returns the documented
float32 / bool arrays, and reads format-1 files (compressed float32) unchanged.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.dynamic import difference_image
from deftmer.preprocess.records import PreparedSample
from deftmer.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CACHE_FORMAT = 2
#: Float maps stored as float16 (loaded back as float32).
HALF_FIELDS = ("flow", "strain", "dynamic")


def round_to_storage(p: PreparedSample) -> PreparedSample:
    """Round ``p``'s float maps to float16 precision in place (they stay float32 arrays).

    The pipeline applies this to every sample it returns, so a clip prepared in memory
    (``deftmer predict``) equals, bit for bit, the same clip loaded from the cache (training).
    """
    for name in HALF_FIELDS:
        value = getattr(p, name)
        if value is not None:
            setattr(p, name, value.astype(np.float16).astype(np.float32))
    return p


def _safe(part: str) -> str:
    s = _UNSAFE.sub("_", part).strip(".") or "_"
    return s


def to_arrays(p: PreparedSample) -> dict[str, np.ndarray]:
    """A PreparedSample as the named arrays stored in its file (the difference image is derived, not stored)."""
    masks = np.asarray(p.roi_masks, bool)
    arrays: dict[str, np.ndarray] = {
        "apex_face": p.apex_face,
        "roi_masks_packed": np.packbits(masks, axis=-1),
        "roi_masks_shape": np.asarray(masks.shape, np.int64),
        "head_motion": np.asarray(p.head_motion, np.float64),
        "info": np.array(json.dumps({
            "format": CACHE_FORMAT, "sample_id": p.sample_id, "dataset": p.dataset, "subject": p.subject,
            "label": p.label, "onset_index": p.onset_index, "apex_index": p.apex_index,
            "apex_spotted": p.apex_spotted, "flow_method": p.flow_method, "meta": p.meta,
        }, sort_keys=True)),
    }
    for name in ("flow", "strain", "onset_face", "dynamic", "landmarks"):
        value = getattr(p, name)
        if value is not None:
            arrays[name] = value.astype(np.float16) if name in HALF_FIELDS else value
    return arrays


def _float32(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a.astype(np.float32, copy=False)


def from_arrays(arrays: dict[str, np.ndarray]) -> PreparedSample:
    """The inverse of `to_arrays` (also reads format-1 files: float32 maps, unpacked masks)."""
    info = json.loads(str(arrays["info"]))
    onset = arrays.get("onset_face")
    apex = arrays["apex_face"]
    if "roi_masks_packed" in arrays:
        shape = tuple(int(x) for x in arrays["roi_masks_shape"])
        masks = np.unpackbits(arrays["roi_masks_packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
    else:
        masks = arrays["roi_masks"].astype(bool)
    return PreparedSample(
        sample_id=info["sample_id"], dataset=info["dataset"], subject=info["subject"], label=info["label"],
        apex_face=apex, flow=_float32(arrays["flow"]), strain=_float32(arrays["strain"]), roi_masks=masks,
        onset_face=onset, diff=difference_image(onset, apex) if onset is not None else None,
        dynamic=_float32(arrays.get("dynamic")), landmarks=arrays.get("landmarks"),
        onset_index=info["onset_index"], apex_index=info["apex_index"], apex_spotted=info["apex_spotted"],
        head_motion=tuple(float(x) for x in arrays["head_motion"]), flow_method=info["flow_method"],
        meta=dict(info["meta"]),
    )


def encode_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """Uncompressed ``.npz`` bytes (see the module docstring for why not compressed)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class PreparedCache:
    """One file per sample under ``cache_dir/<cfg.cache_hash()>``."""

    def __init__(self, cache_dir: str | Path, cfg: PreprocessConfig) -> None:
        self.root = Path(cache_dir)
        self.cfg = cfg
        self.dir = self.root / cfg.cache_hash()

    def path_for(self, sample: Sample) -> Path:
        return self.dir / _safe(sample.dataset) / _safe(sample.subject) / f"{_safe(sample.clip)}.npz"

    def failure_path(self, sample: Sample) -> Path:
        return self.path_for(sample).with_suffix(".failed.json")

    def has(self, sample: Sample) -> bool:
        return self.path_for(sample).is_file()

    def failure(self, sample: Sample) -> str | None:
        """The recorded reason this sample failed preprocessing, or None."""
        p = self.failure_path(sample)
        if not p.is_file():
            return None
        try:
            return str(json.loads(p.read_text())["reason"])
        except (ValueError, KeyError):
            return "failure record unreadable"

    def load(self, sample: Sample) -> PreparedSample:
        path = self.path_for(sample)
        try:
            with np.load(path, allow_pickle=False) as z:
                return from_arrays({k: z[k] for k in z.files})
        except FileNotFoundError:
            raise UserError(f"{sample.id} is not in the cache {self.dir}; run `deftmer prepare` with the same "
                            "config first") from None
        except (ValueError, KeyError, OSError) as e:
            raise UserError(f"cache file {path} is corrupt ({e}); delete it and run `deftmer prepare` again") from None

    def save(self, sample: Sample, prepared: PreparedSample) -> None:
        atomic_write_bytes(self.path_for(sample), encode_npz(to_arrays(prepared)))
        self.failure_path(sample).unlink(missing_ok=True)

    def save_failure(self, sample: Sample, reason: str) -> None:
        atomic_write_json(self.failure_path(sample), {"sample_id": sample.id, "reason": reason})

    def clear_failure(self, sample: Sample) -> None:
        self.failure_path(sample).unlink(missing_ok=True)

    def write_config(self) -> None:
        """The config this folder was made with, beside the files (the hash alone is opaque)."""
        import yaml

        atomic_write_text(self.dir / "preprocess.yaml", yaml.safe_dump(self.cfg.model_dump(mode="json"), sort_keys=True))


def load_clip_inputs(samples: list[Sample], cache_dir: str | Path, cfg: PreprocessConfig) -> list["ClipInputs"]:
    """Cached inputs of ``samples`` for training/evaluation, in the given order.

    Samples never prepared -> one `UserError` naming how many; samples that failed
    preprocessing are skipped with a warning naming them and why.
    """
    from deftmer.model.api import ClipInputs
    from deftmer.utils.console import logger

    cache = PreparedCache(cache_dir, cfg)
    failed = {s.id: r for s in samples if not cache.has(s) and (r := cache.failure(s)) is not None}
    missing = [s for s in samples if not cache.has(s) and s.id not in failed]
    if missing:
        raise UserError(
            f"{len(missing)} of {len(samples)} samples are not in the preprocessing cache {cache.dir} "
            f"(first: {missing[0].id}); run `deftmer prepare --cache {cache.root}` with the same preprocessing "
            f"config (hash {cfg.cache_hash()}) first")
    if failed:
        shown = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        logger.warning(f"skipping {len(failed)} sample(s) that failed preprocessing ({shown}"
                       f"{'; ...' if len(failed) > 3 else ''})")
    return [ClipInputs(sample=s, prepared=cache.load(s)) for s in samples if s.id not in failed]
