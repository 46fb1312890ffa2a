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
