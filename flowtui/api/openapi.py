"""`GET /api/openapi.json`: the OpenAPI 3.1 document of the REST API.

Written as data beside the routes it describes; tests check it both ways (every route of
the application is in it and every path in it is a route; answers validate against it).
"""

from __future__ import annotations

from typing import Any

from flowtui.store.tokens import SCOPES

JSON = "application/json"


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _obj(props: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": sorted(props)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


TEXT_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

RUN = {
    "id": {"type": "integer"},
    "workflow": {"type": "string"},
    "status": {"type": "string"},
    "trigger": {"type": "string"},
    "triggered_by": _nullable("string"),
    "parent_run_id": _nullable("integer"),
    "rerun_mode": _nullable("string"),
    "branch": _nullable("string"),
    "environment": _nullable("string"),
    "created_at": {"type": "number"},
    "started_at": _nullable("number"),
    "ended_at": _nullable("number"),
    "duration": _nullable("number"),
    "message": {"type": "string"},
    "approved_by": {"type": "array", "items": {"type": "string"}},
}
APPROVAL = {
    "approved": {"type": "boolean"},
    "by": {"type": "string"},
    "at": {"type": "number"},
    "comment": {"type": "string"},
    "inputs": TEXT_MAP,
}
STEP = {
    "name": {"type": "string"},
    "type": {"type": "string"},
    "status": {"type": "string"},
    "attempt": {"type": "integer"},
    "started_at": _nullable("number"),
    "held_at": _nullable("number"),
    "ended_at": _nullable("number"),
    "duration": _nullable("number"),
    "exit_code": _nullable("integer"),
    "message": {"type": "string"},
    "requires": {"type": "array", "items": {"type": "string"}},
    "outputs": TEXT_MAP,
    "approvals": {"type": "array", "items": _ref("Approval")},
}
LOG_LINE = {
    "id": {"type": "integer"},
    "step": _nullable("string"),
    "attempt": {"type": "integer"},
    "stream": {"type": "string"},
    "line": {"type": "string"},
    "at": {"type": "number"},
}
WORKFLOW = {
    "name": {"type": "string"},
    "path": {"type": "string"},
    "status": _nullable("string"),
    "triggers": {"type": "array", "items": {"type": "string"}},
    "steps": _nullable("integer"),
    "last_run": {"oneOf": [_ref("Run"), {"type": "null"}]},
    "error": _nullable("string"),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "detail": {}},
        "required": ["error", "detail"],
    },
    "Run": _obj(RUN),
    "Approval": _obj(APPROVAL),
    "Step": _obj(STEP),
    "RunDetail": _obj(
        {
            "version": {"type": "integer"},
            **RUN,
            "params": TEXT_MAP,
            "steps": {"type": "array", "items": _ref("Step")},
        }
    ),
    "RunPage": _obj(
        {"runs": {"type": "array", "items": _ref("Run")}, "next_before": _nullable("integer")}
    ),
    "Workflow": _obj(WORKFLOW),
    "WorkflowList": _obj({"workflows": {"type": "array", "items": _ref("Workflow")}}),
    "Started": _obj({"id": {"type": "integer"}, "status": {"enum": ["queued", "running"]}}),
    "Cancelled": _obj(
        {"id": {"type": "integer"}, "status": {"enum": ["cancelling", "cancelled", "asked"]}}
    ),
    "Paused": _obj(
        {
            "workflow": {"type": "string"},
            "paused": {"type": "boolean"},
            "was_paused": {"type": "boolean"},
        }
    ),
    "Decision": _obj(
        {
            "run_id": {"type": "integer"},
            "step": {"type": "string"},
            "decision": {"enum": ["approve", "reject"]},
            "command_id": {"type": "integer"},
            "status": {"type": "string"},
            "approved_by": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "LogLine": _obj(LOG_LINE),
    "ServerSentEvent": {
        "type": "object",
        "description": "one event of the stream; `data` is a JSON object as text",
        "properties": {
            "event": {"enum": ["run", "step", "log", "end"]},
            "id": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
            "data": {"type": "string"},
        },
        "required": ["event", "id", "data"],
    },
    "LogPage": _obj(
        {
            "run_id": {"type": "integer"},
            "lines": {"type": "array", "items": _ref("LogLine")},
            "next_after": {"type": "integer"},
        }
    ),
    "RunRequest": {
        "type": "object",
        "properties": {"params": TEXT_MAP, "branch": _nullable("string")},
        "additionalProperties": False,
    },
    "RerunRequest": {
        "type": "object",
        "properties": {
            "from": {
                "type": "string",
                "description": "`failed` (the default), `start`, or a step's name",
            }
        },
        "additionalProperties": False,
    },
    "DecisionRequest": {
        "type": "object",
        "properties": {"comment": {"type": "string"}, "inputs": TEXT_MAP},
        "additionalProperties": False,
    },
    "RejectRequest": {
        "type": "object",
        "properties": {"comment": {"type": "string"}},
        "additionalProperties": False,
    },
}

ERRORS = {
    "400": "bad input: a query parameter, the body or a header",
    "401": "no token, or an unknown one",
    "403": "the token's scope (or, for a decision, the approver list) does not allow it",
    "404": "no such workflow, run or step (`not_found`; `unknown_step`: a step the run lacks)",
    "409": "the run is not in a state that allows it",
    "422": "refused by the workflow's rules (params, inputs, self-approval, ...)",
    "429": "too many event streams are open (16); close one or retry later",
    "501": "a PostgreSQL history whose flowtui serve role is not a member of flowtui_api: "
    "decisions and cancels through the API are off (docs/team.md)",
}


def _error(code: str) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": {JSON: {"schema": _ref("Error")}}}


def _ok(code: str, schema: str, description: str) -> dict[str, dict[str, Any]]:
    return {code: {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


RUN_ID = _param("run_id", "path", {"type": "integer", "minimum": 1}, "the run's id")
NAME = _param("name", "path", {"type": "string"}, "the workflow's name")
STEP_NAME = _param("step", "path", {"type": "string"}, "the held step's name")


def _op(
    summary: str,
    scope: str,
    ok: dict[str, dict[str, Any]],
    errors: tuple[str, ...],
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs a token with scope `{scope}` (or above).",
        "x-scope": scope,
        "security": [{"bearer": []}],
        "parameters": params or [],
        "responses": {**ok, **{c: _error(c) for c in ("401", "403", *errors)}},
    }
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {JSON: {"schema": _ref(body)}},
        }
    return op


V1 = "/api/v1"
PATHS: dict[str, Any] = {
    V1 + "/workflows": {
        "get": _op(
            "The workflows of the served folder",
            "read",
            _ok("200", "WorkflowList", "as `flowtui list --json`"),
            (),
        )
    },
    V1 + "/workflows/{name}/runs": {
        "post": _op(
            "Start a run",
            "run",
            _ok("202", "Started", "the run is recorded; it runs or waits its turn"),
            ("400", "404", "422"),
            [NAME],
            "RunRequest",
        )
    },
    V1 + "/workflows/{name}/pause": {
        "post": _op(
            "Pause the workflow's triggers",
            "admin",
            _ok("200", "Paused", "paused"),
            ("400", "404"),
            [NAME],
        )
    },
    V1 + "/workflows/{name}/resume": {
        "post": _op(
            "Resume the workflow's triggers",
            "admin",
            _ok("200", "Paused", "resumed"),
            ("400", "404"),
            [NAME],
        )
    },
    V1 + "/runs": {
        "get": _op(
            "Runs, newest first (page with `before` = the previous page's `next_before`)",
            "read",
            _ok("200", "RunPage", "as `flowtui history --json`"),
            ("400",),
            [
                _param("workflow", "query", {"type": "string"}, "only this workflow"),
                _param(
                    "status",
                    "query",
                    {
                        "enum": [
                            "queued",
                            "running",
                            "held",
                            "succeeded",
                            "failed",
                            "cancelled",
                            "interrupted",
                        ]
                    },
                    "only runs with this status",
                ),
                _param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 500},
                    "how many (default 50)",
                ),
                _param(
                    "before", "query", {"type": "integer", "minimum": 1}, "runs older than this id"
                ),
            ],
        )
    },
    V1 + "/runs/{run_id}": {
        "get": _op(
            "A run with its params and steps",
            "read",
            _ok("200", "RunDetail", "as `flowtui show --json`"),
            ("404",),
            [RUN_ID],
        )
    },
    V1 + "/runs/{run_id}/cancel": {
        "post": _op(
            "Cancel a queued or running run",
            "run",
            _ok("202", "Cancelled", "being cancelled (or cancelled at once, or asked)"),
            ("404", "409", "501"),
            [RUN_ID],
        )
    },
    V1 + "/runs/{run_id}/rerun": {
        "post": _op(
            "Rerun a run from its failed steps, from the start or from a step",
            "run",
            _ok("202", "Started", "the new run"),
            ("400", "404", "409", "422"),
            [RUN_ID],
            "RerunRequest",
        )
    },
    V1 + "/runs/{run_id}/steps/{step}/approve": {
        "post": _op(
            "Approve a held step (approvers, inputs and self-approval as in the CLI)",
            "approve",
            {
                **_ok("200", "Decision", "taken by the run's runner"),
                **_ok("202", "Decision", "recorded; the runner takes it when it next polls"),
            },
            ("400", "404", "409", "422", "501"),
            [RUN_ID, STEP_NAME],
            "DecisionRequest",
        )
    },
    V1 + "/runs/{run_id}/steps/{step}/reject": {
        "post": _op(
            "Reject a held step",
            "approve",
            {
                **_ok("200", "Decision", "taken by the run's runner"),
                **_ok("202", "Decision", "recorded; the runner takes it when it next polls"),
            },
            ("400", "404", "409", "422", "501"),
            [RUN_ID, STEP_NAME],
            "RejectRequest",
        )
    },
    V1 + "/runs/{run_id}/logs": {
        "get": _op(
            "A run's log lines in the order written (page with `after` = `next_after`)",
            "read",
            _ok("200", "LogPage", "the lines"),
            ("400", "404"),
            [
                RUN_ID,
                _param(
                    "step",
                    "query",
                    {"type": "string"},
                    "only this step's lines (404 `unknown_step`, naming the run's steps, "
                    "when the run has no such step)",
                ),
                _param("after", "query", {"type": "integer", "minimum": 0}, "lines after this id"),
                _param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 10000},
                    "how many (default 1000)",
                ),
            ],
        )
    },
    V1 + "/runs/{run_id}/events": {
        "get": {
            **_op(
                "Status changes and log lines as Server-Sent Events, until the run ends",
                "read",
                {
                    "200": {
                        "description": "events `run`, `step`, `log` and a last `end`; each "
                        "`id` is `E-L`, sent back as `Last-Event-ID` to resume",
                        "content": {"text/event-stream": {"schema": _ref("ServerSentEvent")}},
                    }
                },
                ("400", "404", "429"),
                [
                    RUN_ID,
                    _param(
                        "Last-Event-ID",
                        "header",
                        {"type": "string", "pattern": "^([0-9]{1,19}-[0-9]{1,19})?$"},
                        "resume after this event (empty: from the start)",
                    ),
                ],
            )
        }
    },
    "/metrics": {
        "get": _op(
            "Prometheus metrics computed from the history (docs/metrics.md)",
            "read",
            {
                "200": {
                    "description": "the Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            (),
        )
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flowtui",
            "version": "1",
            "description": "Control flowtui runs over HTTP (docs/api.md). Token scopes, "
            f"each including the ones before it: {', '.join(SCOPES)}.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
