"""Safe YAML parsing that keeps the line and column of every key and value.

PyYAML composes a node tree (with marks) using a loader derived from `yaml.SafeLoader`;
we then build plain values from that tree ourselves.  That lets us report duplicate keys
(PyYAML silently keeps the last), refuse every non-standard tag instead of constructing
it, and measure alias expansion before anything is expanded (billion laughs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.workflow import SourcePos
from flowtui.model.yamlerrors import explain

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


@dataclass(frozen=True, slots=True)
class Entry:
    """Where one mapping entry came from; `raw` is the value's source text if it is a scalar."""

    key_pos: SourcePos
    value_pos: SourcePos
    key_text: str
    raw: str | None


class YMap(dict[Any, Any]):
    """A mapping from the file, remembering where each key and value sits."""

    def __init__(self, pos: SourcePos) -> None:
        super().__init__()
        self.pos = pos
        self.entries: dict[Any, Entry] = {}

    def key_pos(self, key: Any) -> SourcePos:
        return self.entries[key].key_pos

    def value_pos(self, key: Any) -> SourcePos:
        return self.entries[key].value_pos


class YSeq(list[Any]):
    """A sequence from the file, remembering where each item sits."""

    def __init__(self, pos: SourcePos) -> None:
        super().__init__()
        self.pos = pos
        self.positions: list[SourcePos] = []
        self.raws: list[str | None] = []


@dataclass(frozen=True, slots=True)
class Document:
    value: Any
    pos: SourcePos
    problems: list[Problem]  # non-fatal ones (duplicate keys); fatal ones are raised


