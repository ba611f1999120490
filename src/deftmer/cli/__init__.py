"""Command-line entry point: `deftmer <command>`.

User mistakes (`UserError`) and the user's environment (permission denied, read-only or full
disk) become one red line and exit code 2; Ctrl-C says that the run can be resumed and exits
130. Only genuine bugs show a traceback.
"""

from __future__ import annotations

import sys

import typer
from typer._click.exceptions import ClickException  # typer vendors click; pinned version

# Each module registers its commands on `app` when imported.
from deftmer.cli import (
    commands_data,  # noqa: F401,E402
    commands_model,  # noqa: F401,E402
    commands_prepare,  # noqa: F401,E402
    commands_spot,  # noqa: F401,E402
    commands_synth,  # noqa: F401,E402
    commands_unimer,  # noqa: F401,E402
    commands_user,  # noqa: F401,E402
)
from deftmer.cli.app import app
from deftmer.errors import UserError
from deftmer.utils.console import err_console, print_user_error, quiet_library_chatter
from deftmer.utils.io import is_environment_error, os_error_message


def _say_interrupted(err_console) -> None:
    err_console.print("[yellow]interrupted[/]: work already written is kept; run the same command again to resume")


def main(argv: list[str] | None = None) -> None:

    quiet_library_chatter()

    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:  # typer.Exit(code) is returned, not raised, here
            if rc == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into Exit(130)
                _say_interrupted(err_console)
            sys.exit(rc)
    except UserError as e:
        print_user_error(e)
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _say_interrupted(err_console)
        sys.exit(130)
    except OSError as e:
        if not is_environment_error(e):
            raise
        print_user_error(os_error_message(e))
        sys.exit(UserError.exit_code)
    except ClickException as e:  # usage errors: bad option, missing argument
        e.show()
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
