"""Speed: how a call is timed (`tracker`), how two systems compare (`speedup`), how a model runs
(`backends`), and a public-shape sweep that reproduces the GPU anchors (`sweep`).

The tracker does not know what it times, so every system and backend goes through the same clock
(optimum-benchmark's split of backend, scenario and tracker).
"""
