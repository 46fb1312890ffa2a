"""The step timeline tree of one run: execution order and nesting, loaded lazily for big runs.

Small runs (up to FULL_LOAD_LIMIT steps) are read whole and shown expanded. Bigger runs show the
first PAGE children of the root; every other level is read from SQLite when it is expanded, and a
parent with very many children is read a PAGE at a time. Children not read yet are stood in for by
a Gap node ("… 1,200 more steps"), which loads itself when the cursor reaches it or it is expanded.
Jumps (`f`, `n`, `N`) read just the ancestors of the target and a window of siblings around each.

Textual's Tree rebuilds its line list on every add (~12 µs a row). Nodes are therefore added in
bulk through Tree's private node list (Textual is pinned in pyproject.toml) and the tree is
invalidated once per batch; labels are drawn only for the rows on screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets._tree import TOGGLE_STYLE, TreeNode
from textual.worker import get_current_worker

from ...analysis import root_cause
from ...model import Run, Step
from .step_row import Columns, TimeScale, header_label, run_label, step_label

FULL_LOAD_LIMIT = 2000
EVAL_EXTRA_LIMIT = 2000
PAGE = 500
MIN_LABEL = 30
_EMPTY = Text()


@dataclass(frozen=True)
class Gap:
    """Children of `parent_id` at positions start..end-1 that are not in the tree yet."""

    parent_id: str | None
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start


class NoSteps:
    """Stands in the tree of a run that has no steps."""


def with_eval_extras(store, run_id: str, steps: list[Step]) -> list[Step]:
    """Tree rows are read without payload columns, but an evaluation's row shows passed/retried,
    which sources keep in extra: read extra for those few steps."""
    for step in [s for s in steps if s.kind == "evaluation"][:EVAL_EXTRA_LIMIT]:
        step.extra = store.get_step(run_id, step.id).extra
    return steps


class StepTree(Tree[object]):
    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="tracetui.tree.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="tracetui.tree.up"),
        Binding("g,home", "scroll_home", "First row", show=False, id="tracetui.tree.first"),
        Binding("G,end", "scroll_end", "Last row", show=False, id="tracetui.tree.last"),
        Binding("pagedown", "page_down", "Page down", show=False, id="tracetui.tree.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="tracetui.tree.page_up"),
        Binding("enter", "select_cursor", "Open/toggle", show=False, id="tracetui.tree.select"),
        Binding("space", "toggle_node", "Toggle", show=False, id="tracetui.tree.toggle"),
        Binding("h,left", "collapse_or_parent", "Collapse", show=False, id="tracetui.tree.collapse"),
        Binding("l,right", "expand_or_child", "Expand", show=False, id="tracetui.tree.expand"),
        Binding("shift+left", "cursor_parent", "Parent step", show=False, id="tracetui.tree.parent"),
        Binding("shift+up", "cursor_previous_sibling", "Previous sibling", show=False, id="tracetui.tree.prev_sibling"),
        Binding("shift+down", "cursor_next_sibling", "Next sibling", show=False, id="tracetui.tree.next_sibling"),
        Binding(
            "shift+right",
            "cursor_parent_next_sibling",
            "Parent's next sibling",
            show=False,
            id="tracetui.tree.parent_next_sibling",
        ),
        Binding("shift+space", "toggle_expand_all", "Toggle siblings", show=False, id="tracetui.tree.toggle_siblings"),
    ]

    DEFAULT_CSS = """
    StepTree {
        scrollbar-gutter: stable;
        height: 1fr;
    }
    """

    class Ready(Message):
        """The run and the first rows are in the tree."""

        def __init__(self, tree: StepTree, run: Run) -> None:
            super().__init__()
            self.tree = tree
            self.run = run

    class Resized(Message):
        """The tree's width changed: column titles need redrawing."""

    class LoadFailed(Message):
        def __init__(self, tree: StepTree, error: str) -> None:
            super().__init__()
            self.tree = tree
            self.error = error

    class Expanding(Message):
        """Progress of expand-all on a big run: done of total steps in the tree (done == total: finished)."""

        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done = done
            self.total = total

    def __init__(self, run_id: str, **kwargs) -> None:
        super().__init__(_EMPTY, None, **kwargs)
        self.run_id = run_id
        self.auto_expand = False
        self.guide_depth = 3
        self.run: Run | None = None
        self.scale = TimeScale()
        self.failed_positions: list[tuple[str, int, int]] = []
        self.nodes: dict[str, TreeNode] = {}
        self.fully_loaded = False
        self.expanded_all = False
        self._gap_nodes: dict[Gap, TreeNode] = {}
        self._loading_gaps: set[Gap] = set()
        self._rebuilding = False
        self._pending_reveal: str | None = None

    # -- labels ---------------------------------------------------------------------------------
    def process_label(self, label) -> Text:
        # Labels are drawn from node data in render_label; never parse anything as markup.
        return label if isinstance(label, Text) else Text(str(label))

    @property
    def content_width(self) -> int:
        return max(MIN_LABEL, self.scrollable_content_region.width or self.size.width)

    def _level(self, node: TreeNode) -> int:
        level, parent = 0, node._parent
        while parent is not None:
            level += 1
            parent = parent._parent
        return level

    def get_label_width(self, node: TreeNode) -> int:
        # Called for every line on each rebuild: keep it arithmetic, no rendering.
        return max(MIN_LABEL, self.content_width - self._level(node) * self.guide_depth)

    def render_label(self, node: TreeNode, base_style: Style, style: Style) -> Text:
        width = self.get_label_width(node)
        if node._allow_expand:
            prefix = Text(self.ICON_NODE_EXPANDED if node._expanded else self.ICON_NODE, base_style + TOGGLE_STYLE)
        else:
            prefix = Text("  ", base_style)
        label = self.row_text(node, width - 2)
        label.stylize(style)
        return Text.assemble(prefix, label)

    def row_text(self, node: TreeNode, width: int | None = None) -> Text:
        """The row of a node without guides and expand icon (tests read it too)."""
        if width is None:
            width = self.get_label_width(node) - 2
        columns = Columns.fitting(self.content_width)
        data = node.data
        if isinstance(data, Step):
            return step_label(data, width, columns, self.scale)
        if isinstance(data, Gap):
            what = "loading…" if data in self._loading_gaps else "Enter or move here to load"
            noun = "step" if data.count == 1 else "steps"
            text = Text(f"… {data.count:,} more {noun} ({what})", "dim italic")
        elif isinstance(data, NoSteps):
            text = Text("this run has no steps", "dim italic")
        elif self.run is not None:
            return run_label(self.run, width, columns, self.scale)
        else:
            text = Text("loading run…", "dim italic")
        text.truncate(width, pad=True)
        return text

    def header(self) -> Text:
        width = self.content_width
        label = header_label(max(MIN_LABEL, width - self.guide_depth - 2), Columns.fitting(width))
        return Text.assemble(" " * (self.guide_depth + 2), label)

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    # -- loading --------------------------------------------------------------------------------
    def on_mount(self) -> None:
        # No loading overlay: mounting and removing one costs more than the read (the root row says "loading run…").
        self._load()

    @work(thread=True, exclusive=True, group="step-tree-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        store = self.app.new_store()
        try:
            run = store.get_run(self.run_id)
            positions = store.failed_step_positions(self.run_id)
            if run.step_count is not None and run.step_count <= FULL_LOAD_LIMIT:
                steps, root_count, full = store.steps(self.run_id), None, True
            else:
                steps = store.children(self.run_id, None, limit=PAGE)
                root_count, full = store.count_children(self.run_id, None), False
            with_eval_extras(store, self.run_id, steps)
        except Exception as exc:  # shown to the user; the app keeps running
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._populate, run, positions, steps, root_count, full)

    def _failed(self, error: str) -> None:
        self.post_message(self.LoadFailed(self, error))

    def _populate(self, run: Run, positions, steps: list[Step], root_count: int | None, full: bool) -> None:
        self.run = run
        self.failed_positions = positions
        self.fully_loaded = full
        self.scale = TimeScale.of_run(run, steps)
        self._reset_nodes()
        root = self.root
        if full:
            self._add_all(steps)
            self.expanded_all = True
        else:
            self._splice(root, 0, 0, steps, Gap(None, len(steps), root_count) if root_count > len(steps) else None)
        if not root._children:
            self._new_node(root, NoSteps(), len(root._children))
        root._expanded = True
        self._invalidate()
        self.move_cursor(root)
        self.post_message(self.Ready(self, run))
        self.post_message(self.NodeHighlighted(root))

    def _reset_nodes(self) -> None:
        self._tree_nodes.clear()
        self.clear()
        self._tree_nodes[self.root._id] = self.root
        self.nodes.clear()
        self._gap_nodes.clear()
        self._loading_gaps.clear()

    def _new_node(self, parent: TreeNode, data: object, index: int, *, expanded: bool = False) -> TreeNode:
        node = self._add_node(parent, _EMPTY, data)
        node._expanded = expanded
        if isinstance(data, Step):
            node._allow_expand = data.child_count > 0
            self.nodes[data.id] = node
        elif isinstance(data, Gap):
            node._allow_expand = False
            self._gap_nodes[data] = node
        else:
            node._allow_expand = False
        parent._children.insert(index, node)
        return node

    def _add_all(self, steps: Iterable[Step]) -> int:
        """Steps in execution order (parents before children), every node expanded."""
        added = 0
        root = self.root
        for step in steps:
            parent = self.nodes.get(step.parent_id, root) if step.parent_id else root
            self._new_node(parent, step, len(parent._children), expanded=True)
            added += 1
        return added

    def _splice(
        self, parent: TreeNode, index: int, remove: int, steps: list[Step], tail: Gap | None, head: Gap | None = None
    ) -> None:
        """Replace `remove` children of parent at index with head gap, steps (with placeholders), tail gap."""
        for old in parent._children[index : index + remove]:
            self._forget(old)
        del parent._children[index : index + remove]
        items: list[object] = ([head] if head else []) + list(steps) + ([tail] if tail else [])
        for offset, data in enumerate(items):
            node = self._new_node(parent, data, index + offset)
            if isinstance(data, Step) and data.child_count > 0:
                self._new_node(node, Gap(data.id, 0, data.child_count), 0)

    def _forget(self, node: TreeNode) -> None:
        for child in node._children:
            self._forget(child)
        data = node.data
        if isinstance(data, Step):
            self.nodes.pop(data.id, None)
        elif isinstance(data, Gap):
            self._gap_nodes.pop(data, None)
        self._tree_nodes.pop(node._id, None)

    def _fill_gap(self, gap: Gap, offset: int, steps: list[Step]) -> TreeNode | None:
        """Put steps read at `offset` into the gap's place; returns the first new step node."""
        gap_node = self._gap_nodes.get(gap)
        self._loading_gaps.discard(gap)
        if gap_node is None or gap_node._parent is None:
            return None
        lo, hi = max(offset, gap.start), min(offset + len(steps), gap.end)
        if lo >= hi:
            return None
        parent = gap_node._parent
        index = parent._children.index(gap_node)
        was_cursor = self.cursor_node is gap_node
        head = Gap(gap.parent_id, gap.start, lo) if lo > gap.start else None
        tail = Gap(gap.parent_id, hi, gap.end) if hi < gap.end else None
        new_steps = steps[lo - offset : hi - offset]
        self.scale = self.scale.widened(new_steps) if not self.fully_loaded else self.scale
        self._splice(parent, index, 1, new_steps, tail, head)
        self._invalidate()
        first = self.nodes.get(new_steps[0].id) if new_steps else None
        if was_cursor and first is not None:
            self.call_after_refresh(self._land, first)
        return first

    def _land(self, node: TreeNode) -> None:
        self.move_cursor(node)
        self.post_message(self.NodeHighlighted(node))

    def load_gap(self, gap_node: TreeNode) -> None:
        gap = gap_node.data
        if not isinstance(gap, Gap) or gap in self._loading_gaps or self._rebuilding:
            return
        self._loading_gaps.add(gap)
        self._refresh_node(gap_node)
        self._read_gap(gap)

    @work(thread=True, group="step-tree-gaps", exit_on_error=False)
    def _read_gap(self, gap: Gap) -> None:
        store = self.app.new_store()
        try:
            steps = store.children(self.run_id, gap.parent_id, limit=min(PAGE, gap.count), offset=gap.start)
            with_eval_extras(store, self.run_id, steps)
        finally:
            store.close()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill_gap, gap, gap.start, steps)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        node = event.node
        children = node._children
        if len(children) == 1 and isinstance(children[0].data, Gap):
            self.load_gap(children[0])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, Gap):
            self.load_gap(event.node)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        # Textual keeps the cursor on a now hidden row's stale line number; put it on the collapsed node.
        cursor = self.cursor_node
        parent = cursor._parent if cursor is not None else None
        while parent is not None:
            if parent is event.node:
                self.call_after_refresh(self._land, event.node)
                break
            parent = parent._parent

    # -- moving around --------------------------------------------------------------------------
    def action_select_cursor(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if isinstance(node.data, Gap):
            self.load_gap(node)
        elif node._allow_expand:
            self._toggle_node(node)
        else:
            self.post_message(self.NodeSelected(node))

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node._allow_expand and node._expanded and node is not self.root:
            node.collapse()
        elif node._parent is not None:
            self.move_cursor(node._parent)

    def action_expand_or_child(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node._allow_expand and not node._expanded:
            node.expand()
        elif node._expanded and node._children:
            self.move_cursor(node._children[0])

    def step_at_cursor(self) -> Step | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, Step) else None

    def _cursor_ord(self) -> int:
        """Execution position of the cursor (a Gap counts as its previous sibling's last step)."""
        node = self.cursor_node
        if node is None or node._parent is None:
            return -1
        if isinstance(node.data, Step):
            return node.data.ord
        siblings = node._parent._children
        index = siblings.index(node)
        before = siblings[index - 1].data if index > 0 else None
        if isinstance(before, Step):
            return before.ord + before.size - 1
        parent = node._parent.data
        return parent.ord if isinstance(parent, Step) else -1

    def first_failure(self) -> str | None:
        """Move to the root-cause failed step; returns its id (None: the run has no failed step)."""
        target = root_cause(self.failed_positions)
        if target is not None:
            self.reveal(target)
        return target

    def adjacent_failure(self, direction: int) -> tuple[str | None, bool]:
        """Move to the next (+1) / previous (-1) failed step in execution order; (id, wrapped)."""
        if not self.failed_positions:
            return None, False
        here = self._cursor_ord()
        if direction > 0:
            later = [p for p in self.failed_positions if p[1] > here]
            target, wrapped = (later[0], False) if later else (self.failed_positions[0], True)
        else:
            earlier = [p for p in self.failed_positions if p[1] < here]
            target, wrapped = (earlier[-1], False) if earlier else (self.failed_positions[-1], True)
        self.reveal(target[0])
        return target[0], wrapped

    def reveal(self, step_id: str) -> None:
        """Put the cursor on a step, expanding (and reading) its ancestors first."""
        if self._rebuilding:
            self._pending_reveal = step_id
            return
        node = self.nodes.get(step_id)
        if node is not None:
            self._expand_to(node)
            return
        self._read_path(step_id, frozenset(self.nodes))

    def _expand_to(self, node: TreeNode) -> None:
        parent = node._parent
        changed = False
        while parent is not None:
            if not parent._expanded:
                parent._expanded = True
                parent._updates += 1
                changed = True
            parent = parent._parent
        if changed:
            self._invalidate()
        # move_cursor in this same tick would still see the old lines and land on the root.
        self.call_after_refresh(self._land_visible, node)

    def _land_visible(self, node: TreeNode) -> None:
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)

    @work(thread=True, exclusive=True, group="step-tree-reveal", exit_on_error=False)
    def _read_path(self, step_id: str, loaded: frozenset[str]) -> None:
        worker = get_current_worker()
        store = self.app.new_store()
        try:
            chain = store.ancestors(self.run_id, step_id) + [step_id]
            windows: list[tuple[str | None, int, list[Step]]] = []
            parent_id: str | None = None
            for sid in chain:
                if sid not in loaded:
                    # seq is the step's position among its siblings (finalize_run numbers them 0..n-1).
                    seq = store.get_step(self.run_id, sid).seq
                    offset = max(0, seq - PAGE // 2)
                    window = store.children(self.run_id, parent_id, limit=PAGE, offset=offset)
                    windows.append((parent_id, offset, with_eval_extras(store, self.run_id, window)))
                parent_id = sid
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply_path, chain, windows)

    def _apply_path(self, chain: list[str], windows: list[tuple[str | None, int, list[Step]]]) -> None:
        for parent_id, offset, steps in windows:
            parent = self.root if parent_id is None else self.nodes.get(parent_id)
            if parent is None:
                continue
            for child in list(parent._children):
                gap = child.data
                if isinstance(gap, Gap) and gap.start < offset + len(steps) and offset < gap.end:
                    self._fill_gap(gap, offset, steps)
        node = self.nodes.get(chain[-1])
        if node is not None:
            self._expand_to(node)

    # -- expand / collapse all ------------------------------------------------------------------
    def toggle_all(self) -> None:
        if self.expanded_all:
            self.collapse_everything()
        else:
            self.expand_everything()

    def collapse_everything(self) -> None:
        cursor = self.cursor_node
        for top in self.root._children:
            self._set_expanded(top, False)
        self.expanded_all = False
        self._invalidate()
        while cursor is not None and cursor._parent is not None and cursor._parent is not self.root:
            cursor = cursor._parent
        if cursor is not None:
            self.call_after_refresh(self._land, cursor)

    def _set_expanded(self, node: TreeNode, expanded: bool) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if current._allow_expand and current._expanded != expanded:
                current._expanded = expanded
                current._updates += 1
            stack.extend(current._children)

    def expand_everything(self) -> None:
        self.expanded_all = True
        if self.fully_loaded:
            self._set_expanded(self.root, True)
            self._invalidate()
            cursor = self.cursor_node
            if cursor is not None:
                self.call_after_refresh(self._land_visible, cursor)
            return
        self._read_everything()

    @work(thread=True, exclusive=True, group="step-tree-all", exit_on_error=False)
    def _read_everything(self) -> None:
        worker = get_current_worker()
        store = self.app.new_store()
        try:
            steps = with_eval_extras(store, self.run_id, store.steps(self.run_id))
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._rebuild_all, steps)

    def _rebuild_all(self, steps: list[Step]) -> None:
        self._rebuild(steps)

    @work(exclusive=True, group="step-tree-rebuild")
    async def _rebuild(self, steps: list[Step]) -> None:
        """Rebuild the whole tree, expanded, a time slice at a time so the app stays responsive."""
        cursor = self.step_at_cursor()
        self._rebuilding = True
        self._reset_nodes()
        self.root._expanded = True
        self.scale = TimeScale.of_run(self.run, steps) if self.run else self.scale
        total, done = len(steps), 0
        try:
            while done < total:
                deadline = time.perf_counter() + 0.05
                while done < total and time.perf_counter() < deadline:
                    chunk = steps[done : done + 500]
                    self._add_all(chunk)
                    done += len(chunk)
                self._invalidate()
                self.post_message(self.Expanding(done, total))
                await asyncio.sleep(0)
        finally:
            self._rebuilding = False
        self.fully_loaded = True
        target = self._pending_reveal or (cursor.id if cursor else None)
        self._pending_reveal = None
        node = self.nodes.get(target) if target else None
        if node is not None:
            self._expand_to(node)
        else:
            self._land_visible(self.root)
