"""A Tree of one run's steps that reads them from the store as they are needed.

Small runs (up to FULL_LOAD_LIMIT steps) are read whole and shown expanded. Bigger runs show the
first PAGE children of the root; every other level is read from SQLite when it is expanded, and a
parent with very many children is read a PAGE at a time. Children not read yet are stood in for by
a Gap node ("… 1,200 more steps"), which loads itself when the cursor reaches it or it is expanded.

The bookkeeping (which gaps exist, which are being read) is LazyChildren (lazy_children.py, no
Textual); nodes are added in bulk through TreeSurgery (tree_surgery.py, the only private Tree
calls). StepTree (step_tree.py) adds the keys, jumps to failures and expand/collapse all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import work
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from ...display import MAX_NESTING
from ...errors import TraceError, Unavailable
from ...model import Run, Step
from ...present import mark_found
from ...store.protocol import TraceStore
from ..messages import SourceLost, StepTreeLoadFailed, StepTreeReady, StepTreeResized
from .lazy_children import (
    PAGE,
    DeepNote,
    FailedPosition,
    Gap,
    LazyChildren,
    NoSteps,
    at_cap,
    expandable,
    first_page,
    flat,
    placeholder,
    read_gap,
    with_eval_extras,
)
from .step_row import Columns, TimeScale, header_label, run_label, step_label
from .tree_surgery import TOGGLE_STYLE, TreeSurgery

FULL_LOAD_LIMIT = 2000
MIN_LABEL = 30


# What a (re-)read of the run gives _populate: the run, its failed steps, the steps read and, when only the
# root's first page was read, how many children the root has (None: every step was read).
Read = tuple[Run, list[FailedPosition], list[Step], int | None]


@dataclass(frozen=True)
class Kept:
    """What stays as it was when the tree grows: the cursor's step and its screen row, expanded nodes."""

    cursor: str | None
    row: int
    expanded: frozenset[str]
    collapsed: frozenset[str]


def _looks(run: Run) -> tuple:
    """What changes in a run's row when its steps change (a re-read tree is shown only then)."""
    return (
        run.status,
        run.step_count,
        run.failed_steps,
        run.ended_at,
        run.duration_ms,
        run.error,
        run.total("tokens_in"),
        run.total("tokens_out"),
    )


