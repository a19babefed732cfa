"""The one error type users see, rendered the way compilers render errors."""

from __future__ import annotations


class NtkError(ValueError):
    """An error in a ``.ntk`` source or in the data given to a kernel.

    ``str(err)`` is ``FILE:LINE:COL: error: MESSAGE`` followed, when the source
    is known, by the offending line and a caret under the column.
    """

    def __init__(self, message: str, filename: str = "<string>", line: int | None = None,
                 column: int | None = None, source: str | None = None):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        return _render("error", self.message, self.filename, self.line, self.column, self.source)


class NtkWarning(UserWarning):
    """A kernel that is right but may not mean what the source suggests,
    rendered as ``FILE:LINE:COL: warning: MESSAGE`` with the line and a caret."""

    def __init__(self, message: str, filename: str = "<string>", line: int | None = None,
                 column: int | None = None, source: str | None = None):
        self.message = message
        super().__init__(_render("warning", message, filename, line, column, source))


def _render(kind, message, filename, line, column, source) -> str:
    if line is None:
        return f"{filename}: {kind}: {message}"
    head = f"{filename}:{line}:{column}: {kind}: {message}"
    text = _source_line(source, line)
    if text is None:
        return head
    # Tabs are expanded to spaces so the caret lands under the column.
    shown = text.expandtabs(4)
    caret_at = len(text[: max(column - 1, 0)].expandtabs(4))
    return f"{head}\n    {shown}\n    {' ' * caret_at}^"


def _source_line(source: str | None, line: int) -> str | None:
    if not source:
        return None
    # Split on "\n" only, as the parser counts lines (str.splitlines would
    # also split on \r, \f, \x1c, U+2028 ... and show the wrong line).
    lines = source.split("\n")
    if 1 <= line <= len(lines):
        text = lines[line - 1].rstrip("\r")
        # Control characters would garble a terminal; one '?' each keeps the caret aligned.
        return "".join(c if c == "\t" or c.isprintable() else "?" for c in text)
    return None


class At:
    """Raises positioned errors for one source file."""

    def __init__(self, filename: str, source: str):
        self.filename = filename
        self.source = source

    def error(self, pos, message: str) -> NtkError:
        line, column = pos if pos is not None else (None, None)
        return NtkError(message, self.filename, line, column, self.source)

    def warn(self, pos, message: str):
        import warnings
        line, column = pos if pos is not None else (None, None)
        warnings.warn(NtkWarning(message, self.filename, line, column, self.source), stacklevel=2)


def float64_unavailable(what: str):
    """Warn that float64 ``what`` is computed in float32 because JAX's x64 is
    off (JAX's own convention, which a kernel follows; the warning says how to
    get float64, since the output dtype alone is easy to miss). Once per call
    site, by Python's default warning filter."""
    import warnings
    warnings.warn(f"{what} is float64 but JAX's x64 is off, so the kernel is computed in "
                  f"float32; for float64 call jax.config.update('jax_enable_x64', True) "
                  f"before computing", UserWarning, stacklevel=4)

