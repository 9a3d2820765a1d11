"""A program's exit status: one line for an error a user can fix, never a traceback."""
import os
import sys

from minicnn import backend
from minicnn.lab.recipes import RecipeError
from minicnn.train import TrainingDiverged


# the packages minicnn imports only where they are needed (module name: pip name), from the examples' extra
OPTIONAL_PACKAGES = {"sklearn": "scikit-learn", "joblib": "joblib", "tqdm": "tqdm"}


def exit_status(function, program, usage_errors=()):
    """Run ``function()`` as the body of a program: its exit status, and for the errors a user can fix,
    one line naming ``program`` instead of a traceback.

    2: a setting to change (a RecipeError or one of ``usage_errors``); 1: a run that
    could not go on (a missing or bad file, a backend that cannot start, a loss that
    diverged, a package of the examples' extra not installed); 130: Ctrl-C (fit() has
    already saved the checkpoint and said how to resume); 141: the reader of the
    output closed it (a pipe into `head`), said nothing about.
    """
    try:
        status = function()
        sys.stdout.flush()   # here, so that a closed pipe is seen inside this try, not at exit
        return status
    except BrokenPipeError:
        # the reader of our output went away (`minicnn zoo | head -1`): nothing is wrong, and nothing more
        # can be printed; point stdout at /dev/null so the interpreter's own flush at exit stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141   # what a shell reports for a program ended by SIGPIPE
    except ModuleNotFoundError as error:
        if error.name not in OPTIONAL_PACKAGES:
            raise
        print(f"{program}: error: this needs {OPTIONAL_PACKAGES[error.name]}, which is not installed: "
              "pip install 'minicnn[examples]'", file=sys.stderr)
        return 1
    except (RecipeError,) + tuple(usage_errors) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError, backend.BackendError, TrainingDiverged) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130


def run_script(main):
    """Run an example's ``main()`` as a program: exit with its status, errors reported as exit_status does."""
    sys.exit(exit_status(main, os.path.basename(sys.argv[0])))
