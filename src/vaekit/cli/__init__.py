"""The ``vaekit`` command: thin wrappers that parse, build a config, call the library and print.

Only click is imported here; each command imports torch and the library when it runs, so
``vaekit --help`` answers instantly. Bad input ends as one line ``vaekit: error: ...``, exit 2.
"""

from __future__ import annotations

import errno
import logging
import signal
import sys
import threading

import click

from ..errors import VaekitError

NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2; 8.1 prints the help itself


# how torch says an allocation failed (CPU, CUDA), without importing torch here
OUT_OF_MEMORY = ("not enough memory", "can't allocate memory", "out of memory")


def fail(message: str, code: int = 2):
    click.echo(f"vaekit: error: {message}", err=True)
    sys.exit(code)


class _Warnings(logging.Handler):
    """The library's logged warnings as ``vaekit: warning: ...`` lines on stderr, like the CLI's own."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"vaekit: warning: {record.getMessage()}", err=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a cluster scheduler's pre-emption): stop as cleanly as on Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


class Group(click.Group):
    """A click group whose every error is one line on stderr, exit status 2."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        log = logging.getLogger("vaekit")
        if not any(isinstance(h, _Warnings) for h in log.handlers):
            log.addHandler(_Warnings(logging.WARNING))  # Python's last-resort handler then stays quiet
        main_thread = threading.current_thread() is threading.main_thread()  # signals can only be caught there
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        try:
            code = super().main(args, prog_name or "vaekit", standalone_mode=False, **extra)
        except VaekitError as e:
            fail(str(e))
        except NO_ARGS as e:  # a bare `vaekit`: its help, as --help gives it, not as an error message
            click.echo(e.ctx.get_help(), err=True)
            sys.exit(2)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx else "vaekit"
            fail(f"{e.format_message()} (see `{command} --help`)")
        except click.ClickException as e:
            fail(e.format_message())
        except (click.Abort, KeyboardInterrupt) as e:
            _interrupted(e)
        except OSError as e:  # what the library did not turn into advice of its own: a file it could not write or read
            where = f"{e.filename}: " if e.filename else ""
            fix = ("free some space there, or pick another place" if e.errno in (errno.ENOSPC, errno.EDQUOT)
                   else "check the path and its permissions, or pick another place")
            fail(f"{where}{e.strerror or e}; {fix}")
        except (MemoryError, RuntimeError) as e:  # numpy's and torch's failed allocations (after Abort, a RuntimeError too)
            if isinstance(e.__context__, KeyboardInterrupt):  # torch code that failed on its way out of a Ctrl-C
                _interrupted(e.__context__)
            if not isinstance(e, MemoryError) and not any(s in str(e) for s in OUT_OF_MEMORY):
                raise
            fail("out of memory; ask for less (a smaller --batch-size, -n, --steps, --hidden, --latent-dim or "
                 "--image-size) or use a machine with more memory")
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code if isinstance(code, int) else 0)


def _interrupted(e: BaseException) -> None:
    """Say so and exit 130 (Ctrl-C) or 143 (SIGTERM), as a shell reports a process a signal stopped."""
    click.echo("vaekit: interrupted", err=True)
    terminated = isinstance(e, Terminated) or isinstance(e.__cause__, Terminated)  # click wraps it in Abort
    sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="vaekit", prog_name="vaekit")
def cli():
    """Train, evaluate and use autoencoders (AE, DAE, VAE) on real data.

    Start with `vaekit train` (a VAE on the embedded digits set), then use the run folder it
    writes with the other commands.
    """


def main(argv=None):
    """The `vaekit` program: the process ends when this returns."""
    try:
        cli.main(argv)
    finally:  # a second Ctrl-C would interrupt the exit itself (torch's atexit hooks) with a traceback
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


from . import evaluate, train, use  # noqa: E402,F401  (importing registers the commands)
