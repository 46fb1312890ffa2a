"""Errors the core raises for the CLI and the viewer to report (never as tracebacks)."""


class TraceError(Exception):
    exit_code = 2


class UnusableInput(TraceError):
    """The input cannot be read as traces at all: missing, a directory, empty, corrupt, not a trace."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class NotFound(TraceError):
    """A run or step id that is not in the store."""

    exit_code = 1


class Unavailable(TraceError):
    """A database that cannot be asked right now: the server is down or refused us, the connection
    dropped, or a statement took longer than the timeout. Exit 2 like unusable input; the viewer
    says what it was doing and offers to try again (`lost`: the connection is gone, so reconnecting
    may help; otherwise the same question would fail the same way)."""

    def __init__(self, label: str, problem: str, *, lost: bool = False):
        super().__init__(f"{label}: {problem}")
        self.label = label
        self.problem = problem
        self.lost = lost


# What a command ends on with one line on stderr and an exit code, never a traceback (cli.exit_for).
HANDLED = (TraceError, KeyboardInterrupt, BrokenPipeError)
