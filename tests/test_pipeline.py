"""End to end: a tiny handheld-style clip, a random-init checkpoint, every output contract.

The clip is a textured scene seen through small known shifts; the subject is a procedural
figure. Frames are 144x256 so a run takes a second or two on a CPU.
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import howard
from howard import pipeline
from howard.net.infer import Matter
from howard.net.model import build_model
from conftest import write_frames as _write
from howard.errors import HowardError
from howard.net.weights import save_checkpoint

H, W, N_SUB, N_PLATE = 144, 256, 6, 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(subject folder, plate folder, random-init fp16 checkpoint)."""
    from howard.synth.samples import background, person

    root = tmp_path_factory.mktemp("clip")
    rng = np.random.default_rng(3)
    scene = background(rng, (H + 24, W + 24))
    fgr, pha = person(rng, (H, W))
    sub, plate = [], []
    for t in range(N_SUB):
        bg = scene[8 + t:8 + t + H, 8:8 + W]
        sub.append(np.uint8((fgr * pha[..., None] + bg * (1 - pha[..., None])) * 255 + 0.5))
    for t in range(N_PLATE):
        plate.append(np.uint8(scene[8 + t:8 + t + H, 10:10 + W] * 255 + 0.5))
    _write(root / "subject", sub)
    _write(root / "plate", plate)
    torch.manual_seed(0)
    weights = save_checkpoint(build_model("mobilenetv2", refine=True), root / "random.pth",
                              metadata={"purpose": "test"}, half=True)
    return root / "subject", root / "plate", weights


