"""Safe YAML parsing that keeps the line and column of every key and value.

PyYAML composes a node tree (with marks) using a loader derived from `yaml.SafeLoader`;
we then build plain values from that tree ourselves.  That lets us report duplicate keys
(PyYAML silently keeps the last), refuse every non-standard tag instead of constructing
it, and measure alias expansion before anything is expanded (billion laughs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from msgspec import Struct
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowtui.model.errors import Problem, WorkflowError
from flowtui.model.gcpause import collector_paused
from flowtui.model.workflow import SourcePos
from flowtui.model.yamlerrors import explain

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


class Entry(Struct, frozen=True):
    """Where one mapping entry came from; `raw` is the value's source text if it is a scalar."""

    key_pos: SourcePos
    value_pos: SourcePos
    key_text: str
    raw: str | None


class YMap(dict[Any, Any]):
    """A mapping from the file, remembering where each key and value sits.

    The parser keeps the composed nodes and works each position out when it is first asked
    for: a file without problems needs few of them (see `_Builder`).
    """

    __slots__ = ("_entries", "_file", "_index", "_keys", "_mark", "_pairs", "_pos")

    def __init__(self, pos: SourcePos) -> None:
        super().__init__()
        self._pos: SourcePos | None = pos
        self._entries: dict[Any, Entry] | None = {}
        self._file = ""
        self._mark: Any = None
        self._keys: tuple[Any, ...] = ()  # the parser's keys, in order, and their nodes
        self._pairs: list[tuple[Node, Node]] = []
        self._index: dict[Any, int] | None = None

    @property
    def pos(self) -> SourcePos:
        pos = self._pos
        if pos is None:
            pos = self._pos = _pos(self._file, self._mark)
        return pos

    @property
    def entries(self) -> dict[Any, Entry]:
        entries = self._entries
        if entries is None:
            file = self._file
            entries = self._entries = {
                key: _entry(file, pair) for key, pair in zip(self._keys, self._pairs, strict=True)
            }
        return entries

    def key_pos(self, key: Any) -> SourcePos:
        if self._entries is not None:
            return self._entries[key].key_pos
        return _pos(self._file, self._pairs[self._at(key)][0].start_mark)

    def value_pos(self, key: Any) -> SourcePos:
        if self._entries is not None:
            return self._entries[key].value_pos
        return _pos(self._file, self._pairs[self._at(key)][1].start_mark)

    def entry_keys(self) -> Iterable[Any]:
        """The keys of `entries`, without working out their positions."""
        return self._keys if self._entries is None else self._entries.keys()

    def _at(self, key: Any) -> int:
        index = self._index
        if index is None:
            index = self._index = {k: i for i, k in enumerate(self._keys)}
        return index[key]


class YSeq(list[Any]):
    """A sequence from the file, remembering where each item sits (worked out when first
    asked for, as for YMap)."""

    __slots__ = ("_file", "_mark", "_nodes", "_pos", "_positions", "_raws")

    def __init__(self, pos: SourcePos) -> None:
        super().__init__()
        self._pos: SourcePos | None = pos
        self._file = ""
        self._mark: Any = None
        self._nodes: list[Node] = []
        self._positions: list[SourcePos] | None = []
        self._raws: list[str | None] | None = []

    @property
    def pos(self) -> SourcePos:
        pos = self._pos
        if pos is None:
            pos = self._pos = _pos(self._file, self._mark)
        return pos

    @property
    def positions(self) -> list[SourcePos]:
        positions = self._positions
        if positions is None:
            file = self._file
            positions = self._positions = [_pos(file, n.start_mark) for n in self._nodes]
        return positions

    @property
    def raws(self) -> list[str | None]:
        """Each item's source text if it is a scalar."""
        raws = self._raws
        if raws is None:
            raws = self._raws = [
                n.value if isinstance(n, ScalarNode) else None for n in self._nodes
            ]
        return raws


class Document(Struct, frozen=True):
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
    with collector_paused():  # see gcpause.py
        return _parse(text, file)


