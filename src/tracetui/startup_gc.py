"""No garbage collections while the viewer starts (issue 15).

Starting the viewer makes some 50,000 objects that live as long as the process (modules, classes,
Textual's styles and widgets), and Python's collector walks them again and again while they pile up:
about 40 ms of CPU before the first rows are on screen, against 17 ms in a minimal Textual app.
`pause()` (before Textual is imported) stops collections until `resume()` (once the first rows are
drawn, or the viewer ends): that collects once, freezes what survived (gc.freeze: later collections
skip it; it is start-up state, not garbage) and lets the collector run as usual from then on.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """No collections until resume() (objects without cycles are still freed at once)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Collect what start-up left, freeze the rest, collect as usual again; nothing if pause() did not stop it."""
    global _paused
    if _paused:
        _paused = False
        gc.collect()
        gc.freeze()
        gc.enable()
