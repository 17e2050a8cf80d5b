"""The error contract of every command: the user's mistakes in one line, everyone else's with a traceback.

Library code raises `UserError` (or a subclass) for anything the user can
fix: a bad flag value, a missing or malformed file, a model directory made
by another configuration. Every command runs its main through `run`, which
prints those as `error: <message>` and exits 1. TensorFlow errors that users
cause (a corrupt file, memory exhausted) get one line saying what to do,
then the original error. Anything else is a bug, here or upstream, and
keeps its full traceback for the report.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from absl import app


class UserError(ValueError):
    """Input the user can fix; the message is one line naming the flag, file or trace.

    A ValueError, so library callers that catch bad values keep working.
    """


def _explanation(error: BaseException) -> str | None:
    """What to do about a TensorFlow error that users cause; None for any other error."""
    tf = sys.modules.get("tensorflow")  # an error cannot be TensorFlow's if TensorFlow is not loaded
    if tf is None or not isinstance(error, tf.errors.OpError):
        return None
    if isinstance(error, tf.errors.DataLossError):
        return "a file is corrupt or truncated; find a bad shard with python -m techtonics.convert --verify"
    if isinstance(error, tf.errors.ResourceExhaustedError):
        return "out of memory; lower --batch_size or --shuffle_buffer (--cache=memory holds a whole split)"
    if isinstance(error, tf.errors.PermissionDeniedError | tf.errors.UnauthenticatedError):
        return "access denied; check the credentials for this path (WORKSPACE.md, storage)"
    return None


def run(main: Callable[[list[str]], int | None], arguments: bool = False) -> None:
    """absl's app.run(main) under the contract above; exits with main's return value.

    arguments: main takes positional arguments (argv[1:]); otherwise any
    positional argument is refused as a usage error.
    """

    def guarded(argv: list[str]) -> int | None:
        if not arguments and len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            return main(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except Exception as e:
            explanation = _explanation(e)
            if explanation is None:
                raise
            print(f"error: {explanation}\n{type(e).__name__}: {e.message}", file=sys.stderr)
            return 1

    app.run(guarded)
