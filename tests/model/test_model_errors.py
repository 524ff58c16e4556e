from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.workflow import SourcePos


def test_problem_str_without_hint() -> None:
    problem = Problem(SourcePos("a.yaml", 3, 5), "bad thing")
    assert str(problem) == "a.yaml:3:5: error: bad thing"


def test_problem_str_with_hint() -> None:
    problem = Problem(SourcePos("a.yaml", 3, 5), "bad thing", "do this")
    assert str(problem) == "a.yaml:3:5: error: bad thing\n    hint: do this"


def test_workflow_error_sorts_by_line_and_joins() -> None:
    late = Problem(SourcePos("a.yaml", 9, 1), "late")
    early = Problem(SourcePos("a.yaml", 2, 7), "early", "fix it")
    error = WorkflowError([late, early])
    assert error.problems == [early, late]
    assert str(error) == f"{early}\n{late}"
    assert isinstance(error, Exception)
