"""Plate alignment: features, robust homographies, the window of candidate plate frames, the
per-frame aligner and the plate's colour match.

May import numpy, OpenCV, :mod:`howard.io` (to read the plate) and :mod:`howard.errors`; never torch
or the product loop.
"""
