"""The ASGI app of ``howard serve``: the page, the JSON API, and :func:`serve` to run it.

Answers are JSON; every error is ``{"detail": "one line"}`` with a 4xx status (the page shows
the same line), never a traceback. Uploads are checked by :mod:`howard.serve.forms` before a
job is queued; the server only ever sends back a job's finished outputs (named by a fixed
list) and its newest frame.
"""

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Dict, List, Optional

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from .. import __version__
from . import forms
from .jobs import ACTIVE, FILES, JobStore
from .limits import LOCAL_HOSTS, Guard
from .runner import Runner

STATIC = Path(__file__).parent / "static"
_ABOUT = """Matte uploaded clips with howard: upload a subject clip and its clean plate, get the
subject with alpha (RGBA PNG zip, ProRes 4444, WebM) or composited over a new background (MP4).
Errors are `{"detail": "..."}` with a 4xx status."""


class Created(BaseModel):
    id: str


class JobView(BaseModel):
    id: str
    state: str
    stage: Optional[str] = None
    frames: Optional[int] = None
    done: int = 0
    fps: Optional[float] = None
    seconds_left: Optional[float] = None
    error: Optional[str] = None
    files: Dict[str, str] = {}
    fallbacks: List[Dict] = []
    subject: str
    plate: str
    background: str
    outputs: List[str]
    options: Dict
    created: float
    preview: Optional[str] = None


class JobList(BaseModel):
    jobs: List[JobView]


_ERRORS = {400: {"description": "Bad input: the detail says which field and what to do"},
           404: {"description": "No such job (or file, or frame yet)"},
           413: {"description": "The upload is over the server's limit"}}


def create_app(data, *, max_upload_mb: int = 2000, jobs: int = 1,
               allowed_hosts=LOCAL_HOSTS) -> FastAPI:
    """The app, keeping its jobs under the folder ``data``.

    Args:
        data: the folder for jobs (made if missing); jobs found there are continued.
        max_upload_mb: largest request (all of a job's uploads together), in MB.
        jobs: jobs matted at once, each in its own process.
        allowed_hosts: host names the server answers to (None: any); the default, loopback
            names only, keeps other web sites from reaching it through the browser.
    """
    store = JobStore(data)
    runner = Runner(store, jobs)

    @asynccontextmanager
    async def lifespan(app):
        runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)

    # the API's pages (/docs, /redoc) with their scripts served from here, not from a CDN
    app = FastAPIOffline(title="howard", version=__version__, description=_ABOUT,
                         lifespan=lifespan)
    app.state.store, app.state.runner = store, runner
    app.add_middleware(Guard, max_bytes=max_upload_mb * 1_000_000, allowed_hosts=allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"detail": f"{field}: {first.get('msg', 'invalid')}"}, 400)

    @app.exception_handler(forms.FormError)
    async def _bad_form(request, exc):
        return JSONResponse({"detail": str(exc)}, exc.status)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/config", summary="The server's limits")
    def config():
        return {"max_upload_mb": max_upload_mb, "jobs": runner.jobs,
                "outputs": list(FILES), "green": forms.GREEN, "version": __version__}

    @app.post("/api/jobs", status_code=201, response_model=Created, responses=_ERRORS,
              summary="Upload a subject and its plate; queue a job")
    async def create_job(
            request: Request,
            subject: UploadFile = File(..., description="the subject clip (video or image)"),
            plate: UploadFile = File(..., description="the clean plate: a video or one image"),
            background: Optional[UploadFile] = File(
                None, description="a new background image or video (for com.mp4 and the "
                "preview)"),
            background_colour: Optional[str] = Form(
                None, description="or a colour, e.g. #00b140; none: transparent"),
            outputs: Optional[str] = Form(
                None, description="comma list of zip, mov, webm, mp4 (at least one)")):
        """Any `howard matte` option may be added as a further form field (`window=1`,
        `sample-pixels=4000`, `premultiply=true`, ...)."""
        form = await request.form()
        extra = {k: v for k, v in form.multi_items() if k not in forms.FIELDS}
        if background is not None and not background.filename:
            background = None  # an empty file input
        job_id = await run_in_threadpool(_create, store, subject, plate, background,
                                         background_colour, outputs, extra)
        runner.submit(job_id)
        return {"id": job_id}

    @app.get("/api/jobs", response_model=JobList, summary="Every job, newest first")
    def list_jobs():
        return {"jobs": [store.view(r) for r in reversed(store.all())]}

    @app.get("/api/jobs/{job_id}", response_model=JobView, responses=_ERRORS,
             summary="A job's state, progress and files")
    def get_job(job_id: str):
        return store.view(_record(store, job_id))

    @app.get("/api/jobs/{job_id}/preview", responses=_ERRORS, response_class=FileResponse,
             summary="The newest finished frame (PNG; composited when there is a background)")
    def preview(job_id: str):
        record = _record(store, job_id)
        path = store.preview(job_id) if record["state"] != "cancelled" else None
        if path is None:
            raise HTTPException(404, f"job {job_id} has no finished frame yet")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/files/{name}", responses=_ERRORS,
             response_class=FileResponse, summary="Download an output of a finished job")
    def download(job_id: str, name: str):
        record = _record(store, job_id)
        path = store.file(job_id, name)
        if path is None:
            names = [FILES[k].rsplit("/", 1)[-1] for k in record["outputs"]]
            raise HTTPException(404, f"job {job_id} has no file {name!r}" + (
                f"; it has {', '.join(names)}" if record["state"] == "done"
                else f"; the job is {record['state']}"))
        stem = Path(record["names"]["subject"] or "subject").stem
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "subject"
        return FileResponse(path, filename=f"{safe}-{name}")

    @app.delete("/api/jobs/{job_id}", responses=_ERRORS,
                summary="Cancel a queued or running job, or remove a finished one")
    def delete_job(job_id: str):
        """A queued or running job is stopped and its files removed; it stays listed as
        `cancelled` until deleted again. Any other job is removed at once."""
        record = _record(store, job_id)
        if runner.cancel(job_id) or record["state"] in ACTIVE:
            store.update(job_id, state="cancelled", error=None)
            store.clear(job_id, keep_record=True)
            return {"id": job_id, "state": "cancelled"}
        store.clear(job_id, keep_record=False)
        return {"id": job_id, "state": "removed"}

    return app


