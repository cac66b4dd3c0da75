"""The one exception type the stack raises, so callers can show it without a traceback."""


class StackError(RuntimeError):
    """A stack operation failed; the message says what to do about it."""
