import pytest

from flowtui.model.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (1.5, 1.5),
        (0, 0.0),
        ("30", 30.0),
        ("2.5", 2.5),
        ("500ms", 0.5),
        ("45s", 45.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2d", 172800.0),
        ("1d2h3m4s5ms", 93784.005),
        (" 1.5s ", 1.5),
    ],
)
def test_valid_durations(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5s", "must not be negative"),
        (-1, "must not be negative"),
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("10 minutes", "invalid duration '10 minutes'"),
        ("5x", "invalid duration '5x'"),
        ("ms", "invalid duration 'ms'"),
        ("1m30h", "largest first"),
        ("5s5s", "largest first"),
        (float("inf"), "finite"),
        (True, "must be a number or a string"),
        (None, "must be a number or a string"),
    ],
)
def test_invalid_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)  # type: ignore[arg-type]
    assert message in str(caught.value)
    if isinstance(value, str) and value.strip() and not value.startswith("-"):
        assert "1h30m" in str(caught.value)  # says what a valid duration looks like
