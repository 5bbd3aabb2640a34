"""Every way a job's form can be wrong, and names that are not jobs: ``howard serve`` answers
one line with a 4xx (the page shows the same line) and makes no job. No job runs here (the app's
lifespan is never entered)."""

import os

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
pytest.importorskip("httpx", reason="needs httpx (the test extra)")

from serve_helpers import client_for, make_media, post  # noqa: E402


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("media"), 3)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return client_for(tmp_path_factory.mktemp("serve"))


BAD = [  # (what is posted, status, words of the answer)
    ({"subject": "notes.txt"}, 400, "subject: 'notes.txt' is not a video or image"),
    ({"plate": "fake.png"}, 400, "plate: cannot decode image 'fake.png'"),
    ({"subject": "empty.mp4"}, 400, "the subject file 'empty.mp4' is empty"),
    ({"plate": "square.png"}, 400, "the plate is 180x180 (aspect 1.000) but the subject is "
                                   "320x180"),
    ({"background": "notes.txt", "background_colour": ""}, 400,
     "background: 'notes.txt' is not a video or image"),
    ({"colour-grade": "warm"}, 400, "unknown option 'colour-grade'; howard matte's options"),
    ({"--window": "-1"}, 400, "option window: -1 is not in the range x>=0"),
    ({"backbone-scale": "2"}, 400, "option backbone-scale: a base-pass scale must be in"),
    ({"resume": "true"}, 400, "option 'resume' cannot be set here"),
    ({"weights": "../../etc/secret.pth"}, 400, "option weights: give the name of a checkpoint"),
    ({"outputs": "zip,gif"}, 400, "unknown output 'gif'"),
    ({"outputs": ""}, 400, "choose at least one output"),
    ({"outputs": "mp4", "background_colour": "none"}, 400,
     "the mp4 output is the subject over a new background"),
    ({"background_colour": "#12345"}, 400, "background_colour '#12345' is not a colour"),
    ({"background": "plate.mp4"}, 400, "give the background as a file or as "
                                       "background_colour, not both"),
]


class TestBadInput:
    @pytest.mark.parametrize("fields, status, words", BAD,
                             ids=[w.split(" ")[0] + str(i) for i, (_, _, w) in enumerate(BAD)])
    def test_refused_in_one_line(self, client, media, fields, status, words):
        fields = dict(fields)
        files = {k: fields.pop(k) for k in ("subject", "plate", "background") if k in fields}
        fields.setdefault("background_colour", "#00b140")
        fields.setdefault("outputs", "zip")
        before = len(client.get("/api/jobs").json()["jobs"])
        r = post(client, media, **files, **fields)
        assert r.status_code == status, r.text
        detail = r.json()["detail"]
        assert words in detail
        assert "\n" not in detail and "Traceback" not in detail and "/jobs/" not in detail
        assert len(client.get("/api/jobs").json()["jobs"]) == before
        assert not any(client.app.state.store.staging.iterdir())

    def test_missing_plate(self, client, media):
        r = client.post("/api/jobs", files={"subject": ("s.mp4", b"x")})
        assert r.status_code == 400 and r.json()["detail"].startswith("plate:")

    def test_upload_over_the_limit(self, tmp_path, media):
        with client_for(tmp_path / "small", max_upload_mb=1) as c:
            r = c.post("/api/jobs", files={"subject": ("big.mp4", os.urandom(1_200_000)),
                                           "plate": ("plate.mp4", b"x")})
            assert r.status_code == 413
            assert "over this server's limit of 1 MB" in r.json()["detail"]
            assert c.get("/api/jobs").json()["jobs"] == []

    def test_other_sites_are_refused(self, client, media):
        r = client.post("/api/jobs", headers={"Origin": "http://example.com"},
                        files={"subject": ("s.mp4", b"x"), "plate": ("p.mp4", b"x")})
        assert r.status_code == 403 and "example.com" in r.json()["detail"]
        r = client.get("/api/jobs", headers={"Host": "rebound.example.com"})
        assert r.status_code == 400

    @pytest.mark.parametrize("path", ["/api/jobs/0123456789abcdef", "/api/jobs/..",
                                      "/api/jobs/..%2F..%2Fjobs", "/api/jobs/%2e%2e/preview",
                                      "/api/jobs/0123456789abcdef/preview",
                                      "/api/jobs/0123456789abcdef/files/rgba.zip"])
    def test_no_such_job(self, client, path):
        r = client.get(path)
        assert r.status_code == 404
        assert "no job" in r.json()["detail"] or "abcdef" not in path

    def test_names_that_are_not_ids_never_reach_the_disk(self, client, media):
        job_id = post(client, media, outputs="zip").json()["id"]  # stays queued
        store = client.app.state.store
        assert store.folder(job_id) == store.jobs / job_id
        for name in ("..", "../jobs", "/etc", job_id + "/..", job_id.upper(), "", None):
            assert store.folder(name) is None and store.get(name) is None
