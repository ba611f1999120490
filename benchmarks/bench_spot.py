"""Spotting benchmark: spotting F1 and spot-then-recognise F1 on long SynthME videos, and on
real videos the intervals reported per minute, frames per second processed and a figure.

    python benchmarks/bench_spot.py --work /work/bench/spot --videos 6 --minutes 2 --synth-seed 2 \\
        --real WolfgangLanger_Pexels.mp4 single_face.mp4 --no-face no_face.mp4 --figure spot.png

Long SynthME videos (30 fps) hold micro-expressions among more distractors (macro-expressions,
blinks, speech, head turns). Spotting is scored by the MEGC rules (IoU >= 0.5, each ground
truth matched once); spot-then-recognise by the F1 of intervals both spotted and correctly
classified, with a recogniser trained on ordinary SynthME clips (``--model``). Every number
comes from the package's own stages (`deftmer.spot.evaluate`, `deftmer.predict.long_video`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path

from bench_setup import ensure_synthme, experiment_config, in_child, peak_rss_mb, prepare, run_script, show_table


def ensure_long(root: Path, videos: int, minutes: float, seed: int):
    """Long SynthME in ``root`` (regenerated only when its parameters change)."""
    from deftmer.data.longvideo import load_long_videos
    from deftmer.synth.long import LongSynthOptions, generate_long_synthme

    params = {"videos": videos, "minutes": minutes, "seed": seed}
    stamp = root / "bench_params.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == params):
        shutil.rmtree(root, ignore_errors=True)
        generate_long_synthme(root, videos=videos, seed=seed, options=LongSynthOptions(minutes=minutes))
        stamp.write_text(json.dumps(params))
    return load_long_videos("synthme_long", root)


def train_recogniser(args, cfg):
    """The model that names each spotted interval, trained on every clip of an ordinary SynthME."""
    from deftmer.models import create_model
    from deftmer.preprocess import load_clip_inputs

    ds = ensure_synthme(args.work / "synthme", args.str_subjects, args.str_clips, args.synth_seed)
    cache = args.work / "cache"
    prepare(ds, cache, cfg, workers=1)
    model = create_model(args.model, cfg, ds.class_set)
    model.fit(load_clip_inputs(ds.labelled(), cache, cfg.preprocess))
    return model, len(ds.labelled())


def outcome_rows(data, ev) -> tuple[list[list], list[str]]:
    """What became of every true event, by kind: accepted, rejected (by reason) or not a candidate."""
    from deftmer.data.synthme_long import load_long_truth
    from deftmer.spot.metrics import interval_iou

    truth = load_long_truth(data.root)
    table: dict[str, Counter] = {}
    for score in ev.videos:
        found = score.result.intervals + score.result.rejected
        for e in truth[score.video.split("/")[-1]]:
            iv = (e.onset - 1, e.offset - 1)
            best = max(found, key=lambda i: interval_iou((i.onset, i.offset), iv), default=None)
            hit = best is not None and interval_iou((best.onset, best.offset), iv) > 0
            table.setdefault(e.kind, Counter())["missed" if not hit else best.reason or "accepted"] += 1
    reasons = sorted({r for c in table.values() for r in c} - {"accepted", "missed"})
    return [[k, sum(c.values()), c["accepted"], *[c[r] for r in reasons], c["missed"]] for k, c in table.items()], reasons


def spot_real(path: str, fps: float | None, figure: Path | None, sets: list[str]) -> dict:
    """Spot one real video (in a child process, so its peak memory is its own)."""
    from deftmer.eval.figures import figure_to_png
    from deftmer.preprocess.face import get_landmarker
    from deftmer.spot.figure import spot_figure
    from deftmer.spot.source import open_source
    from deftmer.spot.spotter import spot_video
    from deftmer.utils.io import atomic_write_bytes

    cfg = experiment_config(None, sets)
    source = open_source(path, fps)
    t0 = time.perf_counter()
    get_landmarker()                  # loaded once per process: timed apart from the frames
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = spot_video(source, cfg.spot, progress=False)
    wall = time.perf_counter() - t0
    if figure is not None:
        atomic_write_bytes(figure, figure_to_png(spot_figure(source, r)))
    import cv2

    cap = cv2.VideoCapture(path)
    size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}" if cap.isOpened() else "-"
    cap.release()
    return {"frames": r.n_frames, "fps": r.fps, "seconds": r.n_frames / r.fps, "size": size,
            "intervals": len(r.intervals), "per_min": len(r.intervals) / r.minutes, "rejected": len(r.rejected),
            "reasons": dict(Counter(i.reason for i in r.rejected)), "wall": wall, "processed_fps": r.n_frames / wall,
            "startup": startup,
            "peak_mb": peak_rss_mb(), "listing": [i.to_json() for i in r.intervals]}


def no_face_line(path: str) -> str:
    """What spotting says about a video without a face (it must be one clear line)."""
    from deftmer.errors import UserError
    from deftmer.spot.source import open_source
    from deftmer.spot.spotter import spot_video

    try:
        r = spot_video(open_source(path), progress=False)
    except UserError as e:
        return f"error: {e}"
    return f"no error: {len(r.intervals)} interval(s)"


def upscaled_video(src: str, out: Path, seconds: float, width: int = 1920, height: int = 1080) -> Path:
    """``src`` looped and resized to ``width`` x ``height`` for ``seconds``, written frame by frame
    (a long high-resolution input for the streaming check; nothing is held in memory here either)."""
    import cv2

    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for _ in range(int(seconds * fps)):
        ok, frame = cap.read()
        if not ok:
            cap.release()
            cap = cv2.VideoCapture(src)
            ok, frame = cap.read()
        w.write(cv2.resize(frame, (width, height)))
    cap.release()
    w.release()
    return out


def memory_rows(args) -> list[list]:
    """Peak memory of spotting the same 1080p content for 1x and 6x the length: it must not grow."""
    rows = []
    for seconds in (args.memory_check / 6, args.memory_check):
        video = upscaled_video(args.real[0], args.work / f"stream_{seconds:.0f}s.mp4", seconds)
        r = in_child(spot_real, str(video), None, None, args.sets)
        rows.append([f"{seconds:.0f} s", r["size"], r["frames"], round(r["processed_fps"], 1), round(r["peak_mb"])])
        video.unlink()
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("bench_work"), help="folder for data, caches and videos")
    ap.add_argument("--videos", type=int, default=4, help="long SynthME videos (one subject each)")
    ap.add_argument("--minutes", type=float, default=1.0, help="length of each long SynthME video")
    ap.add_argument("--synth-seed", type=int, default=2)
    ap.add_argument("--model", default="mdmo-svm", help="recogniser for spot-then-recognise (see deftmer models)")
    ap.add_argument("--str-subjects", type=int, default=6, help="SynthME subjects the recogniser is trained on")
    ap.add_argument("--str-clips", type=int, default=5, help="clips per subject the recogniser is trained on")
    ap.add_argument("--no-str", action="store_true", help="spotting only (no recogniser)")
    ap.add_argument("--real", nargs="*", default=[], help="real videos: intervals per minute, frames/s, figure")
    ap.add_argument("--no-face", help="a video without a face: spotting must answer with one clear line")
    ap.add_argument("--figure", type=Path, help="PNG of the first real video's score, intervals and frames")
    ap.add_argument("--memory-check", type=float, default=0.0,
                    help="seconds of a 1080p video made from the first real one: peak memory at 1/6 and full length")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. spot.lag_s=0.1")
    ap.add_argument("--markdown", type=Path, help="append the tables as Markdown to this file")
    args = ap.parse_args(argv)
    if args.videos < 1 or args.minutes <= 0:
        ap.error("--videos must be >= 1 and --minutes > 0")
    if args.memory_check and not args.real:
        ap.error("--memory-check needs a --real video to upscale")
    for p in args.real + ([args.no_face] if args.no_face else []):
        if not Path(p).is_file():
            ap.error(f"video {p} does not exist")

    cfg = experiment_config(None, args.sets)
    synthetic_tables(args, cfg)
    real_tables(args)
    if args.memory_check:
        show_table("Streaming: peak memory of spot on a 1080p video", ["length", "size", "frames", "frames/s",
                                                                       "peak MB"], memory_rows(args), args.markdown)


def synthetic_tables(args, cfg) -> None:
    """Spotting and STR scores on long SynthME, and what became of every true event."""
    from deftmer.data.synthme_long import KINDS
    from deftmer.predict.long_video import label_recogniser
    from deftmer.spot.evaluate import evaluate_spotting

    data = ensure_long(args.work / "synth_long", args.videos, args.minutes, args.synth_seed)
    recognise, n_train = None, 0
    if not args.no_str:
        model, n_train = train_recogniser(args, cfg)
        recognise = label_recogniser(model, cfg)
    ev = evaluate_spotting(data, cfg.spot, recognise)
    outcomes, reasons = outcome_rows(data, ev)
    n_micro = sum(r[1] for r in outcomes if r[0] == "micro")
    n_distractors = sum(r[1] for r in outcomes if r[0] != "micro")
    s, st = ev.spotting, ev.str_
    show_table(f"Spotting on long SynthME ({args.videos} x {args.minutes:g} min, seed {args.synth_seed})",
               ["videos", "MEs", "distractors", "spotted", "TP", "FP", "FN", "precision", "recall", "F1",
                "STR TP", "STR F1", "frames/s"],
               [[len(ev.videos), n_micro, n_distractors, s.n_pred, s.tp, s.fp, s.fn, s.precision, s.recall, s.f1,
                 st.tp if st else "-", st.f1 if st else float("nan"), round(ev.frames / max(ev.seconds, 1e-9), 1)]],
               args.markdown,
               f"MEGC rules: IoU >= 0.5, each ground truth matched once; STR: spotted and classified right by "
               f"{args.model} trained on {n_train} SynthME clips ({args.str_subjects} subjects, class set "
               f"casme2_5). Spot config: {cfg.spot.model_dump()}. {time.strftime('%Y-%m-%d')}")
    order = {k: i for i, k in enumerate(KINDS)}
    show_table("What became of each true event", ["event", "count", "accepted", *reasons, "not a candidate"],
               sorted(outcomes, key=lambda r: order.get(r[0], 99)), args.markdown)


def real_tables(args) -> None:
    """Intervals per minute, frames/s and the figure of the real videos; the no-face answer."""
    rows = []
    for k, path in enumerate(args.real):
        fig = args.figure if (k == 0 and args.figure) else None
        r = in_child(spot_real, path, None, str(fig) if fig else None, args.sets)
        why = ", ".join(f"{n} {w}" for w, n in sorted(r["reasons"].items(), key=lambda t: -t[1]))
        rows.append([Path(path).name, r["size"], round(r["fps"], 2), round(r["seconds"], 1), r["intervals"],
                     round(r["per_min"], 1), f"{r['rejected']} ({why})" if why else 0, round(r["processed_fps"], 1),
                     round(r["processed_fps"] / r["fps"], 2), round(r["startup"], 1), round(r["peak_mb"])])
    if args.no_face:
        rows.append([Path(args.no_face).name, "-", "-", "-", "-", "-", no_face_line(args.no_face), "-", "-", "-", "-"])
    if rows:
        show_table("Spotting real videos", ["video", "size", "fps", "seconds", "intervals", "per minute", "rejected",
                                            "frames/s processed", "x real time", "start-up s", "peak MB"], rows,
                   args.markdown,
                   f"figure of {Path(args.real[0]).name}: {args.figure}" if args.figure and args.real else "")

if __name__ == "__main__":
    run_script(main)
