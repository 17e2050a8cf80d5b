"""The error contract of every command: the user's mistakes in one line, everyone else's with a traceback.

Library code raises `UserError` (or a subclass) for anything the user can
fix: a bad flag value, a missing or malformed file, a model directory made
by another configuration. Every command runs its main through `run`, which
prints those as `error: <message>` and exits 1 (or the error's exit_code).
TensorFlow errors that users cause (a corrupt file, memory exhausted) get
one line saying what to do, then the original error. Anything else is a bug, here or upstream, and
keeps its full traceback for the report.
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable

from absl import app, flags

NO_SPACE = "no space left on the device; free space and run the same command again to resume"


class UserError(ValueError):
    """Input the user can fix; the message is one line naming the flag, file or trace.

    A ValueError, so library callers that catch bad values keep working.
    """

    exit_code = 1  # what the command returns


class Terminated(BaseException):
    """The command was stopped by SIGTERM (a scheduler's preemption or time limit, `kill`).

    Not an Exception, as KeyboardInterrupt is not: code that catches Exception on the way must not swallow
    it (AutoGraph, converting the input pipeline's functions at start-up, did, and the run went on).
    """

    exit_code = 128 + signal.SIGTERM  # what a process killed by SIGTERM returns; schedulers requeue on it


def _terminated(signum, frame):
    raise Terminated("stopped by SIGTERM; run the same command again to resume")


def _explanation(error: BaseException) -> str | None:
    """What to do about a full disk, an output path taken by a file or folder, or a TensorFlow error that
    users cause; None for any other error."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return f"{error.filename + ': ' if error.filename else ''}{NO_SPACE}"
    if isinstance(error, OSError) and error.errno in (errno.EISDIR, errno.ENOTDIR, errno.EEXIST):
        # A file where an output folder goes, or a folder where an output file goes.
        where = error.filename or "an output path"
        return f"{where}: {error.strerror.lower()}; move it away or give another output directory"
    tf = sys.modules.get("tensorflow")  # an error cannot be TensorFlow's if TensorFlow is not loaded
    if tf is None or not isinstance(error, tf.errors.OpError):
        return None
    unknown_scheme = re.search(r"File system scheme '([^']*)' not implemented", str(error))
    if isinstance(error, tf.errors.UnimplementedError) and unknown_scheme:
        from techtonics.core import fileio  # which imports this module

        return fileio.no_file_system(unknown_scheme[1])
    if isinstance(error, tf.errors.DataLossError):
        return "a file is corrupt or truncated; find a bad shard with python -m techtonics.convert --verify"
    if isinstance(error, tf.errors.ResourceExhaustedError):
        if "space left" in str(error):  # a full disk reaches TensorFlow's writers as the same error class
            return NO_SPACE
        return "out of memory; lower --batch_size or --shuffle_buffer (--cache=memory holds a whole split)"
    if isinstance(error, tf.errors.PermissionDeniedError | tf.errors.UnauthenticatedError):
        return "access denied; check the credentials for this path (docs/storage.md)"
    return None


def _exit(code: int | None) -> int | None:
    """Ends a process that loaded tensorflow-io without C++ static destruction; returns code otherwise.

    tensorflow-io 0.37.1's S3 file system leaves the AWS SDK's log system to
    be destroyed at exit after its code, which aborts the process ("pure
    virtual method called", status 134) once S3 was used (tensorflow/io#1912,
    #2039; fixed upstream after the last release). Python's own exit work
    (atexit handlers, flushing) runs first.
    """
    if "tensorflow_io" not in sys.modules:
        return code
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def run(main: Callable[[list[str]], int | None], arguments: bool = False) -> None:
    """absl's app.run(main) under the contract above; exits with main's return value.

    arguments: main takes positional arguments (argv[1:]); otherwise any
    positional argument is refused as a usage error.
    """

    def guarded(argv: list[str]) -> int | None:
        if not arguments and len(argv) > 1:
            print(f"error: unexpected arguments: {' '.join(argv[1:])} (see --help)", file=sys.stderr)
            return 1
        try:
            code = main(argv)
        except (UserError, Terminated) as e:
            print(f"error: {e}", file=sys.stderr)
            code = e.exit_code
        except KeyboardInterrupt:
            print("error: interrupted; run the same command again to resume", file=sys.stderr)
            code = 130
        except Exception as e:
            explanation = _explanation(e)
            if explanation is not None:
                # TensorFlow's own message follows: it names the file or the operation.
                detail = f"\n{type(e).__name__}: {e.message}" if hasattr(e, "message") else ""
                print(f"error: {explanation}{detail}", file=sys.stderr)
                code = 1
            elif "tensorflow_io" in sys.modules:
                traceback.print_exc()
                code = 1
            else:
                raise
        return _exit(code)

    # A SIGTERM ends the command as Ctrl-C does, in one line, with what it wrote so far resumable;
    # training narrows it to the end of the step under way (training/callbacks.py).
    signal.signal(signal.SIGTERM, _terminated)
    app.run(guarded, flags_parser=_parse_flags)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a bad flag as one `error:` line (absl's own says FATAL and adds usage)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
