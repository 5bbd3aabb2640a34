"""A new job's form, parsed and checked before the job is queued.

Every mistake a user can make in the form (an unknown output or option, a bad colour, a file
that is neither video nor image, a plate of another aspect ratio) is a :class:`FormError`
with one line that names the field and says what to do; the page shows that line and the API
answers it with a 4xx. Uploads are stored under fixed names in the job's ``input/`` folder
(only the extension of the name given is kept, and only when it is plain), so no name a client
sends is ever joined to a path.
"""

import re
import shutil
from pathlib import Path
from typing import BinaryIO, Dict, Mapping, Optional

import click

from ..errors import HowardError
from .jobs import FILES

GREEN = "#00b140"
# form fields of the server itself; every other field is a howard matte option
FIELDS = ("subject", "plate", "background", "background_colour", "outputs")
# matte options a job cannot take: the server decides these
_REFUSED = {
    "outputs": "the form's outputs field chooses zip, mov, webm or mp4",
    "videos": "choose the videos with the outputs field (mov, webm, mp4)",
    "background": "give the background as the background file or background_colour",
    "overwrite": "each job has its own output folder", "resume": "the server resumes jobs itself",
    "scheduler": "the server runs jobs on this machine", "chunk_frames": "jobs are not chunked",
    "quiet": "the server reports progress itself"}


class FormError(HowardError):
    """A form the server cannot make a job from; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_outputs(text: Optional[str]) -> list:
    """``'zip,mov'`` -> ``['zip', 'mov']`` (each of zip, mov, webm, mp4 at most once)."""
    names = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    unknown = [n for n in names if n not in FILES]
    if unknown:
        raise FormError(f"unknown output {unknown[0]!r}; outputs is a comma list of "
                        f"{', '.join(FILES)}")
    if not names:
        raise FormError(f"choose at least one output: {', '.join(FILES)}")
    return [n for n in FILES if n in names]


def parse_colour(text: str) -> Optional[str]:
    """A background colour as ``#rrggbb``; None for ``none`` or nothing (transparent)."""
    from ..io.composite import parse_colour as rgb_of

    text = (text or "").strip()
    if text.lower() in ("", "none", "transparent"):
        return None
    rgb = rgb_of(text)
    if rgb is None:
        raise FormError(f"background_colour {text!r} is not a colour; give #rrggbb (e.g. "
                        f"{GREEN} for green screen), a name such as white, or none")
    return "#%02x%02x%02x" % rgb


def _matte_params() -> Dict[str, click.Parameter]:
    from ..cli import matte

    return {p.name: p for p in matte.params if isinstance(p, click.Option)}


def parse_options(fields: Mapping[str, str]) -> Dict:
    """``howard matte`` options given as form fields (``window`` or ``--window``, dashes or
    underscores), converted and checked as the command line does."""
    params, options = _matte_params(), {}
    for key, text in fields.items():
        name = key.strip().lstrip("-").replace("-", "_")
        if name in _REFUSED:
            raise FormError(f"option {key!r} cannot be set here: {_REFUSED[name]}")
        if name not in params:
            known = ", ".join(sorted(n.replace("_", "-") for n in params if n not in _REFUSED))
            raise FormError(f"unknown option {key!r}; howard matte's options are {known}")
        param, text = params[name], str(text).strip()
        try:
            value = param.type.convert(text, param, None)
        except click.BadParameter as e:
            raise FormError(f"option {name.replace('_', '-')}: {e.message}") from None
        if name == "bit_depth":
            value = int(value)
        elif name == "backbone_scale":
            value = _scale(text)
        elif name == "weights" and value and re.search(r"[/\\]|\.\.", value):
            raise FormError("option weights: give the name of a checkpoint in the server's "
                            "weights folder, not a path")
        options[name] = value
    return options


def _scale(text: str) -> Optional[float]:
    from ..settings import parse_backbone_scale

    if text in ("", "auto"):
        return None
    try:
        return parse_backbone_scale(text)
    except ValueError as e:
        raise FormError(f"option backbone-scale: {e} (or auto)") from None


def save_upload(source: BinaryIO, filename: Optional[str], folder: Path, role: str) -> Path:
    """Copy an upload to ``folder/<role><ext>``, ``ext`` from ``filename`` when plain."""
    ext = Path(filename or "").suffix.lower()
    path = folder / (role + (ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ""))
    with open(path, "wb") as f:
        shutil.copyfileobj(source, f, 1 << 20)
    if path.stat().st_size == 0:
        raise FormError(f"the {role} file {filename!r} is empty; choose the {role} video or "
                        f"image again")
    return path


def check_media(paths: Dict[str, Path], names: Dict[str, str], background: Optional[str],
                options: Dict) -> None:
    """Open the uploads (``paths`` by role: subject, plate, maybe background) as howard matte
    will, check the plate's aspect ratio and the settings; raises :class:`FormError` in the
    words of the error, with the uploads' names for the paths."""
    from ..api import make_settings
    from ..align.plate_window import plate_crop
    from ..io import composite, media
    from ..settings import check_settings

    def named(error: HowardError) -> str:
        text = str(error)
        for role, path in paths.items():
            text = text.replace(str(path), names.get(role) or role)
        return text

    sources = {}
    for role in ("subject", "plate"):
        try:
            sources[role] = media.open_source(paths[role])
        except HowardError as e:
            raise FormError(f"{role}: {named(e)}") from None
    if "background" in paths:
        try:
            composite.parse_background(paths["background"], sources["subject"].size, 1)
        except HowardError as e:
            raise FormError(f"background: {named(e)}") from None
    try:
        plate_crop(sources["plate"].size, sources["subject"].size,
                   options.get("plate_fit", "error"))
        settings = {k: v for k, v in options.items()
                    if k not in ("device", "workers", "threads")}
        check_settings(make_settings(outputs=["rgba"], background=background, **settings))
    except HowardError as e:
        raise FormError(named(e)) from None
