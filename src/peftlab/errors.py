"""One exception type for every bad input.

The CLI turns a `UsageError` into a single line on stderr and exit code 2, so every check in the
library raises it with a message that names the problem *and* the fix. Anything else is a bug and
keeps its traceback.
"""


class UsageError(Exception):
    """Bad user input: unknown name, missing file or field, out-of-range value."""