def _record(store: JobStore, job_id: str) -> Dict:
    record = store.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r} on this server")
    return record


def _create(store: JobStore, subject, plate, background, colour, outputs, extra) -> str:
    """Check the form and store the uploads; returns the queued job's id (blocking)."""
    wanted = forms.parse_outputs(outputs)
    options = forms.parse_options(extra)
    if background is not None and colour not in (None, ""):
        raise forms.FormError("give the background as a file or as background_colour, not "
                              "both")
    spec = forms.parse_colour(colour) if background is None else None
    if "mp4" in wanted and background is None and spec is None:
        raise forms.FormError("the mp4 output is the subject over a new background: choose "
                              "green screen, a colour, an image or a video, or leave mp4 out")
    staged = store.stage()
    try:
        uploads = {"subject": subject, "plate": plate}
        if background is not None:
            uploads["background"] = background
        paths = {role: forms.save_upload(f.file, f.filename, staged / "input", role)
                 for role, f in uploads.items()}
        names = {role: Path(f.filename or role).name for role, f in uploads.items()}
        if background is not None:
            spec = str(paths["background"])
        forms.check_media(paths, names, spec, options)
        record = {"names": {**{"background": None}, **names},
                  "inputs": {role: str(p.relative_to(staged)) for role, p in paths.items()},
                  "background": spec if background is None else None,
                  "background_label": names.get("background") or spec or "none",
                  "outputs": wanted, "options": options}
        return store.add(staged, record)
    except BaseException:
        store.discard(staged)
        raise


def serve(host: str = "127.0.0.1", port: int = 8000, data="howard-jobs",
          max_upload_mb: int = 2000, jobs: int = 1) -> None:
    """Run the server until interrupted (uvicorn)."""
    import uvicorn

    hosts = LOCAL_HOSTS if host in ("127.0.0.1", "localhost", "::1") else None
    app = create_app(data, max_upload_mb=max_upload_mb, jobs=jobs, allowed_hosts=hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
