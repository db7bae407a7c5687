"""Will an installer reach this plugin? Each one loads keyring from its own place, which `doctor`'s
own environment says nothing about. `doctor --installer` shows every finding; `configure` warns with
`reach_problem`.

- poetry and twine load keyring in process from their own environment (pipx's, uv tool's or an
  installer's venv);
- pdm too, and only when keyring is missing there, runs the `keyring` on PATH;
- pip's import provider uses pip's environment; its subprocess provider (and uv) runs the `keyring`
  on PATH, whose `--mode creds` (keyring >= 25.2.1) pip 26.2+ always uses and uv uses without a
  username.

Each environment is asked by running its interpreter with a small probe (bounded in time and output),
never by importing anything from it here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..programs import OutputTooLargeError, ProgramTimeoutError, find_executable, run_bounded
from .environments import (
    NOTE,
    OK,
    PIPX,
    PROBE_TIMEOUT,
    PROBLEM,
    UV_TOOL,
    Environment,
    Finding,
    managed_by,
    probe,
    script_interpreter,
)
from .installer_settings import install_hint, install_source

CREDS_MODE_KEYRING = (25, 2, 1)
"""The first keyring with `keyring --mode creds`."""


def check_installer(tool: str) -> list[Finding]:
    """Whether `tool` (one of INSTALLERS) will reach keyrings.gar, and what to install where if not."""
    env = dict(os.environ)
    if tool == "uv":
        return _keyring_on_path(_uv_named(env), env, creds_needed=False)
    if tool == "pip":
        return _pip(env)
    return _in_process(tool, env)  # poetry, twine or pdm: cli.py's choices (INSTALLERS) allow no other


def _in_process(tool: str, env: dict[str, str]) -> list[Finding]:
    """poetry, twine and pdm: keyring and keyrings.gar must be importable in the tool's own environment
    (only pdm, where keyring is missing, runs the `keyring` on PATH instead)."""
    found = _environment_of_command(tool, env)
    if isinstance(found, Finding):
        return [Finding(PROBLEM, f"{found.text}; keyrings.gar must be installed where {tool} imports keyring "
                                 f"({_generic_fix(tool)})")]
    where = f"{tool}'s environment ({found.python})"
    # The installer's version too: a report names what was checked.
    named = f"{tool} {found.versions[tool]}" if found.versions.get(tool) else tool
    broken = [] if found.tool_error is None else [_broken_tool(named, found, where)]
    if found.versions.get("keyring") is None and tool == "pdm":
        return [*broken, Finding(NOTE, f"{where} has no keyring, so {tool} runs the `keyring` on PATH"),
                *_keyring_on_path(tool, env, creds_needed=True)]
    if found.loads_plugin:
        return [*broken, Finding(OK, f"{named} loads keyring {found.versions['keyring']} with keyrings.gar "
                                     f"{found.versions['keyrings.gar']} from {where}")]
    fix = _install_fix(tool, found, with_keyring=found.versions.get("keyring") is None)
    return [*broken, Finding(PROBLEM, f"{named} will not reach keyrings.gar: {_why_not(found, where)}; {fix}")]


HISHEL_PIN = "hishel<2"
"""pdm 2.26.3 to 2.29 (the newest in December 2026) need hishel >= 1 and subclass its SyncSqliteStorage,
which hishel 2.0 removed, while their requirement (`hishel[httpx]>=1.0.0`) lets hishel 2 in."""


def _broken_tool(tool: str, found: Environment, where: str) -> Finding:
    """pdm's own code fails to import in its environment: it crashes before it asks any index or
    keyring. The one cause known, hishel 2 under pdm, gets its fix; any other is shown as it is."""
    reason = found.tool_error or ""
    hishel = found.versions.get("hishel")
    if "hishel" in reason and hishel is not None and _version_tuple(hishel) >= (2,):
        return Finding(PROBLEM, f"{tool} crashes before it asks keyring ({reason}): hishel {hishel} in {where} "
                                f"is too new for it; {_pin_hishel(tool, found)}")
    return Finding(PROBLEM, f"{tool} crashes before it asks keyring: importing its HTTP session module in {where} "
                            f"fails ({reason}); reinstall {tool}")


def _pin_hishel(tool: str, found: Environment) -> str:
    """The command that installs HISHEL_PIN over what is in `tool`'s environment, by how `tool` was
    installed. pipx needs --force: without it `pipx inject` says the package is already there and exits 0."""
    quoted = f"'{HISHEL_PIN}'"
    manager, venv = managed_by(found.python, tool)
    if manager == PIPX:
        return f"pin it there: pipx inject --force {venv} {quoted}"
    if manager == UV_TOOL:
        # uv tool install replaces the tool's extra requirements: the plugin must be named again.
        kept = [source for name, source in (("keyring", "keyring"), ("keyrings.gar", install_source()))
                if found.versions.get(name)]
        withs = " ".join(f"--with {name}" for name in [*kept, quoted])
        return f"pin it there: uv tool install {venv} {withs} --reinstall"
    return f"pin it there: {_pip_install(found, quoted)}"


def _pip_install(found: Environment, packages: str) -> str:
    """pip's install in `found`, or uv's where it has no pip (a venv uv made, or one made --without-pip)."""
    if found.versions.get("pip") is None:
        return f"uv pip install --python {found.python} {packages}"
    return f"{found.python} -m pip install {packages}"


def _pip(env: dict[str, str]) -> list[Finding]:
    """pip: either provider may be in use, so both ways are checked; one that works is enough."""
    import_way: list[Finding] = []
    found = _environment_of_command("pip", env)
    pip_version = found.versions.get("pip") if isinstance(found, Environment) else None
    if isinstance(found, Environment):
        where = f"pip's environment ({found.python})"
        if found.loads_plugin:
            import_way.append(Finding(OK, f"--keyring-provider import: pip {pip_version} loads keyrings.gar from "
                                          f"{where}"))
        else:
            fix = _install_fix("pip", found, with_keyring=True)
            import_way.append(Finding(PROBLEM, f"--keyring-provider import will not reach keyrings.gar: "
                                               f"{_why_not(found, where)}; {fix}"))
    creds = pip_version is None or _version_tuple(pip_version) >= (26, 2)
    subprocess_way = _subprocess_provider("pip --keyring-provider subprocess", env, creds_needed=creds,
                                          pip_environment=found)
    ways = [way for way in (import_way, subprocess_way) if way]
    if any(all(f.level != PROBLEM for f in way) for way in ways):
        # One way in is enough: what the other provider would do is only a note.
        return [f if f.level != PROBLEM else Finding(NOTE, f.text) for way in ways for f in way]
    return [f for way in ways for f in way]


def _uv_named(env: dict[str, str]) -> str:
    """`uv 0.13.9`, as `uv --version` says it (bounded), or plain `uv` when it cannot tell."""
    uv = find_executable("uv", env)
    if uv is None:
        return "uv"
    try:
        answer = run_bounded([uv, "--version"], PROBE_TIMEOUT, 1024, env, keep_stderr=False).stdout
    except (OSError, ProgramTimeoutError, OutputTooLargeError):
        return "uv"
    match = re.match(rb"uv ([0-9][0-9A-Za-z.+-]{0,40})", answer)
    return f"uv {match.group(1).decode()}" if match else "uv"


def _subprocess_provider(tool: str, env: dict[str, str], *, creds_needed: bool,
                         pip_environment: Environment | Finding | None = None) -> list[Finding]:
    """pip's subprocess provider: the `keyring` on PATH outside pip's own scripts folder. When the only
    `keyring` is the one it skips, that is the cause to name, with the import provider where pip's own
    environment loads keyrings.gar."""
    pip = find_executable("pip", env)
    scripts = None if pip is None else Path(pip).parent
    elsewhere = _without(env, scripts)
    skipped = None if scripts is None else find_executable("keyring", {**env, "PATH": str(scripts)})
    if skipped is None or find_executable("keyring", elsewhere) is not None:
        return _keyring_on_path(tool, elsewhere, creds_needed=creds_needed)
    text = (f"{tool} skips the `keyring` in pip's own environment ({skipped}), and there is no other on PATH: "
            f"install one outside it ({install_hint()})")
    if pip_environment is None:  # probed only here, where it decides the hint
        pip_environment = _environment_of_command("pip", env)
    if isinstance(pip_environment, Environment) and pip_environment.loads_plugin:
        text += (f", or use pip's import provider, which uses the keyring and keyrings.gar in pip's environment "
                 f"({pip_environment.python}): `keyring-provider = import` in pip.conf, or "
                 "PIP_KEYRING_PROVIDER=import")
    return [Finding(PROBLEM, text)]


def _without(env: dict[str, str], scripts: Path | None) -> dict[str, str]:
    """env with pip's own scripts folder left out of PATH: pip's subprocess provider skips a `keyring`
    there (it would be the import provider again) and runs the next one on PATH."""
    if scripts is None:
        return env
    kept = [folder for folder in env.get("PATH", os.defpath).split(os.pathsep) if not _same_folder(folder, scripts)]
    return {**env, "PATH": os.pathsep.join(kept)}


def _same_folder(folder: str, other: Path) -> bool:
    try:
        return Path(folder).samefile(other)
    except OSError:
        return False


def _keyring_on_path(tool: str, env: dict[str, str], *, creds_needed: bool) -> list[Finding]:
    """The `keyring` command on PATH, as pip's subprocess provider, uv and pdm without keyring run it."""
    found = _environment_of_command("keyring", env)
    if isinstance(found, Finding):
        return [Finding(PROBLEM, f"{tool} runs the `keyring` on PATH, and {found.text}: {install_hint()}")]
    where = f"the `keyring` on PATH ({found.python})"
    if not found.loads_plugin:
        return [Finding(PROBLEM, f"{tool} runs {where}, which will not reach keyrings.gar: {_why_not(found, where)}; "
                                 f"{_install_fix('keyring', found, with_keyring=False)}")]
    version = found.versions.get("keyring") or "0"
    findings = [Finding(OK, f"{tool} runs {where}: keyring {version} with keyrings.gar "
                            f"{found.versions['keyrings.gar']}")]
    if _version_tuple(version) < CREDS_MODE_KEYRING:
        text = (f"keyring {version} there has no `--mode creds` (25.2.1 and later): pip 26.2+ always asks with it, "
                "and uv does without a username in the index URL; upgrade that keyring")
        findings.append(Finding(PROBLEM if creds_needed else NOTE, text))
    return findings


