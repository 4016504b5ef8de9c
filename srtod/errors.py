"""Errors meant for the user: the CLI prints them without a traceback."""


class SRTODError(Exception):
    """Base class of user-facing errors. The message says what was wrong and what was expected."""


class InputError(SRTODError):
    """Bad input: a file, a value or an identifier that is not what was expected.

    Args:
        message: what was wrong and what was expected.
        path: the file the error is about, if any; it is named in the message.
        line: the 1-based line in that file, if any.
    """

    def __init__(self, message: str, path=None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ''
        if self.path is not None:
            where = self.path + (f':{line}' if line is not None else '') + ': '
        super().__init__(where + message)
