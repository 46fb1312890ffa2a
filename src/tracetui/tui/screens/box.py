"""A box in the middle of the screen with a scrolling part filling it: the help and problems screens."""

from __future__ import annotations


def box_css(screen: str, box: str, filling: str) -> str:
    """The rules of such a screen, for its Screen.CSS: parsed when the screen is first shown, not with
    the run list's stylesheet before the first rows (issue 15)."""
    return f"""
    {screen} {{
        align: center middle;
    }}

    #{box} {{
        width: 90%;
        max-width: 120;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }}

    #{filling} {{
        height: 1fr;
    }}
    """