def _environment_of_command(command: str, env: dict[str, str]) -> Environment | Finding:
    """Probe the environment of `command` as found on env's PATH, or say why it cannot be."""
    # Only absolute PATH entries, as for gcloud: a `poetry` planted in the current folder names
    # an interpreter of its choosing, which the probe would then run.
    script = find_executable(command, env)
    if script is None:
        return Finding(PROBLEM, f"no `{command}` on PATH")
    python = script_interpreter(Path(script))
    if python is None:
        return Finding(PROBLEM, f"cannot tell which Python `{script}` runs with (no #! line and no python beside it); "
                                f"check with `{command} --version` and that environment's `keyring --list-backends`")
    return probe(python, env, command)


def _why_not(found: Environment, where: str) -> str:
    if found.error is not None:
        return f"keyring fails to start in {where} ({found.error})"
    if found.versions.get("keyring") is None:
        return f"{where} has no keyring"
    if found.versions.get("keyrings.gar") is None:
        return f"{where} has keyring {found.versions['keyring']} but not keyrings.gar"
    return (f"keyrings.gar is installed in {where} but keyring there uses {', '.join(found.chain) or 'no backend'} "
            "(PYTHON_KEYRING_BACKEND or keyringrc.cfg chooses one backend): remove that choice")


def _install_fix(tool: str, found: Environment, *, with_keyring: bool) -> str:
    """The command that installs keyrings.gar where `tool` loads keyring, by how `tool` was installed."""
    # install_source() may be a quoted path with spaces: each `--with` takes one whole name.
    names = ["keyring", install_source()] if with_keyring else [install_source()]
    packages = " ".join(names)
    manager, venv = managed_by(found.python, tool)
    if manager == PIPX:
        return f"install it there: pipx inject {venv} {packages}"
    if manager == UV_TOOL:
        withs = " ".join(f"--with {name}" for name in names)
        return f"install it there: uv tool install {venv} {withs} --reinstall"
    if tool in ("poetry", "pdm"):
        return f"install it there: {tool} self add {packages}"
    if tool == "keyring":
        return (f"install it there: {_pip_install(found, packages)} (for pipx: pipx inject --include-apps keyring "
                f"{install_source()})")
    return f"install it there: {_pip_install(found, packages)}"


