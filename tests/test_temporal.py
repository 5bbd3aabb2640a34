"""The temporal step on a synthetic clip: a still square and a square moving 4 px a frame,
over a textured background, the network's alpha simulated as the truth plus per-frame
flicker. 96x160, 12 frames."""

import cv2
import numpy as np
import pytest

from howard import temporal

H, W, N, STEP = 96, 160, 12, 4


def square(x0, y0, side=28):
    """Soft-edged square alpha (HxW float32), its corner at (x0, y0)."""
    m = np.zeros((H * 4, W * 4), np.uint8)
    cv2.rectangle(m, (int(x0 * 4), int(y0 * 4)), (int((x0 + side) * 4), int((y0 + side) * 4)),
                  255, -1)
    return cv2.resize(m, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def clip(seed=0):
    """Frames (N, H, W, 3) uint8, true alpha (N, H, W), network alpha (N, H, W), the still
    square's alpha (H, W) and the moving square's alpha per frame (N, H, W)."""
    rng = np.random.default_rng(seed)
    back = cv2.GaussianBlur(rng.uniform(0, 1, (H, W, 3)).astype(np.float32), (0, 0), 2)
    back = np.clip((back - back.mean()) * 4 + 0.5, 0, 1)
    tex = cv2.GaussianBlur(rng.uniform(0, 1, (H, W * 2, 3)).astype(np.float32), (0, 0), 1.5)
    tex = np.clip((tex - tex.mean()) * 4 + 0.5, 0, 1)
    still = square(20, 30)
    frames, truth, net, moving = [], [], [], []
    for t in range(N):
        move = square(70 + STEP * t, 40)
        fg = np.where(still[..., None] > 0, tex[:, :W], np.roll(tex[:, W:], STEP * t, axis=1))
        a = np.maximum(still, move)
        src = a[..., None] * fg + (1 - a[..., None]) * back
        noisy = src + rng.normal(0, 0.01, src.shape)
        frames.append((np.clip(noisy, 0, 1) * 255 + 0.5).astype(np.uint8))
        flicker = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 2) * 0.25
        edge = (a > 0.02) & (a < 0.98) | (cv2.dilate(a, np.ones((5, 5))) - a > 0.5)
        band = cv2.dilate(edge.astype(np.uint8), np.ones((5, 5))) > 0
        net.append(np.clip(a + flicker * (0.3 + band), 0, 1))
        truth.append(a)
        moving.append(move)
    return np.stack(frames), np.stack(truth), np.stack(net), still, np.stack(moving)


def run(frames, net):
    f = temporal.TemporalFilter()
    return np.stack([f(s, p) for s, p in zip(frames, net)])


def test_still_part_flickers_less_and_moving_edge_does_not_lag():
    frames, truth, net, still, moving = clip()
    out = run(frames, net)
    around = cv2.dilate((still > 0).astype(np.uint8), np.ones((9, 9))) > 0
    flick_raw = np.abs(np.diff(net, axis=0))[:, around].mean()
    flick_out = np.abs(np.diff(out, axis=0))[:, around].mean()
    assert flick_out < 0.6 * flick_raw, (flick_raw, flick_out)
    # the moving square: the error against the truth near its edge is no worse than the
    # network's own (a lagging matte would leave a trail behind the edge)
    err_raw = err_out = 0.0
    for t in range(1, N):
        near = cv2.dilate(((moving[t] > 0) | (moving[t - 1] > 0)).astype(np.uint8),
                          np.ones((7, 7))) > 0
        near &= ~around
        err_raw += np.abs(net[t] - truth[t])[near].mean()
        err_out += np.abs(out[t] - truth[t])[near].mean()
    assert err_out <= 1.02 * err_raw, (err_raw, err_out)
    # and the trail itself: where the square was two steps ago but is no more
    for t in range(2, N):
        left = (moving[t - 2] > 0.5) & (moving[t] == 0)
        assert out[t][left].mean() < net[t][left].mean() + 0.02


def test_deterministic_and_resumable():
    frames, _, net, _, _ = clip(1)
    whole = run(frames, net)
    f = temporal.TemporalFilter()
    first = [f(s, p) for s, p in zip(frames[:5], net[:5])]
    g, s = f.state
    again = temporal.TemporalFilter()
    again.restore(g.copy(), s.copy())
    rest = [again(s_, p) for s_, p in zip(frames[5:], net[5:])]
    assert np.array_equal(np.stack(first + rest), whole)
    assert np.array_equal(run(frames, net), whole)


def test_first_frame_and_a_cut_pass_through():
    frames, _, net, _, _ = clip(2)
    f = temporal.TemporalFilter()
    out0 = f(frames[0], net[0])
    assert np.abs(out0 - net[0]).max() <= 1 / 65535
    cut = np.ascontiguousarray(frames[3][:, ::-1])  # a different picture altogether
    out = f(cut, net[5])
    # no content agrees, so (almost) all of the new alpha is kept
    assert np.abs(out - net[5]).mean() < 0.2 * np.abs(net[0] - net[5]).mean()


def test_state_round_trip():
    pha = np.linspace(0, 1, 101, dtype=np.float32).reshape(1, -1)
    assert np.abs(temporal.from_state(temporal.to_state(pha)) - pha).max() <= 0.5 / 65535 + 1e-7
    with pytest.raises(ValueError):
        temporal.TemporalFilter().restore(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint16))
