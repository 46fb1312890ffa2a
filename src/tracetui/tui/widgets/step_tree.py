"""The step timeline tree of one run: execution order and nesting, loaded lazily for big runs.

StepTree is what the run view shows: LazyStepTree (lazy_step_tree.py: labels, reading steps as
they are needed) plus the keys, the jumps to failed steps (`f`, `n`, `N`: read just the ancestors
of the target and a window of siblings around each) and expand/collapse all (`e`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual import work
from textual.binding import Binding
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from ...analysis import root_cause
from ...errors import TraceError, Unavailable
from ...model import Step
from ...store.protocol import TraceStore
from ..messages import SourceLost, StepTreeExpanding
from ..plain import notify_plain
from .lazy_children import PAGE, Gap, Window, adjacent_failure, position_of_row, read_path, with_eval_extras
from .lazy_step_tree import FULL_LOAD_LIMIT, LazyStepTree
from .step_row import TimeScale

REBUILD_SLICE = 0.05  # seconds of expand-all work between two paints

# Keys that share a row in the README's keys table (and would share one in the footer).
MOVE = Binding.Group("Move in the tree")
IN_OUT = Binding.Group("Collapse or go to the parent · expand or go to the first child")
JUMP = Binding.Group("Parent · previous sibling · next sibling · parent's next sibling · toggle siblings")


class StepTree(LazyStepTree):
    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="tracetui.tree.down", group=MOVE),
        Binding("k,up", "cursor_up", "Up", show=False, id="tracetui.tree.up", group=MOVE),
        Binding("g,home", "scroll_home", "First row", show=False, id="tracetui.tree.first", group=MOVE),
        Binding("G,end", "scroll_end", "Last row", show=False, id="tracetui.tree.last", group=MOVE),
        Binding("pagedown", "page_down", "Page down", show=False, id="tracetui.tree.page_down", group=MOVE),
        Binding("pageup", "page_up", "Page up", show=False, id="tracetui.tree.page_up", group=MOVE),
        Binding(
            "enter",
            "select_cursor",
            "Open/toggle",
            show=False,
            tooltip="Expand or collapse a step with children; on a step without, go to its detail",
            id="tracetui.tree.select",
        ),
        Binding("space", "toggle_node", "Toggle", show=False, tooltip="Expand or collapse", id="tracetui.tree.toggle"),
        Binding("h,left", "collapse_or_parent", "Collapse", show=False, id="tracetui.tree.collapse", group=IN_OUT),
        Binding("l,right", "expand_or_child", "Expand", show=False, id="tracetui.tree.expand", group=IN_OUT),
        Binding("shift+left", "cursor_parent", "Parent step", show=False, id="tracetui.tree.parent", group=JUMP),
        Binding(
            "shift+up",
            "cursor_previous_sibling",
            "Previous sibling",
            show=False,
            id="tracetui.tree.prev_sibling",
            group=JUMP,
        ),
        Binding(
            "shift+down", "cursor_next_sibling", "Next sibling", show=False, id="tracetui.tree.next_sibling", group=JUMP
        ),
        Binding(
            "shift+right",
            "cursor_parent_next_sibling",
            "Parent's next sibling",
            show=False,
            id="tracetui.tree.parent_next_sibling",
            group=JUMP,
        ),
        Binding(
            "shift+space",
            "toggle_expand_all",
            "Toggle siblings",
            show=False,
            id="tracetui.tree.toggle_siblings",
            group=JUMP,
        ),
    ]

    DEFAULT_CSS = """
    StepTree {
        scrollbar-gutter: stable;
        height: 1fr;
    }
    """

    def __init__(self, run_id: str, connect: Callable[[], TraceStore], **kwargs) -> None:
        super().__init__(run_id, connect, **kwargs)
        self._pending_reveal: str | None = None  # a jump asked for while the tree was being rebuilt

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

    # -- search matches (the run view's `/`) --------------------------------------------------------
    def adjacent_match(self, direction: int) -> tuple[str | None, bool]:
        """Move to the next (+1) / previous (-1) step the search found, in execution order; (id, wrapped)."""
        found = adjacent_failure(self.match_positions, self._cursor_position(), direction)
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

    def reveal_step(self, step_id: str) -> None:
        self.reveal(step_id)

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
        try:
            store = self.connect()
            try:
                chain, windows = read_path(store, self.run_id, step_id, loaded)
            finally:
                store.close()
        except TraceError as exc:
            self.app.call_from_thread(self._read_failed, exc)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply_path, chain, windows)

    def _read_failed(self, exc: TraceError) -> None:
        """A read for a jump or expand-all failed: said (a lost connection: the app reconnects)."""
        self.expanded_all = False
        if isinstance(exc, Unavailable) and exc.lost:
            self.post_message(SourceLost(exc.problem))
        else:
            notify_plain(self, str(exc), severity="error", timeout=8)

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
        try:
            store = self.connect()
            try:
                steps = with_eval_extras(store, self.run_id, store.steps(self.run_id))
            finally:
                store.close()
        except TraceError as exc:
            self.app.call_from_thread(self._read_failed, exc)
            return
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


__all__ = ["FULL_LOAD_LIMIT", "PAGE", "Gap", "StepTree"]
