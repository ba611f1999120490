"""The on-disk cache of `PreparedSample`s that every later stage reads.

Layout: ``<cache_dir>/<config hash>/<dataset>/<subject>/<clip>.npz``, one file per sample,
written atomically. The config hash is a folder, so a changed preprocessing config starts a
fresh set (and the old one stays valid for its own config); its settings are saved beside
the files (``preprocess.yaml``), so later stages can use a cache as it is without repeating
every preprocessing flag (`choose_preparation`). A sample that failed (no face, unreadable
frame) gets ``<clip>.failed.json`` with the reason and a fingerprint of its input files
instead, so a resumed run does not retry it while its inputs are unchanged, retries it once
they change, and later stages can say why it is absent. An entry that cannot be read (a
truncated file) counts as missing and is recomputed.

Storage (format 2): an *uncompressed* ``.npz`` with the float maps (flow, strain, dynamic
image) as float16 and the region masks bit-packed. zlib compression cost 35-55% of a DIS or
Farneback run for ~25% smaller files; float16 keeps |error| <= 2^-11 relative (< 0.001 px on a
2 px flow), far below optical-flow error, and the pipeline already rounds its output to that
precision (`round_to_storage`), so storing loses nothing. Loading returns the documented
float32 / bool arrays, and reads format-1 files (compressed float32) unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError

from deftmer.data.sample import Sample
from deftmer.errors import UserError
from deftmer.preprocess.config import PreprocessConfig
from deftmer.preprocess.dynamic import difference_image
from deftmer.preprocess.records import ClipInputs, PreparedSample
from deftmer.utils.console import logger, shell_arg
from deftmer.utils.io import atomic_write_bytes, atomic_write_json, is_environment_error, write_text_if_changed
from deftmer.utils.locks import folder_lock

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

    def readable(self, sample: Sample) -> bool:
        """The sample's file is a complete archive holding its arrays (a truncated file is not:
        its zip directory, written last, is missing). Cheap: reads the directory, not the data."""
        try:
            with zipfile.ZipFile(self.path_for(sample)) as z:
                return "info.npy" in z.namelist()
        except (OSError, zipfile.BadZipFile, ValueError):
            return False

    def failure(self, sample: Sample) -> str | None:
        """The recorded reason this sample failed preprocessing, or None (also when its input
        files changed since: then it is to be tried again)."""
        p = self.failure_path(sample)
        if not p.is_file():
            return None
        try:
            record = json.loads(p.read_text())
            reason = str(record["reason"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None                       # unreadable record: try the sample again
        if record.get("inputs") != inputs_fingerprint(sample):
            return None
        return reason

    def load(self, sample: Sample) -> PreparedSample:
        path = self.path_for(sample)
        try:
            with np.load(path, allow_pickle=False) as z:
                return from_arrays({k: z[k] for k in z.files})
        except FileNotFoundError:
            raise UserError(f"{sample.id} is not in the cache {self.dir}; run `deftmer prepare` with the same "
                            "config first") from None
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
            if isinstance(e, OSError) and is_environment_error(e):
                raise
            raise UserError(f"cache file {path} is corrupt ({e.__class__.__name__}); run `deftmer prepare` "
                            "again: it recomputes unreadable entries") from None

    def save(self, sample: Sample, prepared: PreparedSample) -> None:
        atomic_write_bytes(self.path_for(sample), encode_npz(to_arrays(prepared)))
        self.failure_path(sample).unlink(missing_ok=True)

    def save_failure(self, sample: Sample, reason: str) -> None:
        atomic_write_json(self.failure_path(sample), {"sample_id": sample.id, "reason": reason,
                                                      "inputs": inputs_fingerprint(sample)})

    def write_config(self) -> None:
        """The config this folder was made with, beside the files (the hash alone is opaque);
        not rewritten when unchanged, so an up-to-date read-only cache is never written."""
        write_text_if_changed(self.dir / PREPROCESS_FILE, yaml.safe_dump(self.cfg.model_dump(mode="json"),
                                                                          sort_keys=True))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time per preparation: a second `prepare` waits, saying who holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.dir, f"the cache {self.dir}"):
            yield


def inputs_fingerprint(sample: Sample) -> str:
    """A digest of what preparing ``sample`` reads: its annotated frame numbers and the name,
    size and modification time of every input file (so a replaced frame changes it)."""
    h = hashlib.sha256(json.dumps([sample.onset, sample.apex, sample.offset, list(sample.problems)]).encode())
    for path in (*sample.frames, sample.apex_image, sample.flow_image):
        if path is None:
            continue
        try:
            st = Path(path).stat()
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path}|missing\n".encode())
    return h.hexdigest()[:16]


PREPROCESS_FILE = "preprocess.yaml"


def list_preparations(cache_dir: str | Path) -> dict[str, PreprocessConfig]:
    """The preparations a cache folder holds: hash -> the settings saved beside them."""
    out: dict[str, PreprocessConfig] = {}
    root = Path(cache_dir)
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        cfg = _saved_settings(d)
        if cfg is not None and cfg.cache_hash() == d.name:
            out[d.name] = cfg
    return out


def _saved_settings(folder: Path) -> PreprocessConfig | None:
    """``preprocess.yaml`` (or the ``preprocess`` section of ``config.yaml``) of one preparation."""
    for name, section in ((PREPROCESS_FILE, None), ("config.yaml", "preprocess")):
        with contextlib.suppress(OSError, ValueError, yaml.YAMLError, ValidationError, AttributeError):
            tree = yaml.safe_load((folder / name).read_text())
            return PreprocessConfig.model_validate(tree[section] if section else tree)
    return None


def settings_diff(a: PreprocessConfig, b: PreprocessConfig) -> dict[str, tuple[object, object]]:
    """Keys whose values differ: key -> (value in a, value in b)."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


