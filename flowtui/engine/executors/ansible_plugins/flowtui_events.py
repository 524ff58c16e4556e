"""Ansible callback plugin: task results as JSON lines, for flowtui's `ansible` step.

Loaded by ansible-playbook itself (ANSIBLE_CALLBACK_PLUGINS names this folder and
ANSIBLE_CALLBACKS_ENABLED enables it), beside the normal stdout callback, so the log
still shows Ansible's usual output.  Each event is one JSON object per line in the file
named by $FLOWTUI_ANSIBLE_EVENTS:

  {"event": "failed", "host": ..., "task": ..., "msg": ..., "ignored": false}
  {"event": "unreachable", "host": ..., "task": ..., "msg": ...}
  {"event": "stats", "hosts": {"web1": {"ok": 5, "changed": 2, ...}}}

It imports nothing from flowtui: it runs inside Ansible's interpreter.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: flowtui_events
    type: aggregate
    short_description: write task results as JSON lines for flowtui
    description:
      - Appends failures, unreachable hosts and the final per-host stats to the file
        named by the FLOWTUI_ANSIBLE_EVENTS environment variable.
    requirements:
      - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

STAT_KEYS = ("ok", "changed", "unreachable", "failures", "skipped", "rescued", "ignored")
MSG_LIMIT = 500


def _parts(result: Any) -> tuple[str, str, dict[str, Any]]:
    # ansible-core 2.19 exposes host/task/result; older versions only the private names
    host = getattr(result, "host", None) or result._host
    task = getattr(result, "task", None) or result._task
    data = getattr(result, "result", None)
    if not isinstance(data, dict):
        data = result._result
    return host.get_name(), task.get_name(), dict(data)


def _message(data: dict[str, Any]) -> str:
    msg = data.get("msg") or data.get("stderr") or data.get("reason") or ""
    if not msg and data.get("rc") is not None:
        msg = f"rc={data['rc']}"
    text = str(msg).strip().replace("\n", " ")
    return text[:MSG_LIMIT]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "flowtui_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("FLOWTUI_ANSIBLE_EVENTS", "")

    def _emit(self, event: dict[str, Any]) -> None:
        if not self._path:
            return
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, default=str) + "\n")

    def _task_event(self, kind: str, result: Any, **extra: Any) -> None:
        host, task, data = _parts(result)
        self._emit({"event": kind, "host": host, "task": task, "msg": _message(data), **extra})

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._task_event("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._task_event("unreachable", result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {key: int(summary.get(key, 0)) for key in STAT_KEYS}
        self._emit({"event": "stats", "hosts": hosts})
