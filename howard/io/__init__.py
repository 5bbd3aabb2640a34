"""Media in and out: frame sources, PNG encoding, videos with alpha, the output folder,
composites and re-compositing a finished folder, the progress line.

May import numpy, OpenCV, imageio and :mod:`howard.errors`; never torch, alignment or the product
loop.
"""
