"""The output folder: naming, refusing to clobber, progress records."""

import json

import pytest

from howard.errors import OutputError
from howard.io.outputs import OutputFolder, frame_name


def test_frame_names_follow_template_and_start_number(tmp_path):
    assert frame_name("%05d.png", "rgba", 7) == "00007.png"
    assert frame_name("shot_{output}.%04d.png", "pha", 1001) == "shot_pha.1001.png"
    folder = OutputFolder(tmp_path / "o", ["rgba", "pha"], "shot_{output}.%04d.png", 1001)
    assert folder.path("pha", 0) == tmp_path / "o" / "pha" / "shot_pha.1001.png"


@pytest.mark.parametrize("template", ["frame.png", "%d%d.png", "%04d.jpg", "a/%04d.png"])
def test_bad_templates_are_refused(tmp_path, template):
    with pytest.raises(OutputError, match="template"):
        OutputFolder(tmp_path, ["rgba"], template)


def test_unknown_output_kind(tmp_path):
    with pytest.raises(OutputError, match="unknown output 'alpha'"):
        OutputFolder(tmp_path, ["alpha"])


def test_non_empty_folder_refused_without_flags_and_untouched(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    folder = OutputFolder(tmp_path, ["rgba"])
    with pytest.raises(OutputError, match="not empty.*--resume.*--overwrite"):
        folder.prepare()
    with pytest.raises(OutputError, match="no howard.json"):
        folder.prepare(resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_overwrite_replaces_only_howard_outputs(tmp_path):
    folder = OutputFolder(tmp_path, ["rgba"])
    folder.prepare()
    folder.path("rgba", 0).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    folder.prepare(overwrite=True)
    assert not folder.path("rgba", 0).exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_file_in_place_of_folder_and_unwritable(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        OutputFolder(tmp_path / "f", ["rgba"]).prepare()
    # a folder that cannot be created (its parent is a file) stands for any unwritable place;
    # permission bits alone don't stop root
    with pytest.raises(OutputError, match="cannot write"):
        OutputFolder(tmp_path / "f" / "sub", ["rgba"]).prepare()


def test_done_records_need_the_files(tmp_path):
    folder = OutputFolder(tmp_path, ["rgba", "pha"])
    folder.prepare()
    for i in range(3):
        for kind in ("rgba", "pha"):
            folder.path(kind, i).write_bytes(b"x")
    folder.mark_done([0, 1, 2])
    folder.path("pha", 1).unlink()
    assert folder.done_frames() == {0, 2}
    assert folder.first_unfinished() == 1
    folder.reset_done(1)
    assert folder.done_frames() == {0}


def test_alignment_log_truncated_and_damaged_lines_dropped(tmp_path):
    folder = OutputFolder(tmp_path, ["rgba"])
    folder.prepare()
    lines = [json.dumps({"frame": i, "inliers": 10 * i}) for i in range(4)]
    (tmp_path / "alignment.jsonl").write_text("\n".join(lines) + '\n{"frame": 4, "inl')
    records = folder.read_alignment(below=2)
    assert [r["frame"] for r in records] == [0, 1]
    assert len((tmp_path / "alignment.jsonl").read_text().splitlines()) == 2
