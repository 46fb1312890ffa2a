"""tracetui: a terminal viewer for AI-agent execution traces."""

__version__ = "0.1.0"
