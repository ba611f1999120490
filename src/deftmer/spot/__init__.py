"""Micro-expression spotting in long videos: motion signals (`signals`), candidate intervals
(`intervals`), rejection rules (`rules`), the spotter (`spotter`) and the MEGC metrics
(`metrics`). Sits above preprocess (landmarks, alignment, flow, AU regions); nothing is
imported here so that reading `SpotConfig` stays cheap."""
