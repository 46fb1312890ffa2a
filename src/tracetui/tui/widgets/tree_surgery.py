"""The private Textual `Tree` internals StepTree needs, behind one small class.

Checked on Textual 8.2.8 (pinned in pyproject.toml). On a Textual upgrade, re-read this class
against textual/widgets/_tree.py (Tree._add_node, _tree_nodes, _invalidate, _refresh_node;
TreeNode._children, _expanded, _updates; TOGGLE_STYLE) and run tests/tui/test_run_screen.py.
Everything else StepTree does goes through the public Tree/TreeNode API.

Why private at all: Tree.add() rebuilds the list of visible lines on every call (~12 µs a row:
50k rows take 0.6 s), and expand()/collapse() post a message for every node. StepTree adds
thousands of nodes at once and expands whole subtrees, so it puts nodes into the child lists
directly and rebuilds the lines once per batch (`invalidate`).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from rich.text import Text
from textual.widgets import Tree
from textual.widgets._tree import TOGGLE_STYLE
from textual.widgets.tree import TreeNode

T = TypeVar("T")

_NO_LABEL = Text()  # StepTree draws every label from the node's data (render_label)


class TreeSurgery(Generic[T]):
    """Adds, removes, expands and collapses nodes of one Tree without the per-call rebuilds."""

    def __init__(self, tree: Tree[T]) -> None:
        self._tree = tree

    def clear(self) -> None:
        """Remove every node but the root (Tree.clear() alone keeps the old nodes in its id index)."""
        tree = self._tree
        tree._tree_nodes.clear()
        tree.clear()
        tree._tree_nodes[tree.root.id] = tree.root

    def insert(self, parent: TreeNode[T], index: int, data: T, *, expanded: bool = False) -> TreeNode[T]:
        """A new child of `parent` at `index`; on screen after the next `invalidate()`."""
        node = self._tree._add_node(parent, _NO_LABEL, data, expand=expanded)
        parent._children.insert(index, node)
        return node

    def remove(self, parent: TreeNode[T], index: int, count: int) -> list[TreeNode[T]]:
        """Take `count` children of `parent` out, from `index` on; returns them and all their descendants."""
        stack = parent._children[index : index + count]
        del parent._children[index : index + count]
        removed = []
        while stack:
            node = stack.pop()
            removed.append(node)
            self._tree._tree_nodes.pop(node.id, None)
            stack.extend(node._children)
        return removed

    def set_expanded(self, node: TreeNode[T], expanded: bool) -> bool:
        """Expand or collapse without posting NodeExpanded/NodeCollapsed; True if it changed."""
        if node._expanded == expanded:
            return False
        node._expanded = expanded
        node._updates += 1  # the tree's line cache keys on it
        return True

    def invalidate(self) -> None:
        """Rebuild the visible lines (after a batch of changes)."""
        self._tree._invalidate()

    def repaint(self, node: TreeNode[T]) -> None:
        """Redraw the lines of a node whose label changed."""
        node._updates += 1  # else the line cache hands back the old label
        self._tree._refresh_node(node)


__all__ = ["TOGGLE_STYLE", "TreeSurgery"]
