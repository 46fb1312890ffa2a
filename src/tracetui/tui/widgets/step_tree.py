"""The step timeline tree of one run: execution order and nesting, loaded lazily for big runs.

Small runs (up to FULL_LOAD_LIMIT steps) are read whole and shown expanded. Bigger runs show the
first PAGE children of the root; every other level is read from SQLite when it is expanded, and a
parent with very many children is read a PAGE at a time. Children not read yet are stood in for by
a Gap node ("… 1,200 more steps"), which loads itself when the cursor reaches it or it is expanded.
Jumps (`f`, `n`, `N`) read just the ancestors of the target and a window of siblings around each.

The pieces: lazy_children.py keeps the Gap bookkeeping and the reads (no Textual); tree_surgery.py
holds every private Tree call (nodes are added in bulk and the lines rebuilt once per batch);
this module is the widget: labels, loading, keys, jumps to failures, and expand/collapse all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence

from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from ...analysis import root_cause
from ...model import Run, Step
from ...store import Store
from ..messages import StepTreeExpanding, StepTreeLoadFailed, StepTreeReady, StepTreeResized
from .lazy_children import (
    PAGE,
    FailedPosition,
    Gap,
    LazyChildren,
    NoSteps,
    Window,
    adjacent_failure,
    first_page,
    placeholder,
    position_of_row,
    read_gap,
    read_path,
    with_eval_extras,
)
from .step_row import Columns, TimeScale, header_label, run_label, step_label
from .tree_surgery import TOGGLE_STYLE, TreeSurgery

FULL_LOAD_LIMIT = 2000
MIN_LABEL = 30
REBUILD_SLICE = 0.05  # seconds of expand-all work between two paints


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

    def __init__(self, run_id: str, connect: Callable[[], Store], **kwargs) -> None:
        super().__init__(Text(), None, **kwargs)
        self.run_id = run_id
        self.connect = connect  # a new read-only store connection (one per worker)
        self.auto_expand = False
        self.guide_depth = 3
        self.run: Run | None = None
        self.scale = TimeScale()
        self.failed_positions: list[FailedPosition] = []
        self.fully_loaded = False
        self.expanded_all = False
        self.lazy: LazyChildren[TreeNode[object]] = LazyChildren()
        self.surgery: TreeSurgery[object] = TreeSurgery(self)
        self._rebuilding = False
        self._pending_reveal: str | None = None

    @property
    def nodes(self) -> dict[str, TreeNode[object]]:
        """The step nodes in the tree, by step id."""
        return self.lazy.steps

    # -- labels ---------------------------------------------------------------------------------
    def process_label(self, label) -> Text:
        # Labels are drawn from node data in render_label; never parse anything as markup.
        return label if isinstance(label, Text) else Text(str(label))

    @property
    def content_width(self) -> int:
        return max(MIN_LABEL, self.scrollable_content_region.width or self.size.width)

    def _level(self, node: TreeNode[object]) -> int:
        level, parent = 0, node.parent
        while parent is not None:
            level += 1
            parent = parent.parent
        return level

    def get_label_width(self, node: TreeNode[object]) -> int:
        # Called for every line on each rebuild: keep it arithmetic, no rendering.
        return max(MIN_LABEL, self.content_width - self._level(node) * self.guide_depth)

    def render_label(self, node: TreeNode[object], base_style: Style, style: Style) -> Text:
        width = self.get_label_width(node)
        if node.allow_expand:
            prefix = Text(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE, base_style + TOGGLE_STYLE)
        else:
            prefix = Text("  ", base_style)
        label = self.row_text(node, width - 2)
        label.stylize(style)
        return Text.assemble(prefix, label)

    def row_text(self, node: TreeNode[object], width: int | None = None) -> Text:
        """The row of a node without guides and expand icon (tests read it too)."""
        if width is None:
            width = self.get_label_width(node) - 2
        columns = Columns.fitting(self.content_width)
        data = node.data
        if isinstance(data, Step):
            return step_label(data, width, columns, self.scale)
        if isinstance(data, Gap):
            what = "loading…" if self.lazy.is_reading(data) else "Enter or move here to load"
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
        self.post_message(StepTreeResized())

    # -- loading --------------------------------------------------------------------------------
    def on_mount(self) -> None:
        # No loading overlay: mounting and removing one costs more than the read (the root row says "loading run…").
        self._load()

    @work(thread=True, exclusive=True, group="step-tree-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        store = self.connect()
        try:
            run = store.get_run(self.run_id)
            positions = store.failed_step_positions(self.run_id)
            root_count: int | None = None
            if run.step_count is not None and run.step_count <= FULL_LOAD_LIMIT:
                steps = store.steps(self.run_id)
            else:
                steps = store.children(self.run_id, None, limit=PAGE)
                root_count = store.count_children(self.run_id, None)
            with_eval_extras(store, self.run_id, steps)
        except Exception as exc:  # shown to the user; the app keeps running
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._populate, run, positions, steps, root_count)

    def _failed(self, error: str) -> None:
        self.post_message(StepTreeLoadFailed(error))

    def _populate(self, run: Run, positions: list[FailedPosition], steps: list[Step], root_count: int | None) -> None:
        """Show what _load read: every step (root_count None) or the root's first page of root_count."""
        self.run = run
        self.failed_positions = positions
        self.fully_loaded = root_count is None
        self.scale = TimeScale.of_run(run, steps)
        self._reset_nodes()
        root = self.root
        if root_count is None:
            self._add_all(steps)
            self.expanded_all = True
        else:
            self._splice(root, 0, 0, first_page(None, steps, root_count))
        if not root.children:
            self._new_node(root, NoSteps(), 0)
        self.surgery.set_expanded(root, True)
        self.surgery.invalidate()
        self.move_cursor(root)
        self.post_message(StepTreeReady(run))
        self.post_message(self.NodeHighlighted(root))

    def _reset_nodes(self) -> None:
        self.surgery.clear()
        self.lazy.clear()

    def _new_node(self, parent: TreeNode[object], data: object, index: int, *, expanded: bool = False) -> TreeNode:
        node = self.surgery.insert(parent, index, data, expanded=expanded)
        node.allow_expand = isinstance(data, Step) and data.child_count > 0
        self.lazy.add(data, node)
        return node

    def _add_all(self, steps: Iterable[Step]) -> None:
        """Steps in execution order (parents before children), every node expanded."""
        root, nodes = self.root, self.nodes
        for step in steps:
            parent = nodes.get(step.parent_id, root) if step.parent_id else root
            self._new_node(parent, step, len(parent.children), expanded=True)

    def _splice(self, parent: TreeNode[object], index: int, remove: int, items: Sequence[Step | Gap]) -> None:
        """Replace `remove` children of parent at index with items (steps get their placeholder gap)."""
        for old in self.surgery.remove(parent, index, remove):
            self.lazy.forget(old.data)
        for offset, data in enumerate(items):
            node = self._new_node(parent, data, index + offset)
            gap = placeholder(data) if isinstance(data, Step) else None
            if gap is not None:
                self._new_node(node, gap, 0)

    # -- gaps -------------------------------------------------------------------------------------
    def load_gap(self, gap_node: TreeNode[object]) -> None:
        gap = gap_node.data
        if not isinstance(gap, Gap) or self._rebuilding or not self.lazy.start_reading(gap):
            return
        self.surgery.repaint(gap_node)
        self._read_gap(gap)

    @work(thread=True, group="step-tree-gaps", exit_on_error=False)
    def _read_gap(self, gap: Gap) -> None:
        store = self.connect()
        try:
            steps = read_gap(store, self.run_id, gap)
        finally:
            store.close()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill_gap, gap, gap.start, steps)

    def _fill_gap(self, gap: Gap, offset: int, steps: list[Step]) -> TreeNode | None:
        """Put steps read at `offset` into the gap's place; returns the first new step node."""
        gap_node = self.lazy.gap_node(gap)
        self.lazy.done_reading(gap)
        parent = gap_node.parent if gap_node is not None else None
        items = gap.fill(offset, steps)
        if gap_node is None or parent is None or items is None:
            return None
        was_cursor = self.cursor_node is gap_node
        new_steps = [item for item in items if isinstance(item, Step)]
        if not self.fully_loaded:
            self.scale = self.scale.widened(new_steps)
        self._splice(parent, parent.children.index(gap_node), 1, items)
        self.surgery.invalidate()
        first = self.nodes.get(new_steps[0].id) if new_steps else None
        if was_cursor and first is not None:
            self.call_after_refresh(self._land, first)
        return first

    def _land(self, node: TreeNode[object]) -> None:
        self.move_cursor(node)
        self.post_message(self.NodeHighlighted(node))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        children = event.node.children
        if len(children) == 1 and isinstance(children[0].data, Gap):
            self.load_gap(children[0])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, Gap):
            self.load_gap(event.node)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        # Textual keeps the cursor on a now hidden row's stale line number; put it on the collapsed node.
        cursor = self.cursor_node
        parent = cursor.parent if cursor is not None else None
        while parent is not None:
            if parent is event.node:
                self.call_after_refresh(self._land, event.node)
                break
            parent = parent.parent

    # -- moving around --------------------------------------------------------------------------
    def action_select_cursor(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if isinstance(node.data, Gap):
            self.load_gap(node)
        elif node.allow_expand:
            node.toggle()
        else:
            self.post_message(self.NodeSelected(node))

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded and node is not self.root:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def action_expand_or_child(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.is_expanded and node.children:
            self.move_cursor(node.children[0])

    def step_at_cursor(self) -> Step | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, Step) else None

    # -- jumps to failed steps ------------------------------------------------------------------
    def _cursor_position(self) -> int:
        """Execution position of the cursor row (-1: the root)."""
        node = self.cursor_node
        parent = node.parent if node is not None else None
        if node is None or parent is None:
            return -1
        if isinstance(node.data, Step):
            return node.data.ord
        index = parent.children.index(node)
        before = parent.children[index - 1].data if index > 0 else None
        return position_of_row(node.data, before, parent.data)

    def first_failure(self) -> str | None:
        """Move to the root-cause failed step; returns its id (None: the run has no failed step)."""
        target = root_cause(self.failed_positions)
        if target is not None:
            self.reveal(target)
        return target

    def adjacent_failure(self, direction: int) -> tuple[str | None, bool]:
        """Move to the next (+1) / previous (-1) failed step in execution order; (id, wrapped)."""
        found = adjacent_failure(self.failed_positions, self._cursor_position(), direction)
        if found is None:
            return None, False
        self.reveal(found[0])
        return found

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

    def _expand_to(self, node: TreeNode[object]) -> None:
        parent = node.parent
        changed = False
        while parent is not None:
            changed = self.surgery.set_expanded(parent, True) or changed
            parent = parent.parent
        if changed:
            self.surgery.invalidate()
        # move_cursor in this same tick would still see the old lines and land on the root.
        self.call_after_refresh(self._land_visible, node)

    def _land_visible(self, node: TreeNode[object]) -> None:
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)

    @work(thread=True, exclusive=True, group="step-tree-reveal", exit_on_error=False)
    def _read_path(self, step_id: str, loaded: frozenset[str]) -> None:
        worker = get_current_worker()
        store = self.connect()
        try:
            chain, windows = read_path(store, self.run_id, step_id, loaded)
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply_path, chain, windows)

    def _apply_path(self, chain: list[str], windows: list[Window]) -> None:
        for parent_id, offset, steps in windows:
            parent = self.root if parent_id is None else self.nodes.get(parent_id)
            if parent is None:
                continue
            for child in list(parent.children):
                gap = child.data
                if isinstance(gap, Gap) and gap.overlaps(offset, len(steps)):
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
        for top in self.root.children:
            self._set_expanded(top, False)
        self.expanded_all = False
        self.surgery.invalidate()
        while cursor is not None and cursor.parent is not None and cursor.parent is not self.root:
            cursor = cursor.parent
        if cursor is not None:
            self.call_after_refresh(self._land, cursor)

    def _set_expanded(self, node: TreeNode[object], expanded: bool) -> None:
        """Expand or collapse a node and everything below it (no message per node)."""
        stack = [node]
        while stack:
            current = stack.pop()
            if current.allow_expand:
                self.surgery.set_expanded(current, expanded)
            stack.extend(current.children)

    def expand_everything(self) -> None:
        self.expanded_all = True
        if self.fully_loaded:
            self._set_expanded(self.root, True)
            self.surgery.invalidate()
            cursor = self.cursor_node
            if cursor is not None:
                self.call_after_refresh(self._land_visible, cursor)
            return
        self._read_everything()

    @work(thread=True, exclusive=True, group="step-tree-all", exit_on_error=False)
    def _read_everything(self) -> None:
        worker = get_current_worker()
        store = self.connect()
        try:
            steps = with_eval_extras(store, self.run_id, store.steps(self.run_id))
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._rebuild, steps)

    @work(exclusive=True, group="step-tree-rebuild")
    async def _rebuild(self, steps: list[Step]) -> None:
        """Rebuild the whole tree, expanded, a time slice at a time so the app stays responsive."""
        cursor = self.step_at_cursor()
        self._rebuilding = True
        self._reset_nodes()
        self.surgery.set_expanded(self.root, True)
        self.scale = TimeScale.of_run(self.run, steps) if self.run else self.scale
        total, done = len(steps), 0
        try:
            while done < total:
                deadline = time.perf_counter() + REBUILD_SLICE
                while done < total and time.perf_counter() < deadline:
                    chunk = steps[done : done + 500]
                    self._add_all(chunk)
                    done += len(chunk)
                self.surgery.invalidate()
                self.post_message(StepTreeExpanding(done, total))
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


__all__ = ["FULL_LOAD_LIMIT", "PAGE", "Gap", "NoSteps", "StepTree"]
