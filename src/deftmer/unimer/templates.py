"""Paraphrased instructions per task type; the builder picks one per record with the seed.

Several wordings per task keep the model from keying on one sentence. Emotion and reasoning
instructions carry ``{options}``: the target class set, so the model answers within it.
"""

from __future__ import annotations

INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "emotion": (
        "Which emotion does this micro-expression show? Answer with one of: {options}.",
        "Classify the micro-expression in this clip. Options: {options}.",
        "The face makes a brief, subtle movement between onset and apex. Choose its emotion from: {options}.",
        "What is the emotion category of this micro-expression? Pick one of {options}.",
    ),
    "au": (
        "Which facial action units are active in this micro-expression, and on which side?",
        "List the FACS action units this clip shows, with the side when one-sided.",
        "Name the action units behind this facial movement, noting left or right where it is one-sided.",
        "Which AUs does the face activate between onset and apex?",
    ),
    "motion": (
        "Describe the local facial motion between onset and apex, region by region.",
        "Where does the face move in this clip, and in which direction?",
        "Describe which facial regions move and how, from onset to apex.",
        "Report the facial regions that move in this micro-expression, with direction and strength.",
    ),
    "reasoning": (
        "Explain how the facial motion leads to the emotion, then give the emotion. Options: {options}.",
        "Reason from the observed facial motion to the action units and then to the emotion ({options}).",
        "What emotion is this, and why? Link the motion to action units and to one class of: {options}.",
        "Describe the evidence in the face and conclude with the emotion, one of {options}.",
    ),
}
