"""Evaluation: matting metrics, baseline methods and contact sheets.

May import numpy, OpenCV, scikit-image, :mod:`howard.io`, :mod:`howard.align` and
:mod:`howard.synth`; never torch or the product loop.
"""
