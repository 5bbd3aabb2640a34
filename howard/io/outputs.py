"""The output folder: naming, refusing to clobber, resuming, and the run's records.

Layout of ``OUT``::

    rgba/ pha/ fgr/ err/ ref/ bgr/ com/   one image per subject frame (those asked for)
    howard.json                           command, versions, weights sha256, settings, status
    alignment.jsonl                       one JSON record per subject frame
    .howard/done                          frame indices whose every file is written
    .howard/mask/                         recent subject masks, so a resumed run aligns the same

A frame counts as finished only once all of its files are on disk (each written atomically) and
its index is appended to ``.howard/done``; ``--resume`` restarts at the first unfinished frame.
"""

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import OutputError

log = logging.getLogger(__name__)

KINDS = ("rgba", "pha", "fgr", "err", "ref", "bgr", "com")
STATE = ".howard"


def frame_name(template: str, kind: str, number: int) -> str:
    """File name of frame ``number`` for output ``kind``.

    ``template`` is a printf pattern with one integer field (``%05d.png``,
    ``shot.%04d.png``); ``{output}`` in it is replaced by the output kind.
    """
    return template.replace("{output}", kind) % number


def check_template(template: str) -> None:
    """Refuse a name template that would not give one distinct file per frame."""
    try:
        a, b = frame_name(template, "rgba", 1), frame_name(template, "rgba", 2)
    except (TypeError, ValueError):
        raise OutputError(f"name template {template!r} needs exactly one integer field such as "
                          f"%04d (e.g. 'shot_{{output}}.%04d.png')") from None
    if a == b or "/" in a or not a.lower().endswith(".png"):
        raise OutputError(f"name template {template!r} must give one .png file name per frame "
                          f"(e.g. 'shot.%04d.png')")


class OutputFolder:
    """Owns ``OUT``: prepares it, names files, records progress.

    Args:
        root: the output folder.
        kinds: image outputs asked for, e.g. ``("rgba",)``.
        template: frame file name template (see :func:`frame_name`).
        start_number: number of subject frame 0 in file names.
    """

    def __init__(self, root, kinds: Iterable[str], template: str = "%05d.png",
                 start_number: int = 0):
        self.root = Path(root)
        self.kinds = tuple(kinds)
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise OutputError(f"unknown output {unknown[0]!r}; choose from {', '.join(KINDS)}")
        check_template(template)
        self.template, self.start_number = template, start_number
        self.state = self.root / STATE
        # a cluster chunk records its finished frames in a file of its own (parts/done-*)
        self.done_file = self.state / "done"

    def path(self, kind: str, index: int) -> Path:
        return self.root / kind / frame_name(self.template, kind, self.start_number + index)

    def prepare(self, overwrite: bool = False, resume: bool = False) -> None:
        """Check the folder can be used, then create it. Nothing is deleted unless
        ``overwrite``; a non-empty folder without ``overwrite``/``resume`` is refused."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise OutputError(f"output {str(root)!r} exists and is not a folder; choose another "
                              f"path")
        busy = root.is_dir() and any(root.iterdir())
        if busy and not (overwrite or resume):
            raise OutputError(f"output folder {str(root)!r} is not empty; pass --resume to "
                              f"continue a run there or --overwrite to replace it")
        if resume and busy and not (root / "howard.json").is_file():
            raise OutputError(f"cannot resume in {str(root)!r}: it holds no howard.json from an "
                              f"earlier run; use another folder or --overwrite")
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".howard-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise OutputError(f"cannot write to output folder {str(root)!r}: {e.strerror}; "
                              f"check the path and its permissions") from None
        if overwrite and busy and not resume:
            for name in list(KINDS) + [STATE]:
                if (root / name).is_dir():
                    shutil.rmtree(root / name)
            for name in ("howard.json", "alignment.jsonl"):
                if (root / name).exists():
                    (root / name).unlink()
        for kind in self.kinds:
            (root / kind).mkdir(exist_ok=True)
        (self.state / "mask").mkdir(parents=True, exist_ok=True)

    # --- progress records -------------------------------------------------------------------
    def done_frames(self) -> set:
        """Indices recorded as finished whose files are all present (in ``.howard/done`` or
        a cluster chunk's ``.howard/parts/done-*``)."""
        paths = [self.state / "done"] + sorted((self.state / "parts").glob("done-*"))
        done = set()
        for path in paths:
            if path.is_file():
                done.update(int(line) for line in path.read_text().splitlines()
                            if line.strip().isdigit())
        return {i for i in done if all(self.path(k, i).is_file() for k in self.kinds)}

    def first_unfinished(self) -> int:
        done, i = self.done_frames(), 0
        while i in done:
            i += 1
        return i

    def mark_done(self, indices: Iterable[int]) -> None:
        with open(self.done_file, "a") as f:
            f.write("".join(f"{i}\n" for i in indices))
            f.flush()

    def reset_done(self, keep_below: int) -> None:
        """Keep only finished records below ``keep_below`` (frames from there are redone)."""
        kept = sorted(i for i in self.done_frames() if i < keep_below)
        tmp = self.state / "done.tmp"
        tmp.write_text("".join(f"{i}\n" for i in kept))
        os.replace(tmp, self.state / "done")
        for part in (self.state / "parts").glob("done-*"):  # folded into done above
            part.unlink()

    def read_alignment(self, below: int) -> List[Dict]:
        """Alignment records of frames ``< below`` (damaged or later lines dropped), and the
        file rewritten to hold just those."""
        path = self.root / "alignment.jsonl"
        records = []
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and rec.get("frame", below) < below:
                    records.append(rec)
        records.sort(key=lambda r: r["frame"])
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, path)
        return records

    def read_settings(self) -> Optional[Dict]:
        try:
            return json.loads((self.root / "howard.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
