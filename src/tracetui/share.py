"""A run, or one step and the steps under it, as a document to share: Markdown (run_markdown.py) or
JSON (run_json.py). `tracetui show --format markdown|json` prints it; the viewer copies it (`Y`) or
writes it to a new file (`x`) named by new_file, which never overwrites anything.
"""

from __future__ import annotations

import os
import re

from . import display
from .analysis import first_failed_step
from .model import Run, Step, preorder
from .store.protocol import TraceStore

FORMATS = {"markdown": ".md", "json": ".json"}  # a document format and its file name extension
LABELS = {"markdown": "Markdown", "json": "JSON"}


def read(
    store: TraceStore, run_id: str, step_id: str | None = None, *, payloads: bool = True
) -> tuple[Run, Step | None]:
    """The run with its steps linked, or (step_id) the run alone and that step with what is under it."""
    if step_id is None:
        return store.run_tree(run_id, payloads=payloads), None
    return store.get_run(run_id), store.subtree(run_id, step_id, payloads=payloads)


def roots(run: Run, top: Step | None) -> list[Step]:
    return [s for s in run.steps if s.parent_id is None] if top is None else [top]


def first_failure(run: Run, top: Step | None) -> Step | None:
    return first_failed_step(run.steps if top is None else list(preorder([top])))


def document(
    store: TraceStore,
    run_id: str,
    step_id: str | None = None,
    *,
    fmt: str = "markdown",
    max_payload: int = display.PAYLOAD_PREVIEW,
) -> str:
    """The run (or the subtree under step_id) as `fmt`, one of FORMATS. NotFound for an unknown run or step."""
    run, top = read(store, run_id, step_id)
    models = store.models([run.id]).get(run.id, [])
    if fmt == "markdown":
        from .run_markdown import run_markdown

        return run_markdown(run, top=top, models=models, max_payload=max_payload)
    from .run_json import run_json

    return run_json(run, roots(run, top), models=models, first_failed=first_failure(run, top), subtree=top is not None)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
NAME_PART = 40  # characters of an id kept in a file name


def file_stem(run_id: str, step_id: str | None = None) -> str:
    """A file name without extension that names the run (and step), made of letters, digits, `._-`
    only and never starting with a dot: "tracetui-run-0011-support-timeout-track-shipment"."""
    parts = ["tracetui"]
    for value in (run_id, step_id):
        if value is not None:
            part = _UNSAFE_NAME.sub("_", value).strip("._-")[:NAME_PART].rstrip("._-")
            parts.append(part or "_")
    return "-".join(parts)


def new_file(directory: str, stem: str, ext: str, text: str) -> str:
    """Write `text` to a file that did not exist: stem.ext, else stem-2.ext, stem-3.ext…; its path.

    Exclusive creation ("x"), so a file appearing meanwhile is never overwritten either."""
    for n in range(1, 10_000):
        path = os.path.join(directory, f"{stem}{'' if n == 1 else f'-{n}'}{ext}")
        try:
            with open(path, "x", encoding="utf-8", errors="replace") as f:
                f.write(text)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{os.path.join(directory, stem + ext)}: and 9,999 numbered names taken")
