"""Synthetic training and evaluation data: procedural figures, scenery, photo banks, composited
samples and handheld clips with true alpha and true background.

May import numpy, OpenCV, scikit-image, :mod:`howard.io` and :mod:`howard.align`; never torch or
the product loop.
"""
