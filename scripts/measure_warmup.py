"""How many warm-up frames a chunk needs to write the same bytes as a continuous run.

Mattes a clip once from frame 0, then each chunk start ``a`` again after ``w`` warm-up frames
(``howard.stages.Chunk``) and compares the rgba files and alignment records of frames
``[a, a + length)``. Usage::

    python scripts/measure_warmup.py SUBJECT PLATE WORK --starts 6 12 18 --warmups 0 1 2 4 8
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from howard import api, pipeline
from howard.stages import Chunk


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records(path: Path) -> dict:
    return {r["frame"]: r for r in map(json.loads, path.read_text().splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("subject")
    ap.add_argument("plate")
    ap.add_argument("work")
    ap.add_argument("--starts", type=int, nargs="+", default=[6, 12, 18])
    ap.add_argument("--warmups", type=int, nargs="+", default=[0, 1, 2, 4, 8])
    ap.add_argument("--length", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    work = Path(args.work)
    ref = work / "continuous"
    shutil.rmtree(work, ignore_errors=True)
    settings = api.make_settings()
    pipeline.run(args.subject, args.plate, ref, settings, device="cpu", progress=False,
                 threads=args.threads, workers=1)
    base_pass = json.loads((ref / "howard.json").read_text()).get("base_pass")
    ref_rec = _records(ref / "alignment.jsonl")
    print("| chunk start | warm-up frames | identical rgba | identical alignment |")
    print("|---|---|---|---|")
    for a in args.starts:
        for w in args.warmups:
            out = work / f"a{a}-w{w}"
            out.mkdir(parents=True)
            (out / "howard.json").write_text("{}")
            pipeline.run(args.subject, args.plate, out, settings, device="cpu", progress=False,
                         threads=args.threads, workers=1,
                         chunk=Chunk(a, a + args.length, w, base_pass))
            frames = range(a, a + args.length)
            same = sum(_sha(out / "rgba" / f"{i:05d}.png") == _sha(ref / "rgba" / f"{i:05d}.png")
                       for i in frames)
            rec = _records(out / ".howard" / "parts" / f"alignment-{a:06d}.jsonl")
            same_rec = sum({k: v for k, v in rec[i].items() if k != "seconds"}
                           == {k: v for k, v in ref_rec[i].items() if k != "seconds"}
                           for i in frames)
            print(f"| {a} | {w} | {same}/{args.length} | {same_rec}/{args.length} |", flush=True)


if __name__ == "__main__":
    main()