class LazyStepTree(Tree[object]):
    """The run as the root, its steps below; rows drawn from node data, never parsed as markup."""

    def __init__(self, run_id: str, connect: Callable[[], TraceStore], **kwargs) -> None:
        super().__init__(Text(), None, **kwargs)
        self.run_id = run_id
        self.connect = connect  # a new read-only store connection (one per worker)
        self.auto_expand = False
        self.guide_depth = 3
        self.run: Run | None = None
        self.scale = TimeScale()
        self.failed_positions: list[FailedPosition] = []
        self.fully_loaded = False  # every step is in the tree (no gaps)
        self.expanded_all = False  # every node is expanded (small runs start so; `e` toggles it)
        self.lazy: LazyChildren[TreeNode[object]] = LazyChildren()
        self.surgery: TreeSurgery[object] = TreeSurgery(self)
        self._rebuilding = False  # the whole tree is being rebuilt: gaps are not read meanwhile
        self._growing = False  # a live re-read of the run is running
        self._grow_again = False  # the store changed again meanwhile
        self._at_cap: TreeNode[object] | None = None  # where _add_all puts steps below the nesting cap
        # The run view's search (`/`): the query and its matching steps, (id, ord, size) in execution order.
        self.search_query: str | None = None
        self.match_positions: list[FailedPosition] = []
        self._match_numbers: dict[str, int] = {}  # step id -> its place among the matches (1-based)

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
        if isinstance(node.data, Step) and node.data.id in self._match_numbers:
            label.stylize("bold")
            mark_found(label, self.search_query)
        label.stylize(style)
        return Text.assemble(prefix, label)

    def match_number(self, step_id: str | None) -> int | None:
        """Which match (1-based, in execution order) a step is; None: not a match."""
        return self._match_numbers.get(step_id) if step_id is not None else None

    def set_matches(self, query: str | None, positions: list[FailedPosition]) -> None:
        """Mark the steps a search found (their rows bold, the query highlighted); None: no search."""
        self.search_query = query
        self.match_positions = positions if query else []
        self._match_numbers = {p[0]: number for number, p in enumerate(self.match_positions, 1)}
        self.surgery.invalidate()
        self.refresh()

    def row_text(self, node: TreeNode[object], width: int | None = None) -> Text:
        """The row of a node without guides and expand icon (tests read it too)."""
        if width is None:
            width = self.get_label_width(node) - 2
        columns = Columns.fitting(self.content_width)
        if width - columns.width < MIN_LABEL // 2:  # nested so deep that the columns leave no room for the name
            columns = Columns.fitting(width)
        data = node.data
        if isinstance(data, Step):
            return step_label(data, width, columns, self.scale)
        if isinstance(data, Gap):
            what = "loading…" if self.lazy.is_reading(data) else "Enter or move here to load"
            noun = "step" if data.count == 1 else "steps"
            text = Text(f"… {data.count:,} more {noun} ({what})", "dim italic")
        elif isinstance(data, NoSteps):
            text = Text("this run has no steps", "dim italic")
        elif isinstance(data, DeepNote):
            text = Text(
                f"steps nested deeper than {MAX_NESTING} levels: listed here flat, in execution order,"
                " each with its depth",
                "dim italic",
            )
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
        try:
            store = self.connect()
        except Exception as exc:  # a database that cannot be reached: said, and the app reconnects
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}", exc)
            return
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
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}", exc)
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._populate, run, positions, steps, root_count)

    def reload(self) -> None:
        """Read the run again (after a connection to its database was restored)."""
        if self.run is None:
            self._load()

    def _failed(self, error: str, exc: Exception | None = None) -> None:
        if isinstance(exc, Unavailable):
            error = exc.problem  # a database's own words: what tracetui was doing and why it failed
            if exc.lost:
                self.post_message(SourceLost(exc.problem))
        self.post_message(StepTreeLoadFailed(error))

    def _populate(
        self,
        run: Run,
        positions: list[FailedPosition],
        steps: list[Step],
        root_count: int | None,
        keep: Kept | None = None,
    ) -> None:
        """Show what _load read: every step (root_count None) or the root's first page of root_count.
        `keep`: the tree grew (a live source): what was expanded, collapsed and under the cursor stays so."""
        before = {p[0] for p in self.failed_positions}
        self.run = run
        self.failed_positions = positions
        self.fully_loaded = root_count is None
        self.scale = TimeScale.of_run(run, steps)
        self._reset_nodes()
        root = self.root
        if root_count is None:
            self._add_all(steps)
            if keep is None:
                self.expanded_all = True
        else:
            self._splice(root, 0, 0, first_page(None, steps, root_count))
        if not root.children:
            self._new_node(root, NoSteps(), 0)
        self.surgery.set_expanded(root, True)
        if keep is not None:
            self._restore(keep)
            new = [p[0] for p in positions if p[0] not in before]
            self.post_message(StepTreeReady(run, grown=True, new_failures=new))
            return
        self.surgery.invalidate()
        self.move_cursor(root)
        self.post_message(StepTreeReady(run))
        self.post_message(self.NodeHighlighted(root))

    # -- growing while a live source adds steps ---------------------------------------------------
    def grow(self) -> None:
        """The store changed (tracetui serve): read the run again and, if it changed, show it grown."""
        if self.run is None or self._growing or self._rebuilding:
            self._grow_again = self.run is not None
            return
        self._growing = True
        self._read_grown(self.run)

    @work(thread=True, group="step-tree-grow", exit_on_error=False)
    def _read_grown(self, shown: Run) -> None:
        worker = get_current_worker()
        found: Read | None = None
        try:
            store = self.connect()
            try:
                run = store.get_run(self.run_id)
                if _looks(run) != _looks(shown):
                    positions = store.failed_step_positions(self.run_id)
                    root_count: int | None = None
                    if run.step_count is not None and run.step_count <= FULL_LOAD_LIMIT:
                        steps = store.steps(self.run_id)
                    else:
                        steps = store.children(self.run_id, None, limit=PAGE)
                        root_count = store.count_children(self.run_id, None)
                    found = (run, positions, with_eval_extras(store, self.run_id, steps), root_count)
            finally:
                store.close()
        except Exception:
            found = None  # the next change reads it again
        if not worker.is_cancelled:
            self.app.call_from_thread(self._grown, found)

    def _grown(self, found: Read | None) -> None:
        self._growing = False
        if found is not None and not self._rebuilding:
            run, positions, steps, root_count = found
            self._populate(run, positions, steps, root_count, keep=self._kept())
        if self._grow_again:
            self._grow_again = False
            self.grow()

    def _kept(self) -> Kept:
        cursor = self.cursor_node
        step = cursor.data if cursor is not None and isinstance(cursor.data, Step) else None
        expanded: set[str] = set()
        collapsed: set[str] = set()
        for step_id, node in self.nodes.items():
            if node.allow_expand:
                (expanded if node.is_expanded else collapsed).add(step_id)
        row = self.cursor_line - round(self.scroll_offset.y) if cursor is not None else 0
        return Kept(step.id if step else None, row, frozenset(expanded), frozenset(collapsed))

    def _restore(self, keep: Kept) -> None:
        nodes = self.nodes
        if self.fully_loaded:  # every node came expanded: collapse again what was collapsed
            for step_id in keep.collapsed:
                node = nodes.get(step_id)
                if node is not None:
                    self.surgery.set_expanded(node, False)
        else:  # the top level came collapsed: expand again what was expanded (reading its children)
            for node in list(self.root.children):
                if isinstance(node.data, Step) and node.data.id in keep.expanded and node.allow_expand:
                    node.expand()
        self.surgery.invalidate()
        target = nodes.get(keep.cursor) if keep.cursor is not None else None
        if target is not None:
            self.call_after_refresh(self._keep_row, target, keep.row)
        elif keep.cursor is not None:
            self.call_after_refresh(self.reveal_step, keep.cursor)
        else:
            self.call_after_refresh(self.move_cursor, self.root)

    def _keep_row(self, node: TreeNode[object], row: int) -> None:
        """The cursor on `node`, on the same screen row as before the tree grew (rows above it may be new)."""
        self.move_cursor(node)
        self.scroll_to(y=max(0, node.line - row), animate=False)

    def reveal_step(self, step_id: str) -> None:
        """Put the cursor on a step that is not in the tree yet (StepTree reads its ancestors first)."""
        self.move_cursor(self.root)

    def _reset_nodes(self) -> None:
        self.surgery.clear()
        self.lazy.clear()
        self._at_cap = None

    def _new_node(self, parent: TreeNode[object], data: object, index: int, *, expanded: bool = False) -> TreeNode:
        node = self.surgery.insert(parent, index, data, expanded=expanded)
        node.allow_expand = isinstance(data, Step) and expandable(data)
        self.lazy.add(data, node)
        if isinstance(data, Step) and at_cap(data):
            self._new_node(node, DeepNote(), 0)
        return node

    def _add_all(self, steps: Iterable[Step]) -> None:
        """Steps in execution order (parents before children), every node expanded.

        A step below the nesting cap goes under the last step added at the cap: its ancestor there."""
        root, nodes = self.root, self.nodes
        for step in steps:
            if flat(step) and self._at_cap is not None:
                parent = self._at_cap
            else:
                parent = nodes.get(step.parent_id, root) if step.parent_id else root
            node = self._new_node(parent, step, len(parent.children), expanded=True)
            if at_cap(step):
                self._at_cap = node

    def _splice(self, parent: TreeNode[object], index: int, remove: int, items: Sequence[Step | Gap]) -> None:
        """Replace `remove` children of parent at index with items (steps get their placeholder gap)."""
        for old in self.surgery.remove(parent, index, remove):
            self.lazy.forget(old.data)
        for offset, data in enumerate(items):
            node = self._new_node(parent, data, index + offset)
            gap = placeholder(data) if isinstance(data, Step) else None
            if gap is not None:
                self._new_node(node, gap, len(node.children))

    # -- gaps -------------------------------------------------------------------------------------
    def load_gap(self, gap_node: TreeNode[object]) -> None:
        gap = gap_node.data
        if not isinstance(gap, Gap) or self._rebuilding or not self.lazy.start_reading(gap):
            return
        self.surgery.repaint(gap_node)
        self._read_gap(gap)

    @work(thread=True, group="step-tree-gaps", exit_on_error=False)
    def _read_gap(self, gap: Gap) -> None:
        try:
            store = self.connect()
            try:
                steps = read_gap(store, self.run_id, gap)
            finally:
                store.close()
        except TraceError as exc:  # the gap stays, and is read again when the cursor comes back to it
            self.app.call_from_thread(self._gap_failed, gap, exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill_gap, gap, gap.start, steps)

    def _gap_failed(self, gap: Gap, exc: TraceError) -> None:
        self.lazy.done_reading(gap)
        gap_node = self.lazy.gap_node(gap)
        if gap_node is not None:
            self.surgery.repaint(gap_node)
        if isinstance(exc, Unavailable) and exc.lost:
            self.post_message(SourceLost(exc.problem))

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
        children = [child for child in event.node.children if not isinstance(child.data, DeepNote)]
        if len(children) == 1 and isinstance(children[0].data, Gap):
            self.load_gap(children[0])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self._follow_sideways(event.node)
        if isinstance(event.node.data, Gap):
            self.load_gap(event.node)

    def _follow_sideways(self, node: TreeNode[object]) -> None:
        """Rows nested deep start right of the pane: scroll sideways so the cursor row's text shows."""
        indent = self._level(node) * self.guide_depth
        width = self.scrollable_content_region.width
        x = round(self.scroll_offset.x)
        if indent < x or indent + MIN_LABEL > x + width:
            self.scroll_to(x=max(0, indent - width // 3), animate=False)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        # Textual keeps the cursor on a now hidden row's stale line number; put it on the collapsed node.
        cursor = self.cursor_node
        parent = cursor.parent if cursor is not None else None
        while parent is not None:
            if parent is event.node:
                self.call_after_refresh(self._land, event.node)
                break
            parent = parent.parent


__all__ = ["FULL_LOAD_LIMIT", "PAGE", "Gap", "LazyStepTree", "NoSteps"]
