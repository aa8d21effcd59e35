"""User-facing errors: the command line prints them as one line and exits with code 2."""


class ChaosbenchError(Exception):
    """A problem with the user's input (config, name, file, shape), not a bug in chaosbench."""


class UnknownNameError(ChaosbenchError, KeyError):
    """A name that no registry knows; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class IntegrityError(ChaosbenchError):
    """A file whose content does not match its recorded sha256 (corrupt or tampered)."""


def first_line(err: BaseException | str) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
