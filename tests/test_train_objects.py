"""The training foregrounds that are not people, and low-light samples."""

import numpy as np
import pytest

from howard.synth import train_objects
from howard.synth.samples import SampleGenerator, low_light

SIZE = (96, 128)
KINDS = [train_objects.cutout, train_objects.foliage, train_objects.fur, train_objects.veil]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
class TestKinds:
    def test_deterministic_per_seed(self, kind):
        a = kind(np.random.default_rng(5), SIZE)
        b = kind(np.random.default_rng(5), SIZE)
        c = kind(np.random.default_rng(6), SIZE)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not np.array_equal(a[1], c[1])

    def test_shapes_and_range(self, kind):
        fgr, pha = kind(np.random.default_rng(1), SIZE)
        assert fgr.shape == SIZE + (3,) and pha.shape == SIZE
        assert fgr.dtype == np.float32 and pha.dtype == np.float32
        assert 0 <= fgr.min() and fgr.max() <= 1 and 0 <= pha.min() and pha.max() <= 1
        assert (pha > 0.5).any()


@pytest.mark.parametrize("kind", [train_objects.foliage, train_objects.fur, train_objects.veil],
                         ids=lambda k: k.__name__)
def test_fractional_alpha_where_it_belongs(kind):
    """Twigs, strands and veils cover a good share of their pixels only partly (over seeds)."""
    shares = []
    for seed in range(4):
        pha = kind(np.random.default_rng(seed), SIZE)[1]
        shares.append(((pha > 0.05) & (pha < 0.95)).sum() / max(1, (pha > 0.05).sum()))
    assert np.mean(shares) > 0.2


def test_veil_is_see_through():
    pha = train_objects.veil(np.random.default_rng(3), SIZE)[1]
    inside = pha[pha > 0.05]
    assert np.median(inside) < 0.9


def test_objects_layers_and_determinism():
    a = train_objects.objects(np.random.default_rng(9), SIZE)
    b = train_objects.objects(np.random.default_rng(9), SIZE)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    assert (a[1] > 0).any()


def test_low_light_darkens_adds_noise_and_keeps_truth_aligned():
    src = np.full((64, 64, 3), 0.6, np.float32)
    dark = []
    for seed in range(6):
        s, b, f = low_light(np.random.default_rng(seed), src, src.copy(), src.copy())
        assert s.shape == src.shape and f.shape == src.shape
        dark.append((s.mean(), s.std(), f.mean()))
        assert not np.array_equal(s, b)  # the plate's noise is its own
    means, stds, fg = map(np.array, zip(*dark))
    assert means.min() < 0.4 and (stds > 0.001).all()
    assert np.allclose(means, fg, atol=0.05)  # the true colour follows the exposure


def test_generator_mixes_objects_and_dim_without_changing_defaults():
    plain = SampleGenerator(seed=4).sample(2, SIZE)
    zero = SampleGenerator(seed=4, objects=0.0, dim=0.0).sample(2, SIZE)
    assert all(np.array_equal(plain[k], zero[k]) for k in plain)
    mixed = SampleGenerator(seed=4, objects=1.0, dim=1.0)
    a, b = mixed.sample(2, SIZE), mixed.sample(2, SIZE)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["src"].mean() < plain["src"].mean()
