"""scripts/evaluate.py end to end on a tiny set: the table, results.json and the chosen base
pass and refinement budget."""

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate.py"


def test_evaluate_tiny_set(tmp_path):
    out = tmp_path / "eval"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--cache", str(tmp_path / "sets"),
           "--clips", "1", "--frames", "3", "--size", "144x256", "--methods",
           "howard,base,diffkey,truth", "--backbone-scale", "1/4", "--sample-pixels", "1024", "--sheet-rows", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert report["settings"]["backbone_scale"] == 0.25
    assert report["settings"]["sample_pixels"] == 1024
    runs = list((out / "howard").glob("*/howard.json"))
    assert len(runs) == 1
    assert json.loads(runs[0].read_text())["settings"]["sample_pixels"] == 1024
    assert set(report["methods"]) == {"howard", "base", "diffkey", "truth"}
    for m in report["methods"].values():
        assert all(math.isfinite(v) and v >= 0 for v in m["metrics"].values())
    table = (out / "table.md").read_text()
    assert "base pass at 0.25" in table and "difference key" in table
    assert (out / "sheet.png").is_file()
    # a well-aligned plate is close to the true background outside the subject
    assert 0 <= report["plate_error"] < 20 and "grey levels" in table


def test_evaluate_zoomed_set(tmp_path):
    out = tmp_path / "eval"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--cache", str(tmp_path / "sets"),
           "--clips", "1", "--frames", "2", "--size", "144x256", "--methods", "howard,truth",
           "--zoom", "2.5", "--sheet-rows", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert report["settings"]["zoom"] == 2.5
    assert "person zoomed 2.5x" in (out / "table.md").read_text()
    sets = [p.name for p in (tmp_path / "sets").iterdir()]
    assert sets == ["seed1-1x2-144x256-zoom2.5"]
    truth = np.asarray(cv2.imread(str(next(
        (tmp_path / "sets" / sets[0] / "clip_000" / "gt" / "pha").glob("*.png"))),
        cv2.IMREAD_UNCHANGED), np.float64) / 65535
    assert truth.mean() > 0.3  # a medium shot: the person fills much of the frame
    bad = subprocess.run(cmd[:-4] + ["--zoom", "0.5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--zoom" in bad.stderr


def test_evaluate_families_in_dim_light(tmp_path):
    out = tmp_path / "eval"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--cache", str(tmp_path / "sets"),
           "--clips", "1", "--frames", "2", "--size", "144x256", "--methods",
           "howard,diffkey_truth", "--subjects", "plant,cloth", "--light", "dim",
           "--backbone-scale", "1/4", "--sample-pixels", "1024", "--sheet-rows", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert report["settings"]["subjects"] == ["plant", "cloth"]
    assert report["settings"]["light"] == "dim"
    assert set(report["families"]) == {"plant", "cloth"}
    assert {c["family"] for c in report["clips"]} == {"plant", "cloth"}
    for fam in report["families"].values():
        assert set(fam) == {"howard", "diffkey_truth"}
        assert all(math.isfinite(v) for v in fam["howard"]["metrics"].values())
    table = (out / "table.md").read_text()
    assert "### plant" in table and "### cloth" in table and "### all" in table
    assert "difference key (true background)" in table and "Light: dim" in table
    assert sorted(p.name for p in (tmp_path / "sets").iterdir()) == [
        "seed1-1x2-144x256-cloth-dim", "seed1-1x2-144x256-plant-dim"]
    bad = subprocess.run(cmd[:-8] + ["--subjects", "tree"], capture_output=True, text=True)
    assert bad.returncode == 2 and "tree" in bad.stderr


def test_evaluate_a_plate_framed_off_the_shot(tmp_path):
    out = tmp_path / "eval"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--cache", str(tmp_path / "sets"),
           "--clips", "1", "--frames", "3", "--size", "144x256", "--methods", "howard,truth",
           "--coverage", "0.1", "--coverage-mode", "offset", "--backbone-scale", "1/4",
           "--sample-pixels", "1024", "--sheet-rows", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert (report["settings"]["coverage"], report["settings"]["coverage_mode"]) == (0.1, "offset")
    assert [p.name for p in (tmp_path / "sets").iterdir()] == ["seed1-1x3-144x256-offset0.1"]
    meta = json.loads((tmp_path / "sets" / "seed1-1x3-144x256-offset0.1" / "clip_000" /
                       "meta.json").read_text())
    assert meta["plate_offset"] == 0.1
    cover = report["coverage"]
    assert cover["valid_min"] <= cover["covered_min"] < 0.95  # a strip is left uncovered
    clip = report["clips"][0]
    assert len(clip["covered"]) == 3 and len(clip["methods"]["truth"]["sad_per_frame"]) == 3
    table = (out / "table.md").read_text()
    assert "Plate framed off the shot" in table and "with the mosaic" in table
    bad = subprocess.run(cmd[:-10] + ["--coverage", "0.7"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--coverage" in bad.stderr


def test_plate_error_counts_only_the_background():
    import numpy as np
    sys.path.insert(0, str(SCRIPT.parent))
    from evaluate import plate_error
    true = np.zeros((4, 6, 3), np.uint8)
    plate = true.copy()
    plate[:, :3] = 30  # wrong by 30 levels on the left half
    alpha = np.zeros((4, 6))
    assert plate_error(plate, true, alpha) == 15.0
    alpha[:, :3] = 1.0  # the subject covers the wrong half: nothing is wrong behind it
    assert plate_error(plate, true, alpha) == 0.0
    assert math.isnan(plate_error(plate, true, np.ones((4, 6))))
