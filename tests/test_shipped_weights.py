"""The weights howard ships: present, loadable, and giving a matte close to the truth.

A synthetic composite (a procedural figure over a bundled photo, with the exact clean plate)
is matted by the default weights; the mean absolute alpha error must stay under
``MAX_MAE`` and be well under that of an empty matte, so a missing, damaged or untrained
file fails here.
"""

import numpy as np
import pytest

from howard.net.infer import Matter, select_device
from howard.synth.samples import SampleGenerator
from howard.net.weights import find_weights, load_model, read_checkpoint

MAX_MAE = 0.03  # mean |alpha - truth| over the image, averaged over the samples


@pytest.fixture(scope="module")
def model():
    return load_model(None, None, refine=True, device=select_device("cpu"),
                      backbone_scale=0.5, sample_pixels=8_000)


def test_file_is_small_and_half_precision():
    path = find_weights(None)
    assert path.stat().st_size < 12e6
    state, variant, meta = read_checkpoint(path)
    assert variant == "mobilenetv2"
    assert "samples" in meta


def test_matte_of_a_composite(model):
    gen = SampleGenerator(seed=424242, empty=0.0)
    matter = Matter(model, select_device("cpu"))
    errors, empty = [], []
    for i in range(4):
        s = gen.sample(i, (288, 384))
        src = (s["src"] * 255 + 0.5).astype(np.uint8)
        bgr = (s["bgr"] * 255 + 0.5).astype(np.uint8)
        pha = matter(src, bgr)["pha"][0]
        errors.append(np.abs(pha - s["pha"]).mean())
        empty.append(s["pha"].mean())
    mae = float(np.mean(errors))
    assert mae < MAX_MAE, f"mean alpha error {mae:.4f} (empty matte: {np.mean(empty):.4f})"
    assert mae < 0.5 * float(np.mean(empty))


def test_subject_half_width(model):
    """The probe behind the fitted base pass measures a plain block's half width."""
    from howard.net.infer import subject_half_width
    rng = np.random.default_rng(0)
    plate = (rng.uniform(0, 1, (36, 48, 3)) * 255).astype(np.uint8)
    plate = np.kron(plate, np.ones((8, 8, 1), np.uint8))  # 288x384, a coarse texture
    frame = plate.copy()
    frame[60:260, 100:300] = (200, 60, 40)  # a 200x200 block: half width 100 px
    matter = Matter(model, select_device("cpu"))
    assert 65 <= subject_half_width(matter, frame, plate) <= 115  # measured at 1/2.6 scale
    assert subject_half_width(matter, plate, plate) < 10  # no subject
