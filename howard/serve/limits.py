"""What the server lets in: request size, host name, and the origin of changes.

:class:`Guard` is an ASGI middleware that

* answers 413 to a request whose body passes ``max_bytes`` (all of a job's uploads together),
  after reading the rest of the body without keeping it, so that a browser gets the answer
  instead of a broken connection;
* answers 400 to a request for a host name outside ``allowed_hosts`` (a web page that rebinds
  its own name to 127.0.0.1 cannot reach a server bound there);
* answers 403 to a POST or DELETE sent by a page of another origin (a form on another site
  cannot start or remove jobs).
"""

import json
from typing import Iterable, Optional
from urllib.parse import urlsplit

from fastapi import HTTPException

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _host_name(host: str) -> str:
    """``'[::1]:8000'`` -> ``'::1'``, ``'localhost:8000'`` -> ``'localhost'``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """See the module's description.

    Args:
        app: the ASGI app guarded.
        max_bytes: largest request body.
        allowed_hosts: host names answered (None: any).
    """

    def __init__(self, app, max_bytes: int, allowed_hosts: Optional[Iterable[str]] = None):
        self.app, self.max_bytes = app, int(max_bytes)
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed is not None and _host_name(host) not in self.allowed:
            return await _answer(send, 400, f"this server answers to "
                                 f"{', '.join(sorted(self.allowed))} only, not {host!r}")
        origin = headers.get("origin")
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and origin and \
                origin != "null" and urlsplit(origin).netloc.lower() != host.lower():
            return await _answer(send, 403, f"a page from {origin} cannot change this server's "
                                 f"jobs; use the page the server itself serves")
        seen = 0
        limit = self.max_bytes

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    while message.get("more_body"):  # read to the end, keep nothing
                        message = await receive()
                    raise HTTPException(413, f"the upload is over this server's limit of "
                                        f"{limit // 1_000_000} MB for one job; choose smaller "
                                        f"files or start the server with a larger "
                                        f"--max-upload-mb")
            return message

        await self.app(scope, limited, send)


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
