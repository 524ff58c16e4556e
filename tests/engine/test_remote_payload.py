"""What crosses the job queue for a remote step (team mode): the workflow's text packed."""

from __future__ import annotations

from flowtui.engine.remote import RemoteJob

SOURCE = 'name: w\nsteps:\n  a: {run: "echo \\"hi\\" \'there\'", runs_on: east}\n  b: {run: é}\n'


def job() -> RemoteJob:
    return RemoteJob("east", 7, "a", 2, SOURCE, "/tmp/w.yaml", params={"p": "1"}, branch="main")


def test_a_job_travels_with_its_workflow_text_packed_and_comes_back_whole() -> None:
    payload = job().to_payload()
    assert "workflow_source" not in payload
    assert SOURCE not in str(payload)
    packed = payload["workflow_packed"]
    assert isinstance(packed, str) and '"' not in packed and "\\" not in packed
    assert RemoteJob.from_payload(payload) == job()


def test_a_job_queued_by_an_earlier_flowtui_still_reads() -> None:
    payload = job().to_payload()
    del payload["workflow_packed"]
    payload["workflow_source"] = SOURCE
    assert RemoteJob.from_payload(payload) == job()


def test_a_job_that_would_unpack_too_big_or_is_not_packed_text_is_refused() -> None:
    import base64
    import zlib

    import pytest

    from flowtui.engine.remote import MAX_SOURCE, unpack_source

    bomb = base64.b64encode(zlib.compress(b"a" * (MAX_SOURCE + 1), 9)).decode()
    assert len(bomb) < 100_000  # small in the queue, found in review
    with pytest.raises(ValueError, match="over 16 MiB"):
        unpack_source(bomb)
    with pytest.raises(ValueError, match="not readable"):
        unpack_source(base64.b64encode(b"not zlib").decode())
    assert unpack_source(base64.b64encode(zlib.compress(b"a" * MAX_SOURCE)).decode()) == (
        "a" * MAX_SOURCE
    )
