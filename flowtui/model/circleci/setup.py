"""What a setup config (`setup: true`, CircleCI's dynamic configuration) would continue with.

On CircleCI a setup workflow ends by sending a second config (and pipeline parameters) to
the continuation API, usually through the `continuation` or `path-filtering` orbs.  Here
the setup workflow runs as a workflow of its own and nothing is continued; the note says
which config and which parameters the continuation would need, so the person can run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# argument names the continuation and path-filtering orbs take the next config's path in
CONFIG_PATH_KEYS = ("config-path", "configuration_path", "config_path", "continue-config-path")


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def continuation_note(config: Any) -> str:
    """The note for a setup config: what runs here, and what the continuation would need."""
    paths: list[str] = []
    parameters: list[str] = []
    for key, value in _walk(config):
        if key in CONFIG_PATH_KEYS and isinstance(value, str) and value not in paths:
            paths.append(value)
        elif key == "mapping" and isinstance(value, str):
            # path-filtering's mapping lines: `<path regex> <parameter> <value> [<config>]`
            for line in value.splitlines():
                fields = line.split()
                if len(fields) >= 3 and not line.lstrip().startswith("#"):
                    if fields[1] not in parameters:
                        parameters.append(fields[1])
                    if len(fields) >= 4 and fields[3] not in paths:
                        paths.append(fields[3])
    text = (
        "a setup config (`setup: true`): its workflows run here as they are, but the "
        "continuation CircleCI would start from them is not run"
    )
    if paths:
        text += f"; it would continue with {', '.join(paths)}"
    if parameters:
        text += f", setting pipeline parameters {', '.join(parameters)}"
    if paths:
        example = " ".join(f"-p {p}=true" for p in parameters[:2])
        text += f" (run it yourself: `flowtui run {paths[0]}{' ' + example if example else ''}`)"
    return text
