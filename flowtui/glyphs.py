"""The one look per status that the CLI and the dashboard both show: a glyph and a word.

Besides the statuses the history records, two are only shown (`shown_status`):
- `not_run`: a step that a finished run never reached. The history keeps it `pending`
  (a rerun from failed picks it up), but it will never run, so it is not "pending".
- `allowed_failure`: a failure the workflow allows (`continue_on_failure`): the run goes on.
- `left_out`: a step `flowtui run --only/--skip` did not run (recorded `skipped`, with
  `left_out_reason` as its message).
A timeout has its own glyph (it is not any failure), and a success after retries says how
many attempts it took (`attempts_note`).
"""

from __future__ import annotations

NOT_RUN = "not_run"
LEFT_OUT = "left_out"
ALLOWED_FAILURE = "allowed_failure"

GLYPHS: dict[str, str] = {
    "pending": "·",
    "queued": "·",
    "running": "◐",
    "held": "⏸",
    "succeeded": "✓",
    "reused": "✓",
    "failed": "✗",
    ALLOWED_FAILURE: "✗",
    "timed_out": "⧗",
    "rejected": "✗",
    "cancelled": "⊘",
    "skipped": "↷",
    NOT_RUN: "○",
    LEFT_OUT: "○",
    "interrupted": "⚡",
    "planned": "↻",  # only in a rerun's preview: will run again
}

# the word for a status where it is not the status itself
LABELS: dict[str, str] = {
    NOT_RUN: "not run",
    LEFT_OUT: "left out",
    "timed_out": "timed out",
    ALLOWED_FAILURE: "allowed failure",
}

# failures `continue_on_failure` lets the run go on after
_ALLOWABLE = frozenset({"failed", "timed_out"})


def shown_status(
    status: str, *, run_final: bool, allowed: bool = False, left_out: bool = False
) -> str:
    """What a step's recorded `status` is shown as, once its run is final (`run_final`),
    when its workflow allows it to fail (`allowed`) and when `--only/--skip` left it out."""
    if left_out and status == "skipped":
        return LEFT_OUT
    if status == "pending" and run_final:
        return NOT_RUN
    if allowed and status in _ALLOWABLE:
        return ALLOWED_FAILURE
    return status


def status_label(status: str) -> str:
    """The word for a (shown) status: `not run`, `allowed failure`, else the status."""
    return LABELS.get(status, status)


def attempts_note(status: str, attempt: int) -> str:
    """`2 attempts` for a success that needed retries, else nothing."""
    return f"{attempt} attempts" if status == "succeeded" and attempt > 1 else ""


def left_out_reason(option: str) -> str:
    """Why a step did not run when `--skip` or `--only` (the `option`) left it out."""
    return f"skipped by {option}"
