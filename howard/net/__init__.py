"""The network: BackgroundMattingV2's base encoder-decoder and patch refiner, checkpoints,
inference on a device, and the torch side of training (losses, initialisation).

May import torch, numpy and :mod:`howard.errors`; never media, alignment or the product loop.
"""
