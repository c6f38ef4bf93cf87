"""The ``tide`` command line: a thin adapter over ``tideflow.project`` and ``tideflow.flow``.

Exit codes: 0 ok, 1 build failed, 2 usage or project error, 3 connection error
(see ``tideflow.cli.context``).
"""

from __future__ import annotations

import sys

import typer

from tideflow.cli.api_cmds import api_app
from tideflow.cli.automation_cmds import automation_app
from tideflow.cli.autoscale_cmds import autoscale_app
from tideflow.cli.bundle_cmds import bundle_app, deploy_app
from tideflow.cli.checks_cmds import check_cmd, metrics_cmd
from tideflow.cli.cluster_cmds import cluster_app
from tideflow.cli.context import fail
from tideflow.cli.dataset_cmds import dataset_app, recipe_app
from tideflow.cli.demo import demo
from tideflow.cli.flow_cmds import flow_app
from tideflow.cli.init_cmd import init
from tideflow.cli.lab_cmds import lab_app, models_app
from tideflow.cli.monitor_cmds import monitor_app
from tideflow.cli.platform_cmds import platform_app

app = typer.Typer(
    name="tide",
    help="Tideflow: build the Flow inside your database, explain it, look at the data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init)
app.add_typer(flow_app, name="flow")
dataset_app.command("metrics")(metrics_cmd)
dataset_app.command("check")(check_cmd)
app.add_typer(dataset_app, name="dataset")
app.add_typer(recipe_app, name="recipe")
app.command("demo")(demo)
app.add_typer(lab_app, name="lab")
app.add_typer(models_app, name="models")
app.add_typer(cluster_app, name="cluster")
app.add_typer(api_app, name="api")
app.add_typer(autoscale_app, name="autoscale")
app.add_typer(bundle_app, name="bundle")
app.add_typer(deploy_app, name="deploy")
app.add_typer(automation_app, name="automation")
app.add_typer(monitor_app, name="monitor")
app.add_typer(platform_app, name="platform")


def main(argv: list[str] | None = None) -> int:
    """The ``tide`` console script: ``app``, with a usage error (an unknown option, a missing argument, a
    bad value) said like every other error, one red line on standard error, exit code 2 (Click would draw
    a box around it)."""
    try:
        result = app(args=argv, prog_name="tide", standalone_mode=False)
    except typer.Abort:  # end of input at a prompt (Ctrl-C returns 130 without a word)
        fail("aborted", 1)
        return 1
    except typer.TyperException as error:  # Click's errors (Typer carries its own Click)
        code = int(getattr(error, "exit_code", 1))
        formatted = getattr(error, "format_message", None)
        message = str(formatted() if callable(formatted) else error).replace("Value error, ", "").strip()
        if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help, already printed
            return code
        message = " ".join(message.split())
        ctx = getattr(error, "ctx", None)
        where = str(ctx.command_path) if ctx is not None else "tide"
        fail(f"{where}: {message} (see '{where} --help')" if ctx is not None else message, code)
        return code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
