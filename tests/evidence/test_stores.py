"""Where the files go: faults between the store and the transaction, a store that goes away and comes
back, and the start-up checks of EVIDENCE_STORE. (The other evidence tests run on both stores.)"""
import time

import pytest
from sqlalchemy import func, select

from config import TestingConfig
from registry import create_app
from registry.evidence import files
from registry.evidence.models import ActivityEvidence
from registry.extensions import db
from tests.evidence.conftest import stored
from tests.evidence.images import pdf
from tests.servers import MotoServer, free_port


def _evidence_count() -> int:
    return db.session.scalar(select(func.count(ActivityEvidence.id)))


def _unavailable(response) -> None:
    assert response.status_code == 503, (response.status_code, response.data[:300])
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "storage_unavailable"
    assert response.get_json()["title"].startswith("ただいまファイルを保存")  # Japanese unless asked otherwise
    assert int(response.headers["Retry-After"]) > 0


def test_a_failure_after_the_upload_leaves_no_row_and_no_file(api, registrant, submit, store, monkeypatch):
    """The file is stored, then the request fails before its commit: the rollback takes the file too."""
    _, token, reg = registrant()
    original = files.written
    seen = []

    def written_then_broken(session, store_, name):
        original(session, store_, name)
        seen.append(name)
        raise RuntimeError("injected fault after the file was stored")

    monkeypatch.setattr(files, "written", written_then_broken)
    response = submit(token, reg, file=pdf())
    assert response.status_code == 500 and response.get_json()["code"] == "internal_error"
    assert len(seen) == 1 and store.read(seen[0]) is None and not store.exists(seen[0])
    assert stored(store) == [] and _evidence_count() == 0
    monkeypatch.undo()
    assert submit(token, reg, file=pdf()).status_code == 201 and len(stored(store)) == 1


@pytest.mark.parametrize("store", ["disk"], indirect=True)
def test_a_folder_that_cannot_be_written_is_503_and_writes_nothing(app, registrant, submit, tmp_path):
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_bytes(b"x")
    app.config["UPLOAD_DIR"] = str(blocker / "uploads")  # mkdir fails, whoever runs the tests
    _, token, reg = registrant()
    _unavailable(submit(token, reg, file=pdf()))
    assert _evidence_count() == 0
    assert submit(token, reg).status_code == 201  # evidence without a file needs no store


@pytest.mark.slow  # starts a moto server of its own twice
@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_an_object_store_that_goes_away_is_503_writes_nothing_and_is_used_again_once_back(
        app, api, registrant, submit, staff, caplog):
    server = MotoServer().start()
    try:
        server.client().create_bucket(Bucket="outage")
        app.config.update(server.settings("outage"))
        _, token, reg = registrant()
        first = submit(token, reg, file=pdf()).get_json()
        assert first["has_file"] is True

        server.stop()
        started = time.monotonic()
        _unavailable(submit(token, reg, file=pdf()))
        assert time.monotonic() - started < 10  # at once, not a hang
        assert _evidence_count() == 1  # no row points at a file that was never stored
        _unavailable(api.get(f"/activity-evidence/{first['id']}/file", token=token))
        assert submit(token, reg).status_code == 201  # evidence without a file needs no store
        # A decision that deletes the file still commits; the file is left for sweep-uploads.
        rejected = api.post(f"/activity-evidence/{first['id']}/reject", token=staff,
                            json={"reason": "マイナンバーが見えています", "reason_code": "individual_number_visible"})
        assert rejected.status_code == 200 and rejected.get_json()["has_file"] is False
        assert "left for sweep-uploads" in caplog.text
        sweep = app.test_cli_runner().invoke(args=["sweep-uploads"])
        assert sweep.exit_code != 0 and "unavailable" in sweep.output

        server.start()  # the same address; moto starts empty, so the bucket is made again
        server.client().create_bucket(Bucket="outage")
        again = submit(token, reg, file=pdf())
        assert again.status_code == 201, again.get_json()
        served = api.get(f"/activity-evidence/{again.get_json()['id']}/file", token=token)
        assert served.status_code == 200 and served.data == pdf()
        assert len(stored(files.store_for(app.config))) == 1
    finally:
        server.stop()


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_bucket_that_does_not_exist_stops_the_start(s3_server, tmp_path):
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'start.db'}",
                **s3_server.settings("no-such-bucket")}
    with pytest.raises(RuntimeError, match="EVIDENCE_STORE.*'no-such-bucket'.*does not exist"):
        create_app(TestingConfig, settings)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://Upper-Case/x", "https://bucket/x", "bucket/x",
                                 "s3://b/x", "s3://bucket/x?versioning=1", "s3://a..b/x"])
def test_a_malformed_evidence_store_stops_the_start(s3_server, tmp_path, url):
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'start.db'}", **s3_server.settings("x"),
                "EVIDENCE_STORE": url}
    with pytest.raises(RuntimeError, match="EVIDENCE_STORE must be s3://bucket/prefix"):
        create_app(TestingConfig, settings)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_an_unreachable_store_at_start_up_is_logged_and_the_app_starts(s3_server, tmp_path, caplog):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'start.db'}",
                **s3_server.settings("somewhere"), "S3_ENDPOINT_URL": closed}
    app = create_app(TestingConfig, settings)
    assert app.config["EVIDENCE_STORE"] == "s3://somewhere/evidence"
    assert "unreachable at start-up" in caplog.text


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_prefixes_keep_stores_apart(store):
    """Two prefixes in one bucket are two stores: neither lists nor sweeps the other's objects."""
    other = files.S3Store(store.bucket, "elsewhere/", store.client)
    mine, theirs = store.save(pdf(), files.PDF), other.save(pdf(), files.PDF)
    assert stored(store) == [mine] and stored(other) == [theirs]
    assert store.read(theirs) is None