def _flags(diff: dict[str, tuple[object, object]]) -> str:
    """``--set preprocess.k=v`` for each key of a settings diff (value of its first side)."""
    return " ".join(f"--set preprocess.{k}={json.dumps(a) if not isinstance(a, str) else a}"
                    for k, (a, _) in sorted(diff.items()))


def choose_preparation(cache_dir: str | Path, wanted: PreprocessConfig, explicit: set[str]) -> PreprocessConfig:
    """The preparation in ``cache_dir`` that a later stage (unimer, loso, train) reads.

    The one made with ``wanted`` when there is one; else the only one that agrees with the
    settings the user gave (``explicit``: preprocess keys from ``--set``/``--config``), so a cache
    holding a single preparation is used as it is, without repeating its flags. Otherwise one
    line names the preparations and the flags that select each.
    """

    root = Path(cache_dir)
    if (root / wanted.cache_hash()).is_dir():
        return wanted
    preps = list_preparations(root)
    if not preps:
        raise UserError(f"cache folder {root} holds no preparation (no <hash>/{PREPROCESS_FILE}); run "
                        f"`deftmer prepare --cache {shell_arg(root)} ...` first")
    fits = {h: c for h, c in preps.items() if not set(settings_diff(c, wanted)) & explicit}
    if len(fits) == 1:
        (h, chosen), = fits.items()
        flags = _flags(settings_diff(chosen, wanted))
        logger.info(f"using the preparation {h} in {root} ({flags or 'the settings given'})")
        return chosen
    options = "; ".join(f"{h}: {_flags(settings_diff(c, wanted)) or '(the defaults)'}" for h, c in preps.items())
    if not fits:
        given = ", ".join(f"preprocess.{k}" for k in sorted(explicit))
        raise UserError(f"cache {root} holds no preparation made with the settings given ({given}); it holds "
                        f"{options}. Pass those flags instead, or run `deftmer prepare --cache {shell_arg(root)}` "
                        "with your settings first")
    raise UserError(f"cache {root} holds {len(preps)} preparations; choose one with its flags: {options}")


def load_clip_inputs(samples: list[Sample], cache_dir: str | Path, cfg: PreprocessConfig) -> list[ClipInputs]:
    """Cached inputs of ``samples`` for training/evaluation, in the given order.

    Samples never prepared, or whose file cannot be read (truncated) -> one `UserError` naming
    how many; samples that failed preprocessing are skipped with a warning naming them and why.
    """

    cache = PreparedCache(cache_dir, cfg)
    failed: dict[str, str] = {}
    loaded: list[ClipInputs] = []
    missing: list[Sample] = []
    unreadable: list[Path] = []
    for s in samples:
        if not cache.has(s):
            if (reason := cache.failure(s)) is not None:
                failed[s.id] = reason
            else:
                missing.append(s)
            continue
        try:
            loaded.append(ClipInputs(sample=s, prepared=cache.load(s)))
        except UserError:                    # unreadable: to be recomputed like a missing one
            missing.append(s)
            unreadable.append(cache.path_for(s))
    if missing:
        bad = f", {len(unreadable)} unreadable such as {unreadable[0]}" if unreadable else ""
        raise UserError(
            f"{len(missing)} of {len(samples)} samples are not in the preprocessing cache {cache.dir} "
            f"(first: {missing[0].id}{bad}); run `deftmer prepare --cache {shell_arg(cache.root)}` with the same "
            f"preprocessing config (hash {cfg.cache_hash()}) first: it computes only what is missing")
    if failed:
        shown = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        logger.warning(f"skipping {len(failed)} sample(s) that failed preprocessing ({shown}"
                       f"{'; ...' if len(failed) > 3 else ''})")
    return loaded
