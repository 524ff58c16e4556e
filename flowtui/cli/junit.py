"""`flowtui show RUN --junit FILE`: a run as JUnit XML, for CI systems that show test reports.

One `<testsuite>` (the workflow's run) holding one `<testcase>` per step: classname the
workflow, time the step's seconds; a failed, timed-out or rejected step has a `<failure>`
with its message and last log lines, a cancelled or interrupted one an `<error>`, a step that
did not run `<skipped>`.  Written with the standard library's ElementTree (it escapes).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from flowtui.engine.records import RunRecord, StepRecord
from flowtui.glyphs import status_label
from flowtui.timefmt import fmt_clock

LOG_LINES = 20
FAILED = frozenset({"failed", "timed_out", "rejected"})
ERRORED = frozenset({"cancelled", "interrupted"})
SKIPPED = frozenset({"skipped", "not_run", "pending", "queued"})
# XML 1.0 cannot hold most control characters, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(
    run: RunRecord,
    steps: Sequence[StepRecord],
    shown: Mapping[str, str],
    logs: Mapping[str, Sequence[str]],
) -> str:
    """The document; `logs` holds each failed step's last lines."""
    suites = ET.Element("testsuites", name="flowtui")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"{run.workflow} #{run.id}",
        timestamp=fmt_clock(run.started_at).replace(" ", "T"),
        time=f"{run.duration or 0.0:.3f}",
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for step in steps:
        status = shown.get(step.name, str(step.status))
        case = ET.SubElement(
            suite,
            "testcase",
            name=_clean(step.name),
            classname=_clean(run.workflow),
            time=f"{step.elapsed() or 0.0:.3f}" if step.ended_at is not None else "0.000",
        )
        counts["tests"] += 1
        message = _clean(step.message or status_label(status))
        if status in FAILED:
            counts["failures"] += 1
            failure = ET.SubElement(case, "failure", message=message, type=status)
            failure.text = _clean("\n".join(logs.get(step.name, ())))
        elif status in ERRORED:
            counts["errors"] += 1
            ET.SubElement(case, "error", message=message, type=status)
        elif status in SKIPPED:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=message)
        elif step.reused_from is not None:
            out = ET.SubElement(case, "system-out")
            out.text = f"reused from run #{step.reused_from}"
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
