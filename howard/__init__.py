"""howard: background matting for handheld video with a clean plate.

    import howard
    summary = howard.matte("subject.mp4", "plate.mp4", "out/")
"""

__version__ = "0.1.0"


def matte(*args, **kwargs):
    """See :func:`howard.api.matte`."""
    from .api import matte as _matte

    return _matte(*args, **kwargs)


def load_model(*args, **kwargs):
    """See :func:`howard.net.weights.load_model`."""
    from .net.weights import load_model as _load_model

    return _load_model(*args, **kwargs)


__all__ = ["matte", "load_model", "__version__"]