def _generic_fix(tool: str) -> str:
    """The fix when `tool`'s environment cannot be looked into: by its own command where it has one."""
    if tool in ("poetry", "pdm"):
        keyring = "keyring " if tool == "pdm" else ""
        return f"`{tool} self add {keyring}{install_source()}`, or with pipx `pipx inject {tool} {install_source()}`"
    return f"`pipx inject {tool} {install_source()}`, or `pip install {install_source()}` beside {tool}"


def _version_tuple(version: str) -> tuple[int, ...]:
    """The leading number of each of the first three parts (`2.0rc1` is (2, 0)); 0 for a part without one."""
    return tuple(int(re.sub(r"\D.*", "", part, flags=re.DOTALL) or 0) for part in version.split(".")[:3])


def add_installer_checks(report: dict[str, Any], tools: list[str]) -> None:
    """Add to doctor's `report` what each of `tools` will reach; each problem fails the report."""
    checked = report.setdefault("installers", {})
    for tool in tools:
        findings = check_installer(tool)
        checked[tool] = [finding._asdict() for finding in findings]
        report["problems"].extend(f.text for f in findings if f.level == PROBLEM)
    report["ok"] = not report["problems"]


def reach_problem(tool: str) -> str | None:
    """Why `tool`, set up as `configure` sets it up, would not ask keyrings.gar, with what to install
    where; None when it would."""
    if tool == "pip":
        # configure sets pip's subprocess provider: only the `keyring` on PATH counts, and pip 26.2+
        # runs it with --mode creds.
        findings = _subprocess_provider("pip", dict(os.environ), creds_needed=True)
    else:
        findings = check_installer(tool)
    return "; ".join(f.text for f in findings if f.level == PROBLEM) or None
