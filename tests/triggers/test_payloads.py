"""GitHub, GitLab and Alertmanager payloads → params and branch; GitHub's signature vector."""

from __future__ import annotations

import pytest

from flowtui.triggers import payloads, signatures

GITHUB_PUSH = {
    "ref": "refs/heads/main",
    "before": "0" * 40,
    "after": "a" * 40,
    "repository": {"full_name": "octo/app"},
    "pusher": {"name": "octocat", "email": "o@example.com"},
    "head_commit": {"id": "a" * 40, "message": "Fix the thing\n\nlonger text"},
}
GITLAB_PUSH = {
    "object_kind": "push",
    "ref": "refs/heads/release/1.2",
    "before": "1" * 40,
    "after": "b" * 40,
    "checkout_sha": "b" * 40,
    "user_username": "jsmith",
    "project": {"path_with_namespace": "group/app"},
    "commits": [
        {"id": "c" * 40, "message": "older"},
        {"id": "b" * 40, "message": "Release 1.2\n"},
    ],
}
ALERTS = {
    "version": "4",
    "status": "firing",
    "receiver": "flowtui",
    "groupKey": '{}:{alertname="DiskFull"}',
    "commonLabels": {"alertname": "DiskFull"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db1"},
            "annotations": {"summary": "disk 95% full on db1"},
            "startsAt": "2026-03-01T03:00:00Z",
            "fingerprint": "f1a2b3",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull", "severity": "warning"},
            "annotations": {"summary": "old"},
            "startsAt": "2026-03-01T01:00:00Z",
            "fingerprint": "0000",
        },
    ],
}


def test_github_published_signature_vector_verifies() -> None:
    secret = "It's a Secret to Everybody"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signatures.sign(secret, b"Hello, World!") == good
    assert signatures.verify_signature(secret, b"Hello, World!", good)
    assert not signatures.verify_signature(secret, b"Hello, World?", good)
    assert not signatures.verify_signature("other", b"Hello, World!", good)
    assert not signatures.verify_signature(secret, b"Hello, World!", good.removeprefix("sha256="))
    assert not signatures.verify_signature(secret, b"Hello, World!", None)


def test_tokens_are_accepted_in_gitlab_and_bearer_form() -> None:
    assert signatures.authenticate("tok", b"{}", {"X-Gitlab-Token": "tok"}) == "gitlab-token"
    assert signatures.authenticate("tok", b"{}", {"Authorization": "Bearer tok"}) == "bearer"
    assert signatures.authenticate("tok", b"{}", {"Authorization": "Bearer tok2"}) is None
    assert signatures.authenticate("tok", b"{}", {"Authorization": "Basic tok"}) is None
    assert signatures.authenticate("tok", b"{}", {}) is None
    assert signatures.authenticate("", b"{}", {"X-Gitlab-Token": ""}) is None


def test_github_push_gives_branch_commit_pusher_message() -> None:
    req = payloads.from_hook({"X-GitHub-Event": "push"}, GITHUB_PUSH)
    assert req.branch == "main" and req.commit == "a" * 40 and not req.strict
    assert req.params["branch"] == "main"
    assert req.params["commit"] == "a" * 40
    assert req.params["pusher"] == "octocat"
    assert req.params["message"] == "Fix the thing\n\nlonger text"
    assert req.params["repository"] == "octo/app"
    deleted = payloads.from_hook({"X-GitHub-Event": "push"}, {**GITHUB_PUSH, "deleted": True})
    assert deleted.ignore
    assert payloads.from_hook({"X-GitHub-Event": "ping"}, {"zen": "x"}).ignore == "github ping"
    assert "not a push" in payloads.from_hook({"X-GitHub-Event": "issues"}, {}).ignore


def test_gitlab_push_gives_branch_commit_pusher_message() -> None:
    req = payloads.from_hook({"X-Gitlab-Event": "Push Hook"}, GITLAB_PUSH)
    assert req.branch == "release/1.2"
    assert req.params["commit"] == "b" * 40
    assert req.params["pusher"] == "jsmith"
    assert req.params["message"] == "Release 1.2\n"
    assert req.params["repository"] == "group/app"


def test_plain_json_is_strict_and_values_become_safe_strings() -> None:
    req = payloads.from_hook({}, {"version": 2, "dry": True, "cfg": {"a": [1]}, "x": "a\x00b"})
    assert req.strict
    assert req.params == {"version": "2", "dry": "true", "cfg": '{"a":[1]}', "x": "ab"}
    with pytest.raises(payloads.PayloadError, match="invalid param name"):
        payloads.from_hook({}, {"bad name;": "x"})
    with pytest.raises(payloads.PayloadError, match="JSON object"):
        payloads.from_hook({}, ["a"])


def test_alertmanager_payload_gives_one_request_per_firing_alert() -> None:
    firing, resolved = payloads.alertmanager(ALERTS)
    assert firing.params["alertname"] == "DiskFull"
    assert firing.params["severity"] == "critical"
    assert firing.params["summary"] == "disk 95% full on db1"
    assert firing.params["fingerprint"] == "f1a2b3"
    assert firing.dedup_key == "f1a2b3@2026-03-01T03:00:00Z" and not firing.ignore
    assert resolved.ignore and not resolved.params
    with pytest.raises(payloads.PayloadError):
        payloads.alertmanager({"status": "firing"})
