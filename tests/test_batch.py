"""Shot lists, chunk plans and the cluster's user errors (no cluster started)."""

import sys

import pytest
from click.testing import CliRunner

from howard import batch, cluster
from howard.cli import main
from howard.errors import HowardError


class TestPlanChunks:
    def test_covers_every_frame_once_in_whole_batches(self):
        chunks = cluster.plan_chunks(100, 30, batch=4, workers=2, first=4)
        assert chunks[0][0] == 4 and chunks[-1][1] == 100
        assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
        assert all((b - a) % 4 == 0 for a, b in chunks[:-1])  # 30 rounded up to 32

    def test_default_length_is_several_warmups(self):
        (a, b), *_ = cluster.plan_chunks(1000, None, batch=1, workers=4)
        assert b - a >= 4 * cluster.WARMUP


class TestReadShots:
    def test_options_typed(self, tmp_path):
        csv = tmp_path / "shots.csv"
        csv.write_text("subject,plate,out,backbone_scale,window,outputs,chunk_frames,resume\n"
                       "a.mp4,b.mp4,o1,1/4,5,rgba pha,20,yes\n"
                       "c.mp4,d.mp4,o2,,,,,\n")
        one, two = batch.read_shots(str(csv))
        assert one["settings"].backbone_scale == 0.25 and one["settings"].window == 5
        assert one["settings"].outputs == ("rgba", "pha")
        assert one["options"] == {"chunk_frames": 20, "resume": True}
        assert two["settings"].window == 3 and two["options"] == {}

    @pytest.mark.parametrize("text, word", [("subject,plate\na,b\n", "header"),
                                            ("subject,plate,out,colour\na,b,c,red\n",
                                             "unknown column"),
                                            ("subject,plate,out,window\na,b,c,wide\n",
                                             ":2:")])
    def test_bad_lists_say_why(self, tmp_path, text, word):
        csv = tmp_path / "shots.csv"
        csv.write_text(text)
        with pytest.raises(HowardError, match=word):
            batch.read_shots(str(csv))


def test_table_names_the_failure():
    shots = [{"out": "a"}, {"out": "b"}]
    results = [{"status": "complete", "frames": 12, "fallback_frames": 1, "seconds": 3.0},
               {"status": "failed", "frames": None, "fallback_frames": 0, "seconds": 0.0,
                "error": "no such plate"}]
    lines = batch.table(results, shots).splitlines()
    assert lines[0].split()[:5] == ["shot", "frames", "fallbacks", "seconds", "status"]
    assert "complete" in lines[1] and "12" in lines[1]
    assert "failed: no such plate" in lines[2]


def test_scheduler_without_dask_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    result = CliRunner().invoke(main, ["matte", "s.mp4", "p.mp4", str(tmp_path / "o"),
                                       "--scheduler", "local:2"])
    assert result.exit_code == 1
    assert "pip install 'howard[cluster]'" in result.output
    assert "Traceback" not in result.output


def test_bad_local_count(monkeypatch):
    pytest.importorskip("distributed", reason="needs pip install 'howard[cluster]'")
    with pytest.raises(HowardError, match="local:N"):
        cluster.connect("local:zero")
