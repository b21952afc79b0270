"""The one exception type a user is meant to see."""

import contextlib


class VaekitError(Exception):
    """Bad input from the user: the message is one line, ``what is wrong; how to fix it``.

    The CLI prints it as ``vaekit: error: <message>`` and exits with status 2.
    """


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception from a library (numpy, torch, zipfile), for a one-line message;
    its type's name where it says nothing."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]


# words that follow an option's name in a message where no value does ("--label needs a cvae")
_NOT_VALUES = {"and", "applies", "are", "as", "aside", "does", "for", "gives", "has", "in", "is", "may", "must",
               "needs", "of", "on", "only", "or", "seeds", "takes", "to", "was", "with"}


def python_spelling(message: str) -> str:
    """A message for Python callers, naming arguments as they are passed there: "--latent-dim 0 must be
    ...; try --latent-dim 16" -> "latent_dim=0 must be ...; try latent_dim=16", "drop --sample" -> "drop
    sample". Commands in backticks stay as they are typed in a shell."""
    import re

    def option(match: re.Match) -> str:
        name, value = match[1].replace("-", "_"), match[2]
        return f"{name} {value}" if value.rstrip(");,.") in _NOT_VALUES else f"{name}={value}"

    parts = re.split(r"(`[^`]*`)", message)
    for i in range(0, len(parts), 2):  # the text outside backticks
        text = re.sub(r"(?<![\w-])-n (\S+)", r"n=\1", parts[i])  # `vaekit generate -n`, generate(n=...)
        text = re.sub(r"--([a-z][a-z-]*) (?!--)(\S+)", option, text)
        parts[i] = re.sub(r"--([a-z][a-z-]*)", lambda m: m[1].replace("-", "_"), text)
    return "".join(parts)


@contextlib.contextmanager
def python_spelled(on: bool = True):
    """Re-raise the block's VaekitError in ``python_spelling`` (where ``on``)."""
    try:
        yield
    except VaekitError as e:
        if not on:
            raise
        raise VaekitError(python_spelling(str(e))) from None
