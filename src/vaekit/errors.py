"""The one exception type a user is meant to see."""


class VaekitError(Exception):
    """Bad input from the user: the message is one line, ``what is wrong; how to fix it``.

    The CLI prints it as ``vaekit: error: <message>`` and exits with status 2.
    """