class _TooManyNodes(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing once the document is too large to be a workflow."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_count = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise _TooManyNodes
        if not self.check_event(yaml.AliasEvent):
            # YAML lets an anchor be defined again: later aliases refer to the newest
            # definition (PyYAML refuses it; nodes composed before keep the old one)
            anchor = self.peek_event().anchor
            if anchor is not None:
                self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


def decode(data: bytes, file: str) -> str:
    """Decode UTF-8 (an optional BOM is dropped), or fail naming the offending byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise WorkflowError(
            [
                Problem(
                    SourcePos(file, line, column),
                    f"invalid UTF-8 at byte offset {exc.start} (byte 0x{data[exc.start]:02x})",
                    "save the file as UTF-8",
                )
            ]
        ) from None


def parse_document(text: str, file: str) -> Document:
    """Parse one YAML document into YMap/YSeq/scalars; raise WorkflowError if unusable."""
    root = _compose_with_libyaml(text)
    if root is None:
        root = _compose(text, file)
    _check_expansion(root, file)
    builder = _Builder(file)
    value = builder.build(root)
    if builder.fatal:
        raise WorkflowError(builder.fatal + builder.problems)
    return Document(value, _pos(file, root.start_mark), builder.problems)


# libyaml composes ~6x faster than PyYAML's Python composer (a 2,000-step workflow: 0.3 s
# instead of 1.9 s on a busy machine).  It cannot stop at MAX_NODES while composing, so it
# is used for files small enough that their whole tree is small (the count is checked right
# after, by _check_expansion; a hostile 512 KiB list of 262,000 values costs ~70 MB for a
# moment before it is refused); it bounds nesting itself (1,000 levels) and refuses an
# anchor defined twice.  Any file it does not compose cleanly as one document goes through
# the Python composer, whose errors and anchor rules are the ones documented.
LIBYAML_MAX_BYTES = 512 * 1024
_CLoader: Any = getattr(yaml, "CSafeLoader", None)


def _compose_with_libyaml(text: str) -> Node | None:
    if _CLoader is None or len(text) > LIBYAML_MAX_BYTES:
        return None
    loader = _CLoader(text)
    try:
        root: Node | None = loader.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return root


def _compose(text: str, file: str) -> Node:
    start = SourcePos(file, 1, 1)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            raise WorkflowError([Problem(start, "the file is empty", _EMPTY_HINT)])
        root = loader.compose_document()
        if root is None:  # a document of nothing but `---`
            raise WorkflowError([Problem(start, "the file is empty", _EMPTY_HINT)])
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.peek_event()
            raise WorkflowError(
                [
                    Problem(
                        _pos(file, event.start_mark),
                        "the file holds more than one YAML document",
                        "keep one workflow per file, without a second `---`",
                    )
                ]
            )
    except _TooManyNodes:
        raise WorkflowError([_too_big(start)]) from None
    except RecursionError:
        raise WorkflowError([_too_deep(start)]) from None
    except yaml.MarkedYAMLError as exc:
        raise WorkflowError([explain(file, exc, text)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise WorkflowError(
            [
                Problem(
                    SourcePos(file, line, column),
                    f"character U+{exc.character:04X} is not allowed in YAML",
                    "remove the control character",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise WorkflowError([Problem(start, f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return root


_EMPTY_HINT = "a workflow needs at least `name:` and `steps:`; see docs/workflow-format.md"


def _pos(file: str, mark: Any) -> SourcePos:
    return SourcePos(file, mark.line + 1, mark.column + 1)


def _too_big(pos: SourcePos) -> Problem:
    return Problem(
        pos,
        f"the document expands to more than {MAX_NODES:,} values (too many aliases?)",
        "a workflow this large is refused; split it or use fewer `*alias` references",
    )


def _too_deep(pos: SourcePos) -> Problem:
    return Problem(pos, f"the document is nested more than {MAX_DEPTH} levels deep")


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _plain_tree(root: Node) -> tuple[int, int] | None:
    """(nodes, height) of a tree in which no node is reached twice; None as soon as one is
    (an alias: the memoised walk below then measures its expansion)."""
    seen: set[int] = set()
    height = 0
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        key = id(node)
        if key in seen:
            return None
        seen.add(key)
        if depth > height:
            height = depth
        if isinstance(node, SequenceNode):
            stack.extend((kid, depth + 1) for kid in node.value)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                stack.append((key_node, depth + 1))
                stack.append((value_node, depth + 1))
    return len(seen), height


def _check_expansion(root: Node, file: str) -> None:
    """Refuse recursive aliases, and documents whose aliases expand beyond MAX_NODES.

    Each alias counts as its whole subtree.  Sizes are memoised per node, so this runs in
    time linear in the composed (unexpanded) tree, however large the expansion.
    """
    plain = _plain_tree(root)
    if plain is not None:  # no node reached twice: no alias, so nothing to expand
        size, height = plain
        if size > MAX_NODES:
            raise WorkflowError([_too_big(_pos(file, root.start_mark))])
        if height > MAX_DEPTH:
            raise WorkflowError([_too_deep(_pos(file, root.start_mark))])
        return
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            kids = [sizes[id(k)] for k in _children(node)]
            size = min(MAX_NODES + 1, 1 + sum(s for s, _ in kids))
            height = 1 + max((h for _, h in kids), default=0)
            sizes[key] = (size, height)
            continue
        if key in sizes:
            continue
        if key in active:
            raise WorkflowError(
                [
                    Problem(
                        _pos(file, node.start_mark),
                        "an alias refers to a value that contains it (recursive alias)",
                        "a `*name` alias must not point into its own `&name` anchor",
                    )
                ]
            )
        active.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in sizes)
    size, height = sizes[id(root)]
    if size > MAX_NODES:
        raise WorkflowError([_too_big(_pos(file, root.start_mark))])
    if height > MAX_DEPTH:
        raise WorkflowError([_too_deep(_pos(file, root.start_mark))])


class _Builder:
    """Turns a checked node tree into YMap/YSeq/scalars (depth is bounded by MAX_DEPTH)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.fatal: list[Problem] = []
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")
        self._done: dict[int, Any] = {}

    def build(self, node: Node) -> Any:
        key = id(node)
        if key not in self._done:
            if isinstance(node, ScalarNode):
                self._done[key] = self._scalar(node)
            elif isinstance(node, SequenceNode):
                self._done[key] = self._sequence(node)
            elif isinstance(node, MappingNode):
                self._done[key] = self._mapping(node)
            else:  # the composer makes no other kind of node
                raise TypeError(f"unexpected YAML node {node!r}")
        return self._done[key]

    def _unsupported(self, node: Node) -> None:
        self.fatal.append(
            Problem(
                _pos(self.file, node.start_mark),
                f"unsupported YAML tag `{node.tag}`",
                "only plain strings, numbers, booleans, lists and mappings are allowed",
            )
        )

    def _scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self._unsupported(node)
            return None
        if tag in (_TAG + "str", _TAG + "timestamp"):
            # dates stay text: a workflow has no use for datetime objects
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            self.fatal.append(
                Problem(
                    _pos(self.file, node.start_mark),
                    f"cannot read {node.value!r} as `{tag}`: {exc}",
                )
            )
            return None

    def _sequence(self, node: SequenceNode) -> YSeq:
        seq = YSeq(_pos(self.file, node.start_mark))
        if node.tag != _TAG + "seq":
            self._unsupported(node)
        for item in node.value:
            seq.append(self.build(item))
            seq.positions.append(_pos(self.file, item.start_mark))
            seq.raws.append(item.value if isinstance(item, ScalarNode) else None)
        return seq

    def _mapping(self, node: MappingNode) -> YMap:
        result = YMap(_pos(self.file, node.start_mark))
        if node.tag != _TAG + "map":
            self._unsupported(node)
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(key_node, value_node))
                continue
            key_pos = _pos(self.file, key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    Problem(key_pos, "a key must be a plain value, not a list or mapping")
                )
                continue
            key = self.build(key_node)
            if key in result.entries:
                first = result.entries[key].key_pos
                self.problems.append(
                    Problem(
                        key_pos,
                        f"duplicate key `{key_node.value}` (first defined at line {first.line})",
                        "remove one of them; YAML would silently keep only the last",
                    )
                )
                continue
            result[key] = self.build(value_node)
            result.entries[key] = Entry(
                key_pos,
                _pos(self.file, value_node.start_mark),
                key_node.value,
                value_node.value if isinstance(value_node, ScalarNode) else None,
            )
        # `<<: *defaults` fills in keys the mapping does not set itself; earlier sources win
        for source in merged:
            for key, value in source.items():
                if key not in result.entries:
                    result[key] = value
                    result.entries[key] = source.entries[key]
        return result

    def _merge_sources(self, key_node: Node, value_node: Node) -> list[YMap]:
        value = self.build(value_node)
        sources = value if isinstance(value, YSeq) else [value]
        if all(isinstance(s, YMap) for s in sources):
            return list(sources)
        self.problems.append(
            Problem(
                _pos(self.file, key_node.start_mark),
                "`<<` must be followed by a mapping alias or a list of them",
            )
        )
        return []


def to_plain(value: Any) -> Any:
    """Strip position bookkeeping: YMap -> dict, YSeq -> list (recursively)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
