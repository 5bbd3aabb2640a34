"""howard: background matting for handheld video with a clean plate."""

__version__ = "0.1.0"