def _digest(folder: Path):
    """{relative path: sha256} of every output image."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png")) if ".howard" not in p.parts}


def _matte(clip, out, **options):
    subject, plate, weights = clip
    options.setdefault("progress", False)
    return howard.matte(str(subject), str(plate), str(out), weights=str(weights),
                        device="cpu", threads=1, **options)


@contextlib.contextmanager
def _ctrl_c_at_fourth_frame(monkeypatch):
    """Ctrl-C when the network is called for the fourth frame: the run must stop with
    :class:`pipeline.Interrupted` inside the block, three frames written."""
    calls, real = {"n": 0}, Matter.__call__

    def stop_at_fourth(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(Matter, "__call__", stop_at_fourth)
    with pytest.raises(pipeline.Interrupted):
        yield
    monkeypatch.setattr(Matter, "__call__", real)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    summary = _matte(clip, out, outputs="rgba,pha,fgr,bgr,err,ref")
    return out, summary


class TestEndToEnd:
    def test_one_rgba_per_frame(self, reference):
        out, summary = reference
        files = sorted((out / "rgba").iterdir())
        assert [f.name for f in files] == [f"{i:05d}.png" for i in range(N_SUB)]
        assert summary["processed"] == N_SUB and summary["frames"] == N_SUB
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            assert img.shape == (H, W, 4) and img.dtype == np.uint8

    def test_straight_alpha(self, reference):
        """RGB of rgba is the foreground itself, not multiplied by alpha; A is the alpha."""
        out, _ = reference
        rgba = cv2.imread(str(out / "rgba" / "00002.png"), cv2.IMREAD_UNCHANGED)
        fgr = cv2.imread(str(out / "fgr" / "00002.png"), cv2.IMREAD_UNCHANGED)
        pha = cv2.imread(str(out / "pha" / "00002.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(rgba[..., :3], fgr)
        np.testing.assert_array_equal(rgba[..., 3], pha)
        low = pha < 128  # where premultiplying would darken, the colour must not be darker
        assert rgba[..., :3][low].mean() > (rgba[..., :3][low] * (pha[low, None] / 255)).mean()

    def test_records(self, reference, clip):
        out, _ = reference
        meta = json.loads((out / "howard.json").read_text())
        assert meta["status"] == "complete" and meta["frames_done"] == N_SUB
        assert meta["settings"]["weights_sha256"] == \
            hashlib.sha256(Path(clip[2]).read_bytes()).hexdigest()
        lines = [json.loads(x) for x in (out / "alignment.jsonl").read_text().splitlines()]
        assert [r["frame"] for r in lines] == list(range(N_SUB))
        assert all(not r["fallback"] for r in lines)
        # the plate is the scene shifted 2 px: the chosen H must say so
        Hs = np.array([r["H"] for r in lines])
        assert np.allclose(Hs[:, 0, 2], 2.0, atol=0.6), Hs[:, 0, 2]

    def test_sequential_is_identical(self, clip, reference, tmp_path):
        _matte(clip, tmp_path / "seq", outputs="rgba,pha,fgr,bgr,err,ref", workers=0)
        assert _digest(tmp_path / "seq") == _digest(reference[0])

    def test_resume_after_interrupt(self, clip, reference, tmp_path, monkeypatch):
        """Ctrl-C after three frames, then --resume: the same bytes as one whole run."""
        out = tmp_path / "cut"
        with _ctrl_c_at_fourth_frame(monkeypatch):
            _matte(clip, out, outputs="rgba,pha,fgr,bgr,err,ref")
        assert len(list((out / "rgba").iterdir())) == 3
        summary = _matte(clip, out, outputs="rgba,pha,fgr,bgr,err,ref", resume=True)
        assert summary["resumed_at"] == 3 and summary["processed"] == N_SUB - 3
        assert _digest(out) == _digest(reference[0])
        lines = (out / "alignment.jsonl").read_text().splitlines()
        assert [json.loads(x)["frame"] for x in lines] == list(range(N_SUB))

    def test_resume_after_kill(self, clip, reference, tmp_path):
        """SIGKILL of a real process mid-run; --resume completes it byte-identically."""
        subject, plate, weights = clip
        out = tmp_path / "killed"
        cmd = [sys.executable, "-m", "howard.cli", "matte", str(subject), str(plate), str(out),
               "--weights", str(weights), "--device", "cpu", "--threads", "1", "-q",
               "--outputs", "rgba,pha,fgr,bgr,err,ref"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        done = out / ".howard" / "done"
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if done.is_file() and len(done.read_text().split()) >= 2:
                break
            time.sleep(0.02)
        if proc.poll() is not None:
            pytest.skip("the run finished before it could be killed")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(list((out / "rgba").iterdir())) < N_SUB + 1
        res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert _digest(out) == _digest(reference[0])

    def test_still_plate_and_16_bit(self, clip, tmp_path):
        subject, plate, weights = clip
        out = tmp_path / "still"
        howard.matte(str(subject), str(Path(plate) / "0000.png"), str(out), weights=str(weights),
                     device="cpu", outputs="rgba", bit_depth=16, progress=False,
                     name_template="shot.%04d.png", start_number=1001)
        names = sorted(p.name for p in (out / "rgba").iterdir())
        assert names[0] == "shot.1001.png" and len(names) == N_SUB
        img = cv2.imread(str(out / "rgba" / names[0]), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint16 and img.shape == (H, W, 4)

    def test_overwrite_replaces(self, clip, tmp_path):
        out = tmp_path / "again"
        _matte(clip, out, outputs="pha")
        (out / "pha" / "00000.png").write_bytes(b"x")
        _matte(clip, out, outputs="pha", overwrite=True)
        assert cv2.imread(str(out / "pha" / "00000.png"), cv2.IMREAD_UNCHANGED).shape == (H, W)


class TestSettings:
    @pytest.mark.parametrize("size,scale", [((540, 960), 1 / 2), ((720, 1280), 1 / 2),
                                            ((1080, 1920), 1 / 3), ((1440, 2560), 1 / 4),
                                            ((2160, 3840), 1 / 8), ((144, 256), 1 / 2),
                                            ((1920, 1080), 1 / 3)])
    def test_backbone_scale(self, size, scale):
        assert pipeline.auto_backbone_scale(*size) == scale

    def test_parse_backbone_scale(self):
        from howard.settings import parse_backbone_scale
        assert parse_backbone_scale("1/3") == 1 / 3 and parse_backbone_scale(" 0.25") == 0.25
        for bad in ("0", "0.6", "abc", "1/0"):
            with pytest.raises(ValueError):
                parse_backbone_scale(bad)

    @pytest.mark.parametrize("scale,half,size,fitted", [
        (1 / 2, 60, (540, 960), 1 / 2), (1 / 2, 159, (540, 960), 1 / 2),  # full length
        (1 / 2, 250, (540, 960), 1 / 4), (1 / 2, 200, (540, 960), 1 / 3),  # close-ups
        (1 / 3, 150, (1080, 1920), 1 / 3), (1 / 3, 400, (1080, 1920), 1 / 5),
        (1 / 2, 10_000, (540, 960), 1 / 4),  # never below a 128-pixel short side
        (1 / 2, 10_000, (144, 256), 1 / 2), (1 / 8, 2000, (2160, 3840), 1 / 16)])
    def test_fit_backbone_scale(self, scale, half, size, fitted):
        from howard.settings import fit_backbone_scale
        assert fit_backbone_scale(scale, half, *size) == fitted

    def test_sample_pixels(self):
        assert pipeline.auto_sample_pixels(1080, 1920) == 160_000
        assert pipeline.auto_sample_pixels(2160, 3840) == 640_000
        assert pipeline.auto_sample_pixels(540, 960) == 40_000
        assert pipeline.auto_sample_pixels(48, 64) == 4_000  # a floor for tiny frames

    def test_subject_mask_quantised(self):
        pha = np.zeros((100, 200), np.float32)
        pha[20:80, 50:90] = 1.0
        m = pipeline.subject_mask(pha, width=100)
        assert m.shape == (50, 100) and m.dtype == np.uint8
        assert m[25, 35] == 255 and m[5, 5] == 0


class TestCompositeOutputs:
    def test_com_videos_and_recomposite(self, clip, tmp_path):
        from click.testing import CliRunner

        from howard.io import composite, encode
        from howard.cli import main

        out = tmp_path / "com"
        _matte(clip, out, outputs="rgba", background="#00ff00", videos="mov,mp4")
        rgba = cv2.cvtColor(cv2.imread(str(out / "rgba" / "00001.png"), cv2.IMREAD_UNCHANGED),
                            cv2.COLOR_BGRA2RGBA)
        com = cv2.imread(str(out / "com" / "00001.png"))[..., ::-1]
        green = np.zeros_like(com)
        green[..., 1] = 255
        np.testing.assert_array_equal(com, composite.composite(rgba[..., :3], rgba[..., 3],
                                                               green))
        alphas = [f[..., 3] for f in encode.read_alpha_video(out / "rgba.mov")]
        assert len(alphas) == N_SUB
        assert np.abs(alphas[1].astype(int) - rgba[..., 3]).max() <= 1
        assert encode.probe(out / "com.mp4")["size"] == (H, W)
        before = (out / "com" / "00003.png").read_bytes()
        (out / "com" / "00003.png").unlink()
        res = CliRunner().invoke(main, ["composite", str(out), "--background", "#00ff00", "-q"])
        assert res.exit_code == 0, res.output
        assert (out / "com" / "00003.png").read_bytes() == before

    def test_premultiply(self, clip, reference, tmp_path):
        out = tmp_path / "pre"
        _matte(clip, out, outputs="rgba", premultiply=True)
        straight = cv2.imread(str(reference[0] / "rgba" / "00000.png"), cv2.IMREAD_UNCHANGED)
        pre = cv2.imread(str(out / "rgba" / "00000.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(pre[..., 3], straight[..., 3])
        expect = straight[..., :3].astype(np.float32) * straight[..., 3:] / 255
        assert np.abs(pre[..., :3] - expect).max() <= 1

    def test_progress_callback(self, clip, tmp_path):
        events = []
        _matte(clip, tmp_path / "p", videos="mov", on_progress=events.append)
        matte = [e for e in events if e["stage"] == "matte"]
        assert [e["done"] for e in matte] == list(range(1, N_SUB + 1))
        assert all(e["frames"] == N_SUB and e["fps"] > 0 and e["fallbacks"] == []
                   for e in matte)
        assert matte[-1]["seconds_left"] == 0
        assert events[-1]["stage"] == "videos" and events[-1]["done"] == N_SUB
        with pytest.raises(howard.errors.HowardError, match="scheduler"):
            _matte(clip, tmp_path / "q", scheduler="local:1", on_progress=events.append)

    def test_com_needs_background(self, clip, tmp_path):
        from howard.errors import InputError

        with pytest.raises(InputError, match="background"):
            _matte(clip, tmp_path / "x", outputs="rgba,com")
        with pytest.raises(InputError, match="add com"):
            _matte(clip, tmp_path / "x", outputs="rgba", videos="mp4")
        assert not (tmp_path / "x").exists()


class TestFittedBasePass:
    """An automatic base pass is fitted to the subject once, recorded, and kept on resume."""

    def _coarse(self, monkeypatch, seen):
        def fit(scale, half_width, h, w):
            seen.append(half_width)
            return 0.25
        monkeypatch.setattr(pipeline, "fit_backbone_scale", fit)

    def test_recorded_and_used(self, clip, reference, tmp_path, monkeypatch):
        seen = []
        self._coarse(monkeypatch, seen)
        _matte(clip, tmp_path / "fit", outputs="pha")
        meta = json.loads((tmp_path / "fit" / "howard.json").read_text())
        assert meta["base_pass"]["scale"] == 0.25 and meta["base_pass"]["frame_size_scale"] == 0.5
        assert meta["base_pass"]["measured_on_frame"] == 0 and len(seen) == 1 and seen[0] >= 0
        # the coarser base pass changed the matte
        assert _digest(tmp_path / "fit")["pha/00001.png"] != _digest(reference[0])["pha/00001.png"]

    def test_given_scale_is_not_fitted(self, clip, tmp_path, monkeypatch):
        seen = []
        self._coarse(monkeypatch, seen)
        _matte(clip, tmp_path / "given", outputs="pha", backbone_scale=0.5)
        assert "base_pass" not in json.loads((tmp_path / "given" / "howard.json").read_text())
        assert seen == []

    def test_resume_keeps_the_fitted_scale(self, clip, tmp_path, monkeypatch):
        seen = []
        self._coarse(monkeypatch, seen)
        _matte(clip, tmp_path / "whole", outputs="pha")
        out = tmp_path / "cut"
        with _ctrl_c_at_fourth_frame(monkeypatch):
            _matte(clip, out, outputs="pha")
        monkeypatch.setattr(pipeline, "fit_backbone_scale", lambda *a: 0.5)  # not asked again
        summary = _matte(clip, out, outputs="pha", resume=True)
        assert summary["resumed_at"] == 3
        assert json.loads((out / "howard.json").read_text())["base_pass"]["scale"] == 0.25
        assert _digest(out) == _digest(tmp_path / "whole")


class TestBackendChoice:
    """The network's runtime is recorded, kept by a resumed run, and a change is refused."""

    def test_recorded(self, clip, tmp_path):
        pytest.importorskip("openvino", reason="pip install openvino")
        _matte(clip, tmp_path / "ov", outputs="pha", backend="openvino", precision="f32")
        settings = json.loads((tmp_path / "ov" / "howard.json").read_text())["settings"]
        assert (settings["backend"], settings["precision"]) == ("openvino", "f32")
        _matte(clip, tmp_path / "pt", outputs="pha", backend="torch")
        settings = json.loads((tmp_path / "pt" / "howard.json").read_text())["settings"]
        assert (settings["backend"], settings["precision"]) == ("torch", "f32")

    def test_resume_with_auto_keeps_the_runs_choice(self, clip, tmp_path, monkeypatch):
        _matte(clip, tmp_path / "whole", outputs="pha", backend="torch")
        out = tmp_path / "cut"
        with _ctrl_c_at_fourth_frame(monkeypatch):
            _matte(clip, out, outputs="pha", backend="torch")
        summary = _matte(clip, out, outputs="pha", resume=True)  # backend auto
        assert summary["resumed_at"] == 3
        assert json.loads((out / "howard.json").read_text())["settings"]["backend"] == "torch"
        assert _digest(out) == _digest(tmp_path / "whole")

    def test_resume_with_another_backend_is_refused(self, clip, tmp_path, monkeypatch):
        pytest.importorskip("openvino", reason="pip install openvino")
        out = tmp_path / "cut"
        with _ctrl_c_at_fourth_frame(monkeypatch):
            _matte(clip, out, outputs="pha", backend="torch")
        before = _digest(out)
        with pytest.raises(HowardError, match="backend was 'torch' there and is "
                                                     "'openvino' now"):
            _matte(clip, out, outputs="pha", resume=True, backend="openvino")
        assert _digest(out) == before  # nothing lost

    def test_unknown_backend_is_a_user_error(self, clip, tmp_path):
        with pytest.raises(HowardError, match="backend must be one of"):
            _matte(clip, tmp_path / "x", backend="tensorrt")
        assert not (tmp_path / "x").exists()
