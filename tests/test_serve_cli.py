"""``howard serve`` on the command line: flags mapped, the missing extra in one line, a real
uvicorn on 127.0.0.1 stopped by Ctrl-C."""

import json
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from howard.cli import main


def test_without_the_web_extra_one_line(monkeypatch):
    for name in [m for m in sys.modules if m == "howard.serve.app" or m.startswith("fastapi")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    res = CliRunner().invoke(main, ["serve"])
    assert res.exit_code == 1
    assert res.output == "howard: error: howard serve needs the web extra: " \
                         "pip install 'howard[web]'\n"


def test_flags_mapped(monkeypatch, tmp_path):
    pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
    import howard.serve.app as app

    calls = []
    monkeypatch.setattr(app, "serve", lambda **kw: calls.append(kw))
    res = CliRunner().invoke(main, ["serve", "--data", str(tmp_path), "--port", "8123",
                                    "--jobs", "2", "--max-upload-mb", "50"])
    assert res.exit_code == 0, res.output
    assert calls == [{"host": "127.0.0.1", "port": 8123, "data": str(tmp_path),
                      "max_upload_mb": 50, "jobs": 2}]
    assert "serving http://127.0.0.1:8123/" in res.output and "warning" not in res.output
    res = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path)])
    assert calls[-1]["host"] == "0.0.0.0" and "anyone who can reach it" in res.output
    res = CliRunner().invoke(main, ["serve", "--jobs", "0"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_serves_on_loopback_until_ctrl_c(tmp_path):
    pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
    from serve_helpers import running_server

    with running_server(tmp_path / "data", "--max-upload-mb", "7") as url:
        assert url.startswith("http://127.0.0.1:")
        config = json.loads(urllib.request.urlopen(url + "/api/config").read())
        assert config["max_upload_mb"] == 7 and config["jobs"] == 1
        page = urllib.request.urlopen(url + "/").read().decode()
        assert "<form id=\"job-form\"" in page
    assert (tmp_path / "data" / "jobs").is_dir()


def test_workers_stop_when_the_server_is_killed(tmp_path):
    """A server killed outright (no Ctrl-C) leaves no worker running on its jobs."""
    pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
    httpx = pytest.importorskip("httpx")
    import os
    import signal
    import time

    from serve_helpers import DATA, running_server

    data = tmp_path / "data"
    with running_server(data) as url:
        files = {"subject": ("subject.mp4", (DATA / "subject.mp4").read_bytes()),
                 "plate": ("plate.mp4", (DATA / "plate.mp4").read_bytes())}
        job_id = httpx.post(url + "/api/jobs", files=files, data={"outputs": "zip"}).json()["id"]
        record = data / "jobs" / job_id / "job.json"
        end = time.monotonic() + 30
        while "pid" not in json.loads(record.read_text()):
            assert time.monotonic() < end
            time.sleep(0.1)
        worker = json.loads(record.read_text())["pid"]
        server = int(os.popen(f"ps -o ppid= -p {worker}").read())
        os.kill(server, signal.SIGKILL)
        end = time.monotonic() + 30
        while os.path.exists(f"/proc/{worker}") and \
                open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < end, "the worker outlived its server"
            time.sleep(0.1)
    assert json.loads(record.read_text())["state"] == "running"  # to continue next time
