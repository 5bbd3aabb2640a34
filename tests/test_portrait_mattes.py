"""scripts/portrait_mattes.py: the trimap around a rough person mask and hole filling (the
segmentation and matting libraries it drives are optional and not needed here)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "portrait_mattes.py"


@pytest.fixture(scope="module")
def pm():
    spec = importlib.util.spec_from_file_location("portrait_mattes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bust(h=200, w=200):
    """A rough person mask: a head disc on shoulders reaching the bottom edge."""
    yy, xx = np.mgrid[:h, :w]
    head = np.hypot(yy - 70, xx - 100) < 40
    body = (yy > 120) & (np.abs(xx - 100) < 70)
    return (head | body).astype(np.float64)


def test_trimap_has_a_band_around_the_edge_wider_at_the_top(pm):
    mask = _bust()
    tri = pm.trimap(mask, band=0.03)
    assert set(np.unique(tri)) == {0.0, 0.5, 1.0}
    assert tri[70, 100] == 1.0 and tri[190, 100] == 1.0  # head centre, body at the bottom edge
    assert tri[10, 10] == 0.0 and tri[190, 5] == 0.0
    assert tri[70, 60] == 0.5 and tri[150, 30] == 0.5  # on the mask's edge: unknown
    top = (tri[:95] == 0.5).sum(axis=1).max()  # widest unknown row through the head
    low = (tri[140:] == 0.5).sum(axis=1).max()  # and through the body
    assert top > low
    # the unknown band is where the mask's edge is: nothing unknown far from it
    assert (tri[:20] == 0.5).sum() == 0


def test_trimap_keeps_a_soft_mask_ramp_unknown(pm):
    mask = _bust()
    mask[mask == 0] = 0.3  # a segmentation unsure of the whole background
    tri = pm.trimap(mask, band=0.02)
    assert (tri == 0.0).sum() == 0
    assert tri[70, 100] == 1.0


def test_fill_holes_fills_enclosed_background_only(pm):
    mask = _bust()
    mask[60:75, 85:95] = 0.0  # dark glasses read as background, inside the head
    mask[150:200, 60:70] = 0.0  # a gap that opens onto the bottom edge stays
    out = pm.fill_holes(mask)
    assert (out[60:75, 85:95] == 1.0).all()
    assert (out[150:200, 60:70] == 0.0).all()
    assert (out[:20] == 0.0).all()


def test_without_the_libraries_it_says_so(pm, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    assert pm.main([str(tmp_path), str(tmp_path / "out")]) == 2
    assert "needs mediapipe and pymatting" in capsys.readouterr().err
