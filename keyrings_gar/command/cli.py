"""The `keyrings-gar` command: argument parsing over the diagnosis (rendered by render.py), the
installer settings and the backend's own functions.

Nothing here prints a token or a secret, except `token`, whose whole job is to print one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..cache import TokenCache
from ..config import cache_dir, load_settings, trusted_hosts
from ..config_entries import NO_ENTRY
from ..configfile import entry_for
from ..errors import GarError
from ..failures import FailureMemory
from ..hosts import classify_service
from ..lookup import live_token
from ..provided import find_provided_token
from ..redact import censored, shown_path
from .cache_folder import CACHE_EFFECT, cache_folder_problem
from .configure import Where, configure
from .diagnosis import cache_report, doctor
from .index_rule import DEFAULT_KIND, INSTALLERS, STANDARD, VIRTUAL
from .installer_reach import add_installer_checks
from .installer_settings import TOOLS, settings_text
from .render import render_cache, render_doctor
from .shown import safe_url


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"keyrings-gar: {censored(text)}\n")


def _run_doctor(args: argparse.Namespace) -> int:
    if args.check_access and args.url is None:
        args.parser.error("--check-access needs the repository URL")
    if args.package is not None and not args.check_access:
        args.parser.error("--package goes with --check-access")
    report = doctor(args.url)
    if args.check_access and report["ok"]:
        # Here: only this check pays for requests and google-auth (about 290 ms of imports).
        from .access_check import add_access_check

        add_access_check(report, args.url, args.purpose, args.package)
    if args.installer:
        add_installer_checks(report, args.installer)
    _out(json.dumps(report, indent=2) if args.json else render_doctor(report))
    return 0 if report["ok"] else 1


def _run_settings(args: argparse.Namespace) -> int:
    _out(settings_text(args.tool, args.url, args.kind, uv_toml=args.uv_toml))
    return 0


def _run_configure(args: argparse.Namespace) -> int:
    where = Where(Path.cwd(), args.file, args.uv_toml, args.name)
    _out(configure(args.tool, args.urls, args.kind, where, dry_run=args.dry_run))
    return 0


def _run_token(args: argparse.Namespace) -> int:
    entry = NO_ENTRY
    if args.url is not None:
        target = classify_service(args.url, trusted_hosts())
        if isinstance(target, str):
            raise GarError(f"{safe_url(args.url)} is not ours: {target}")
        entry = entry_for(target)
    _out(live_token(load_settings(), entry, find_provided_token()).value)
    return 0


def _run_cache_show(args: argparse.Namespace) -> int:
    report = cache_report()
    _out(json.dumps(report, indent=2) if args.json else render_cache(report))
    return 1 if report["problem"] else 0


def _run_cache_clear(_args: argparse.Namespace) -> int:
    directory = cache_dir()
    problem = None if directory is None else cache_folder_problem(directory)
    if problem is not None:
        # "removed 0" would read as "nothing was cached"; the folder itself is the trouble.
        raise GarError(f"cannot clear the token cache: {problem}; {CACHE_EFFECT}")
    removed = TokenCache(directory).clear()
    forgotten = FailureMemory(directory).clear()
    _out(f"removed {removed} cached token{'' if removed == 1 else 's'} and {forgotten} remembered "
         f"failure{'' if forgotten == 1 else 's'} from {shown_path(directory) if directory else 'no cache folder'}")
    return 0


# URL arguments are `type=str.strip`: without the spaces and line ending a copy and paste brings along
# (`"URL "` quoted, or a terminal pasting the newline); whitespace inside stays, and hosts.py refuses it.
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyrings-gar",
        description="Check and set up keyring credentials for Google Artifact Registry Python repositories.",
    )
    parser.add_argument("--version", action="version", version=f"keyrings.gar {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.set_defaults(parser=parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor_parser = _add_command(
        commands, "doctor", _run_doctor, help="explain what a lookup for URL would do, and whether it works",
        description="Explain what a keyring lookup for URL would do and really get a token; with --check-access, "
                    "also ask the repository whether it accepts it, and with --installer, whether that installer "
                    "will reach keyrings.gar at all. Exit status 0 when all is well, 1 otherwise (the problems and "
                    "their fixes are listed).")
    doctor_parser.add_argument("url", nargs="?", type=str.strip, metavar="URL",
                               help="the repository URL (default: no URL, the default identity)")
    doctor_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor_parser.add_argument("--check-access", action="store_true",
                               help="also ask the repository for a package page with the credential, as an "
                                    "installer does, and the Artifact Registry API for the repository's mode and "
                                    "the identity's permissions (401 and 403 explained with their fixes)")
    doctor_parser.add_argument("--package", metavar="NAME",
                               help="with --check-access: the package page to ask for (default: a name no "
                                    "repository holds; its 404 proves the read as well)")
    doctor_parser.add_argument("--installer", action="append", choices=INSTALLERS, metavar="TOOL",
                               help=f"also check that TOOL ({', '.join(INSTALLERS)}; repeatable) will reach "
                                    "keyrings.gar where it loads keyring, and say what to install where if not")
    doctor_parser.add_argument("--for", dest="purpose", choices=("download", "upload"), default="download",
                               help="with --check-access: what to check the identity may do (upload: asked of "
                                    "the API's testIamPermissions, nothing is uploaded; default: download)")

    settings_parser = _add_command(
        commands, "settings", _run_settings,
        help="print installer configuration that uses keyring (no credential in it)",
        description="Print ready-to-paste configuration for an installer (pip, uv, poetry, pdm) or a publishing "
                    "command (twine, uv-publish, poetry-publish, hatch) that gets its credentials from keyring: "
                    "the keyring-based answer to `gcloud artifacts print-settings python`.")
    settings_parser.add_argument("tool", choices=TOOLS, help="the installer or publishing command")
    settings_parser.add_argument("url", type=str.strip, metavar="URL", help="the repository URL")
    _add_kind_options(settings_parser)
    settings_parser.add_argument("--uv-toml", action="store_true",
                                 help="for uv: the uv.toml form (default: the pyproject.toml form)")

    configure_parser = _add_command(
        commands, "configure", _run_configure,
        help="write an installer's configuration for repositories (no credential in it)",
        description="Write or merge the configuration that makes the plain command work afterwards (pip install, "
                    "uv add, poetry add, pdm add, twine upload -r NAME), as `gcloud auth configure-docker` does: "
                    "index entries, the keyring provider and the username, never a credential. Other entries and "
                    "comments stay; running it again changes nothing. pip: the user's pip.conf; uv, pdm: "
                    "./pyproject.toml (uv: ./uv.toml with --uv-toml); poetry: ./pyproject.toml's sources and "
                    "poetry's config.toml (poetry itself is not run); twine: ~/.pypirc. No file is written "
                    "through a link. Without --virtual or --standard, each repository's mode is asked of the "
                    "Artifact Registry API first; when it cannot tell, nothing is written.")
    configure_parser.add_argument("tool", choices=INSTALLERS, help="the installer or publishing tool")
    configure_parser.add_argument("urls", nargs="+", type=str.strip, metavar="URL", help="repository URLs")
    _add_kind_options(configure_parser, default=None)
    configure_parser.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    configure_parser.add_argument("--uv-toml", action="store_true", help="for uv: write ./uv.toml, not pyproject.toml")
    configure_parser.add_argument("--name", help="the index, source or .pypirc section name for the one URL "
                                  "(default: the repository's own name)")
    configure_parser.add_argument("--file", type=Path, help="the file to edit instead of the tool's usual one "
                                  "(not for poetry)")

    token_parser = _add_command(
        commands, "token", _run_token, help="print a live access token (for scripts)",
        description="Print a live OAuth access token for URL's identity (or the default identity), through the "
                    "same cache as keyring lookups. The only command that prints a credential.")
    token_parser.add_argument("url", nargs="?", type=str.strip, metavar="URL", help="the repository URL")

    cache_parser = _add_command(commands, "cache", None, help="show or clear the token cache",
                                description="Show or clear the shared token cache.")
    cache_commands = cache_parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    show_parser = _add_command(cache_commands, "show", _run_cache_show,
                               help="list cached identities and expiries (never tokens)",
                               description="List the cached identities and their expiry.")
    show_parser.add_argument("--json", action="store_true", help="print the list as JSON")
    _add_command(cache_commands, "clear", _run_cache_clear, help="remove every cached token and remembered failure",
                 description="Remove every cached token (the next lookup mints one) and forget remembered failures "
                             "(the next lookup tries its credentials again at once). Only the cache's own files go: "
                             "nothing else in the folder is touched.")
    return parser


def _add_kind_options(parser: argparse.ArgumentParser, default: str | None = DEFAULT_KIND) -> None:
    """--virtual/--standard; without either, `default` (None: ask the Artifact Registry API)."""
    asked = " (default: the mode the Artifact Registry API reports)" if default is None else ""
    kinds = parser.add_mutually_exclusive_group()
    kinds.add_argument("--virtual", dest="kind", action="store_const", const=VIRTUAL,
                       help="a virtual repository (it fronts PyPI): the one and only index" +
                            (" (the default)" if default == VIRTUAL else asked))
    kinds.add_argument("--standard", dest="kind", action="store_const", const=STANDARD,
                       help="a standard repository (private packages only): added beside PyPI" +
                            (" (the default)" if default == STANDARD else ""))
    parser.set_defaults(kind=default)


_VERBOSE_HELP = "log each step to stderr: where credentials come from and why, cache hits, config entries"


def _add_command(commands: Any, name: str, run: Callable[[argparse.Namespace], int] | None, **options: Any
                 ) -> argparse.ArgumentParser:
    """A subcommand that `run`s, takes -v after its name too (`keyrings-gar doctor URL -v`) and knows
    its own parser, so that a usage error shows this command's usage rather than the top level's."""
    # SUPPRESS: absent after the subcommand, the -v given before it (or False) stays.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP)
    command: argparse.ArgumentParser = commands.add_parser(name, parents=[verbose], **options)
    command.set_defaults(parser=command, run=run)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not set(arguments) - {"-v", "--verbose"}:
        # No command: what there is to do, as `git` alone shows, rather than a usage error; still
        # exit 2, as for any other missing argument, so that a script notices.
        parser.print_help()
        return 2
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("keyrings_gar").setLevel(logging.DEBUG)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except GarError as exc:
        _err(str(exc))
    except KeyboardInterrupt:
        return 130
    # The command's one boundary, as the backend's is for keyring: a message, never a traceback
    # (which could print local variables' context, and tells users nothing they can act on).
    except Exception as exc:  # noqa: BLE001
        _err(f"unexpected {type(exc).__name__} in `{args.command}`; please report it")
    return 1
