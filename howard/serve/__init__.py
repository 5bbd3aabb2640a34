"""``howard serve``: a local web page and JSON API that matte uploaded clips.

The server (FastAPI + uvicorn, the ``web`` extra) keeps each job in a folder of its own under
its data folder (:mod:`howard.serve.jobs`), parses and checks what is uploaded before a job is
queued (:mod:`howard.serve.forms`), and mattes the jobs one after another (``--jobs``) in worker
processes (:mod:`howard.serve.runner`, :mod:`howard.serve.worker`) that call
:func:`howard.matte` and report its progress through files in the job's folder, so that a
restarted server finds its jobs again and continues the unfinished ones with ``resume``.

Only :mod:`howard.serve.app` imports FastAPI; the rest is the standard library and howard.
"""

WEB_EXTRA = ("fastapi", "fastapi_offline", "uvicorn", "multipart", "python_multipart", "starlette")
INSTALL_HINT = "howard serve needs the web extra: pip install 'howard[web]'"
