"""The NOTIFY of a remote attempt's outcome carries the outcome, so the runner need not read
it back (team mode; engine.remote.outcome_note / read_note)."""

from __future__ import annotations

from flowtui.engine.events import AttemptEnded
from flowtui.engine.remote import attempt_key, outcome_note, read_note
from flowtui.engine.states import StepStatus


def test_an_outcome_travels_in_its_note() -> None:
    ended = AttemptEnded(7, "deploy[env=prod]", 2, StepStatus.FAILED, 12.5, 3, "exit 3: ✗")
    key, seen = read_note(outcome_note(ended, {"url": "https://x", "n": "1"}))
    assert key == attempt_key(7, "deploy[env=prod]", 2)
    assert seen is not None and seen.attempt is not None and seen.logs == []
    assert (seen.attempt.run_id, seen.attempt.step, seen.attempt.attempt) == (7, ended.step, 2)
    assert seen.attempt.status == StepStatus.FAILED
    assert (seen.attempt.exit_code, seen.attempt.message) == (3, "exit 3: ✗")
    assert seen.attempt.ended_at == 12.5
    assert seen.outputs == {"url": "https://x", "n": "1"}


def test_an_outcome_too_big_for_a_note_is_read_from_the_history() -> None:
    ended = AttemptEnded(1, "build", 1, StepStatus.SUCCEEDED, 1.0)
    note = outcome_note(ended, {"big": "é" * 4000})  # 8000 bytes: over PostgreSQL's limit
    assert note == attempt_key(1, "build", 1)
    assert read_note(note) == (note, None)


def test_a_damaged_note_is_only_a_key() -> None:
    key = attempt_key(1, "build", 1)
    assert read_note(key + "\n{not json") == (key, None)
    assert read_note(key + '\n{"status": "nonsense"}') == (key, None)