def _parse(text: str, file: str) -> Document:
    root = _compose_with_libyaml(text)
    if root is None:
        root = _compose(text, file)
    builder = _Builder(file, root)
    value = builder.build(root, 1)
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
_STR = _TAG + "str"
_SEQ = _TAG + "seq"
_MAP = _TAG + "map"


def _resolve(loader: Any, kind: Any, value: Any, implicit: Any) -> Any:
    """The safe loader's tag resolution, each plain scalar's tag remembered for the document
    (a workflow repeats its step names and values many times).

    The same tags as PyYAML's: without path resolvers (the safe loaders have none) a tag
    depends only on the node's kind and, for a plain scalar, its text.
    """
    if loader.yaml_path_resolvers:
        return yaml.resolver.BaseResolver.resolve(loader, kind, value, implicit)
    if kind is ScalarNode:
        if not implicit[0]:
            return _STR  # quoted, or a block scalar
        tag = loader.plain_tags.get(value)
        if tag is None:
            resolved = yaml.resolver.BaseResolver.resolve(loader, kind, value, implicit)
            tag = loader.plain_tags[value] = resolved
        return tag
    return _SEQ if kind is SequenceNode else _MAP


if _CLoader is not None:

    class _FastCLoader(_CLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.plain_tags: dict[str, str] = {}

        resolve = _resolve


def _compose_with_libyaml(text: str) -> Node | None:
    if _CLoader is None or len(text) > LIBYAML_MAX_BYTES:
        return None
    loader = _FastCLoader(text)
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
    """Turns a composed node tree into YMap/YSeq/scalars in one pass.

    The tree is checked as it is built: as soon as a node is reached twice (an alias), the
    tree grows past MAX_NODES or nests past MAX_DEPTH, `_check_expansion` measures the whole
    tree first, raising exactly what it raises for the tree; if it does not, building goes
    on (a node reached again is the value built the first time).  Positions are not worked
    out here: each YMap/YSeq keeps its nodes and does that when asked.
    """

    def __init__(self, file: str, root: Node) -> None:
        self.file = file
        self.root = root
        self.fatal: list[Problem] = []
        self.problems: list[Problem] = []
        self._constructor: yaml.SafeLoader | None = None
        self._done: dict[int, Any] = {}  # id(node) -> its value (None while being built)
        self._scalars: dict[tuple[str, str], Any] = {}  # (tag, text) -> constructed value
        self._nodes = 1  # nodes seen so far, counting the root
        self._checked = False

    def build(self, node: Node, depth: int) -> Any:
        """The value of `node`, `depth` levels down (the root is at 1)."""
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        key = id(node)
        done = self._done
        if key in done:  # reached again: an alias
            self._check()  # refuses a recursive one
            return done[key]
        done[key] = None
        if isinstance(node, SequenceNode):
            value: Any = self._sequence(node, depth)
        elif isinstance(node, MappingNode):
            value = self._mapping(node, depth)
        else:  # the composer makes no other kind of node
            raise TypeError(f"unexpected YAML node {node!r}")
        done[key] = value
        return value

    def _check(self) -> None:
        if not self._checked:
            self._checked = True
            _check_expansion(self.root, self.file)

    def _grow(self, children: int, depth: int) -> None:
        """Count a collection's children (at depth + 1); check the tree when too big."""
        self._nodes += children
        if children and (depth >= MAX_DEPTH or self._nodes > MAX_NODES):
            self._check()

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
        if tag == _STR or tag == _TAG + "timestamp":
            # dates stay text: a workflow has no use for datetime objects
            return node.value
        key = id(node)
        if key in self._done:  # reached again through an alias: its problems said once
            return self._done[key]
        value = self._done[key] = self._construct(node)
        return value

    def _construct(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self._unsupported(node)
            return None
        known = self._scalars.get((tag, node.value), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        if self._constructor is None:
            self._constructor = yaml.SafeLoader("")
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError) as exc:
            # PyYAML's `!!bool` looks the text up in a table: KeyError for anything else
            why = "not a boolean (true/false, yes/no, on/off)" if isinstance(exc, KeyError) else exc
            self.fatal.append(
                Problem(
                    _pos(self.file, node.start_mark),
                    f"cannot read {node.value!r} as `{tag}`: {why}",
                )
            )
            return None
        self._scalars[(tag, node.value)] = value
        return value

    def _sequence(self, node: SequenceNode, depth: int) -> YSeq:
        items: list[Node] = node.value
        self._grow(len(items), depth)
        seq = _new_list(YSeq)
        seq._file, seq._mark, seq._pos = self.file, node.start_mark, None
        seq._nodes, seq._positions, seq._raws = items, None, None
        if node.tag != _SEQ:
            self._unsupported(node)
        deeper = depth + 1
        build = self.build
        seq.extend(
            [
                item.value if type(item) is ScalarNode and item.tag == _STR else build(item, deeper)
                for item in items
            ]
        )
        return seq

    def _mapping(self, node: MappingNode, depth: int) -> YMap:
        pairs: list[tuple[Node, Node]] = node.value
        self._grow(2 * len(pairs), depth)
        result = _new_dict(YMap)
        result._file, result._mark, result._pos = self.file, node.start_mark, None
        result._entries, result._index = None, None
        if node.tag != _MAP:
            self._unsupported(node)
        deeper = depth + 1
        build = self.build
        kept: list[tuple[Node, Node]] | None = None  # the pairs kept, once one is not
        merged: list[YMap] = []
        for pair in pairs:
            key_node, value_node = pair
            if type(key_node) is ScalarNode and key_node.tag == _STR:
                key = key_node.value
            elif key_node.tag == _MERGE_TAG:
                kept = pairs[: len(result)] if kept is None else kept
                merged.extend(self._merge_sources(key_node, value_node, deeper))
                continue
            elif not isinstance(key_node, ScalarNode):
                kept = pairs[: len(result)] if kept is None else kept
                self.problems.append(
                    Problem(
                        _pos(self.file, key_node.start_mark),
                        "a key must be a plain value, not a list or mapping",
                    )
                )
                continue
            else:
                key = self._scalar(key_node)
            if key in result:
                kept = pairs[: len(result)] if kept is None else kept
                first = kept[list(result).index(key)][0]
                self.problems.append(
                    Problem(
                        _pos(self.file, key_node.start_mark),
                        f"duplicate key `{key_node.value}` (first defined at line "
                        f"{first.start_mark.line + 1})",
                        "remove one of them; YAML would silently keep only the last",
                    )
                )
                continue
            if type(value_node) is ScalarNode and value_node.tag == _STR:
                result[key] = value_node.value
            else:
                result[key] = build(value_node, deeper)
            if kept is not None:
                kept.append(pair)
        result._keys = tuple(result)
        result._pairs = pairs if kept is None else kept
        # `<<: *defaults` fills in keys the mapping does not set itself; earlier sources win
        if merged:
            entries = result.entries
            for source in merged:
                for key, value in source.items():
                    if key not in entries:
                        result[key] = value
                        entries[key] = source.entries[key]
        return result

    def _merge_sources(self, key_node: Node, value_node: Node, depth: int) -> list[YMap]:
        value = self.build(value_node, depth)
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


_UNKNOWN = object()
_new_list: Any = list.__new__  # a YSeq/YMap the builder fills in itself (no __init__)
_new_dict: Any = dict.__new__


def _entry(file: str, pair: tuple[Node, Node]) -> Entry:
    key_node, value_node = pair
    return Entry(
        _pos(file, key_node.start_mark),
        _pos(file, value_node.start_mark),
        key_node.value,
        value_node.value if isinstance(value_node, ScalarNode) else None,
    )


def to_plain(value: Any) -> Any:
    """Strip position bookkeeping: YMap -> dict, YSeq -> list (recursively)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
