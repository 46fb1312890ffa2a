"""(being written)"""
NAME = "openai-agents"
DESCRIPTION = "(being written)"
DETECTION = "(being written)"


def sniff(head):
    return False


def read(path, report, source):
    return iter(())
