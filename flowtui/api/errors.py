"""Errors the REST API answers with: `{"error": CODE, "detail": TEXT}` and a status code."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An answer other than success; `error` is a stable word, `detail` says what and why."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": 'Bearer realm="flowtui"'} if self.status == 401 else None
        if self.status == 429:  # too many streams: one may well have ended in a second
            headers = {"Retry-After": "1"}
        return web.json_response(
            {"error": self.error, "detail": self.detail}, status=self.status, headers=headers
        )


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, "conflict", detail)
