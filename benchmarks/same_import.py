"""Check that two tracetui trees import the same files into the same rows (speed work must not change a value).

    .venv/bin/python benchmarks/same_import.py BEFORE_SRC [AFTER_SRC] [PATH ...]

BEFORE_SRC and AFTER_SRC are directories holding a `tracetui` package (say `git archive main src | tar -x
-C /tmp/before`, then /tmp/before/src; AFTER_SRC defaults to this checkout's src). Every PATH (default:
every file under tests/fixtures and sample_traces, and each folder of tests/fixtures/agents) is imported
with each tree by `tracetui import PATH -o STORE`, serially (TRACETUI_WORKERS=1) and with two workers and
tiny blocks (so the parallel path runs on small files too), and every row of the stores' runs, steps,
problems and files tables is compared. Prints the differences and exits 1 if there are any.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLES = {
    "runs": "id",
    "steps": "run_id, ord",
    "problems": "n",
    "files": "path",
}
MODES = {"serial": {"TRACETUI_WORKERS": "1"}}
PARALLEL = {"TRACETUI_WORKERS": "2", "TRACETUI_PARALLEL_MIN_BYTES": "1", "TRACETUI_PARALLEL_BLOCK_BYTES": "2000"}


def default_paths() -> list[str]:
    out = []
    for top in ("tests/fixtures", "sample_traces"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            out += [os.path.join(folder, f) for f in sorted(files) if not f.endswith((".py", ".md"))]
    agents = os.path.join(ROOT, "tests/fixtures/agents")
    out += [os.path.join(agents, d) for d in sorted(os.listdir(agents)) if os.path.isdir(os.path.join(agents, d))]
    return sorted(out)


def rows(store: str) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(store)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        out = {}
        for table, order in TABLES.items():
            if table in have:
                found = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                # A path or a time of the import itself is not a value read from the file.
                out[table] = [
                    tuple(v for v in row if not (isinstance(v, str) and "tracetui-same-" in v)) for row in found
                ]
        return out
    finally:
        conn.close()


def imported(src: str, path: str, env: dict[str, str]) -> tuple[int, str, dict[str, list[tuple]]]:
    with tempfile.TemporaryDirectory(prefix="tracetui-same-") as tmp:
        store = os.path.join(tmp, "store.db")
        full = {**os.environ, **env, "PYTHONPATH": src, "XDG_CACHE_HOME": os.path.join(tmp, "cache")}
        proc = subprocess.run(
            [sys.executable, "-m", "tracetui", "import", path, "-o", store], env=full, capture_output=True, text=True
        )
        return proc.returncode, proc.stderr, rows(store) if os.path.exists(store) else {}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    before = os.path.abspath(argv[0])
    after = os.path.abspath(argv[1]) if len(argv) > 1 and os.path.isdir(os.path.join(argv[1], "tracetui")) else None
    paths = argv[2 if after else 1 :] or default_paths()
    after = after or os.path.join(ROOT, "src")
    differ = 0
    for path in paths:
        for mode, env in {**MODES, "parallel": PARALLEL}.items():
            a, b = imported(before, path, env), imported(after, path, env)
            if a == b:
                continue
            differ += 1
            print(f"DIFFERS: {os.path.relpath(path, ROOT)} ({mode})")
            if a[:2] != b[:2]:
                print(f"  exit/stderr: {a[:2]!r} vs {b[:2]!r}")
            for table in sorted(set(a[2]) | set(b[2])):
                ra, rb = a[2].get(table, []), b[2].get(table, [])
                if ra != rb:
                    print(f"  {table}: {len(ra)} vs {len(rb)} rows")
                    for x, y in zip(ra, rb, strict=False):
                        if x != y:
                            print(f"    first difference:\n      {x!r}\n      {y!r}")
                            break
        print(f"{os.path.relpath(path, ROOT)}: checked", flush=True)
    print(f"{len(paths)} inputs, {differ} differing imports")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
