"""SynthME: synthetic micro-expression clips and long videos with known ground truth.

It renders with preprocessing's landmarker (the face template), so it sits above `preprocess`;
what it writes is read back by the data layer like any dataset (`deftmer.data.synthme`,
`deftmer.data.synthme_long`). Modules: `face` (the subject's face and its regions), `motion`
(FACS-directed displacement fields), `generate` (short clips, CASME II layout), `long` (long
videos, CAS(ME)^2 layout).
"""
