"""Evaluation: measuring the engine's methods, judging them against their targets, and
drawing what was measured. Nothing of the painting modules (api, transfer, fast, ...)
imports it; it imports them, as a user would.

- `measure`: running a method on content/style pairs and measuring SSIM, GMD, time, memory;
- `targets`: every bar a result is held to, and the verdicts that say whether it was met;
- `report`: tables, contact sheets and plots;
- `bench` and `frontier`: `nst bench` and `nst bench --frontier`, built from the three above;
- `gallery_training`: training the gallery's networks, judged against the optimisation as
  they train, and shipping those that meet the bar;
- `training_folder`: what such a run leaves in its folder (no torch: it is read where the
  engine's dependencies may not be installed yet).
"""
