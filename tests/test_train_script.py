"""scripts/train.py end to end on tiny crops: loader processes, repeated looks, per-step base
scales, validation, publishing, resuming and export."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from howard.net.weights import read_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train.py"


def _train(run, *extra, timeout=240):
    cmd = [sys.executable, str(SCRIPT), "--run", str(run), "--stage", "refine", "--init", "none",
           "--crop", "96", "128", "--crop-step", "32", "--batch-size", "2", "--workers", "1",
           "--threads", "1", "--repeat", "2", "--backbone-scales", "0.25", "0.5",
           "--sample-pixels", "0", "--val-n", "2", "--val-size", "96", "--log-every", "2",
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_train_publish_resume_export(tmp_path):
    run, published = tmp_path / "run", tmp_path / "published.pth"
    done = _train(run, "--max-samples", "8", "--publish", str(published))
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "total" in r]
    assert steps and all(r["total"] > 0 for r in steps)
    assert any("val" in r for r in records)
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
    assert state["progress"]["samples"] == 8 and state["progress"]["step"] == 4

    weights, variant, meta = read_checkpoint(published)
    assert variant == "mobilenetv2" and meta["samples"] == 8
    raw = torch.load(published, map_location="cpu", weights_only=False)["state_dict"]
    assert all(v.dtype == torch.float16 for v in raw.values() if v.is_floating_point())

    first_lrs = sorted(g["lr"] for g in state["optimizer"]["param_groups"])
    again = _train(run, "--max-samples", "12", "--lr-scale", "0.5")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed" in again.stdout
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
    assert state["progress"]["samples"] == 12
    # a resumed run takes this command's learning rates, not the saved ones
    lrs = sorted(g["lr"] for g in state["optimizer"]["param_groups"])
    assert lrs == [0.5 * lr for lr in first_lrs]

    out = tmp_path / "export.pth"
    exported = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--export",
                               str(out)], capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert read_checkpoint(out)[1] == "mobilenetv2"
    latest = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--export",
                             str(out), "--export-from", "last"],
                            capture_output=True, text=True, timeout=120)
    assert latest.returncode == 0, latest.stderr[-2000:]
    assert read_checkpoint(out)[2]["samples"] == 12


def test_a_signal_to_the_whole_process_group_still_saves(tmp_path):
    """Ctrl-C in a terminal, or ``timeout``, signals the loader processes too: the run must
    still finish its step, save and exit cleanly instead of dying with its workers."""
    run = tmp_path / "run"
    cmd = [sys.executable, str(SCRIPT), "--run", str(run), "--stage", "refine", "--init", "none",
           "--crop", "96", "128", "--crop-step", "32", "--batch-size", "2", "--workers", "2",
           "--threads", "1", "--sample-pixels", "0", "--val-n", "1", "--val-size", "64",
           "--log-every", "1", "--val-minutes", "60", "--save-minutes", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            log = run / "log.jsonl"
            if log.exists() and sum(1 for _ in log.open()) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read()[-2000:]
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out[-2000:]
    assert "stopped at step" in out
    state = torch.load(run / "last.pth", map_location="cpu", weights_only=False)
    assert state["progress"]["step"] >= 2


def test_freeze_bn_keeps_the_running_statistics(tmp_path):
    """--freeze-bn: weights change, batch-norm running statistics stay as initialised."""
    from howard.net.model import build_model
    from howard.net.weights import save_checkpoint

    torch.manual_seed(0)
    init = save_checkpoint(build_model("mobilenetv2", refine=True), tmp_path / "init.pth")
    before = read_checkpoint(init)[0]

    def after(run, *extra):
        res = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--stage",
                              "refine", "--init", str(init), "--crop", "96", "96",
                              "--batch-size", "2", "--threads", "1", "--max-samples", "2",
                              "--val-n", "1", "--val-size", "64", *extra],
                             capture_output=True, text=True, timeout=240)
        assert res.returncode == 0, res.stderr[-2000:]
        return torch.load(run / "last.pth", map_location="cpu", weights_only=False)["model"]

    def moved(state, key):
        return not torch.allclose(state[key].float(), before[key].float())

    stats = [k for k in before if k.endswith("running_mean")]
    frozen, free = after(tmp_path / "frozen", "--freeze-bn"), after(tmp_path / "free")
    assert stats and not any(moved(frozen, k) for k in stats)
    assert any(moved(free, k) for k in stats)  # without the flag they do move
    assert moved(frozen, "refiner.conv1.weight")


def test_a_base_stage_export_takes_the_refiner_of_its_starting_checkpoint(tmp_path):
    """Fine-tuning the base network alone from shipped weights must export weights whose
    refiner is the one it started from, not a random one."""
    from howard.net.model import build_model
    from howard.net.weights import save_checkpoint
    torch.manual_seed(0)
    donor = tmp_path / "donor.pth"
    save_checkpoint(build_model("mobilenetv2", refine=True), donor, half=True)
    run = tmp_path / "run"
    cmd = [sys.executable, str(SCRIPT), "--run", str(run), "--stage", "base", "--init",
           str(donor), "--crop", "64", "96", "--batch-size", "2", "--workers", "0",
           "--threads", "1", "--val-n", "1", "--val-size", "64", "--max-samples", "4"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "export.pth"
    exported = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--export",
                               str(out), "--export-from", "last"],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr[-2000:]
    mine, _, meta = read_checkpoint(out)
    theirs = read_checkpoint(donor)[0]
    refiner = [k for k in theirs if k.startswith("refiner.")]
    assert refiner and all(torch.equal(mine[k], theirs[k]) for k in refiner)
    trained = [k for k in theirs if k.startswith("decoder.") and theirs[k].is_floating_point()]
    assert any(not torch.equal(mine[k], theirs[k]) for k in trained)
    assert meta["refiner_from"] == str(donor)

    scratch = tmp_path / "scratch"
    cmd[cmd.index(str(run))] = str(scratch)
    cmd[cmd.index(str(donor))] = "none"
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=240).returncode == 0
    refused = subprocess.run([sys.executable, str(SCRIPT), "--run", str(scratch), "--export",
                              str(tmp_path / "no.pth"), "--export-from", "last"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "has no refiner" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "no.pth").exists()
    # --refiner-from names where the refiner comes from instead
    torch.manual_seed(1)
    other = tmp_path / "other.pth"
    save_checkpoint(build_model("mobilenetv2", refine=True), other, half=True)
    given = tmp_path / "given.pth"
    assert subprocess.run([sys.executable, str(SCRIPT), "--run", str(scratch), "--export",
                           str(given), "--export-from", "last", "--refiner-from", str(other)],
                          capture_output=True, text=True, timeout=120).returncode == 0
    mine, theirs = read_checkpoint(given)[0], read_checkpoint(other)[0]
    assert all(torch.equal(mine[k], theirs[k]) for k in refiner)


def test_training_sees_dim_samples_as_the_matte_command_does():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    from howard.net import exposure
    from howard.synth.samples import SampleGenerator
    batch = SampleGenerator(seed=3, dim=1.0).batch(range(4), (64, 80))
    batch = {k: torch.from_numpy(v) for k, v in batch.items()}
    bright = SampleGenerator(seed=3).batch(range(1), (64, 80))
    batch = {k: torch.cat([v, torch.from_numpy(bright[k])]) for k, v in batch.items()}
    seen = train._exposed(batch)
    s, b, g = exposure.brighten(batch["src"], batch["bgr"])
    assert g is not None and float(g.max()) > 1.5 and float(g.min()) == 1.0
    assert torch.equal(seen["src"], s) and torch.equal(seen["bgr"], b)
    assert torch.equal(seen["pha"], batch["pha"])
    want = (batch["fgr"] * g.view(-1, 1, 1, 1)).clamp(0, 1)
    assert torch.allclose(seen["fgr"], want)
    same = g == 1.0
    assert torch.equal(seen["fgr"][same], batch["fgr"][same])


def test_a_step_that_raises_ends_the_process(tmp_path):
    """An error inside a training step ends the run with the error (the loader's worker used
    to keep it waiting, and its SIGTERM handler outlived the loop)."""
    wrapper = tmp_path / "raising.py"
    wrapper.write_text(
        "import runpy, sys\n"
        "import howard.net.training as training\n"
        "def boom(*args, **kwargs):\n"
        "    raise RuntimeError('a step failed on purpose')\n"
        "training.refine_loss = boom\n"
        f"sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n")
    cmd = [sys.executable, str(wrapper), "--run", str(tmp_path / "run"), "--stage", "refine",
           "--init", "none", "--crop", "96", "128", "--crop-step", "32", "--batch-size", "2",
           "--workers", "1", "--threads", "1", "--sample-pixels", "0", "--val-n", "2",
           "--val-size", "96", "--max-samples", "8"]
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "a step failed on purpose" in done.stderr
    assert time.time() - started < 90
