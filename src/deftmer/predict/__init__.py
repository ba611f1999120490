"""Prediction on a user's own input with a trained model: one clip (`clip`: read, find the face,
prepare, predict, describe the measured motion) or a long video (`long_video`: spot the
intervals, then predict each). Sits above `eval` (figures) and `models`, beside `train`."""
