#!/usr/bin/env python3
"""pip and uv install a private package from Artifact Registry through keyrings.gar, here and now.

    python3 scripts/demo.py

No Google account needed: Artifact Registry and Google's token endpoint are loopback stand-ins
(tests/loopback/) at their real host names, reached over HTTPS through a local proxy with a
private CA. The script makes its own venv (.demo-venv) with this checkout of keyrings.gar, keyring,
pip and uv, then installs `acme-private` four ways and says which credential the registry saw.
It exits non-zero if any install fails or any installer prints a token or secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".demo-venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
INSIDE = "--inside-demo-venv"


def prepare_venv() -> int:
    """Stage 1 (any python3): the venv with the plugin from this checkout, then stage 2 in it."""
    print(f"keyrings.gar demo: preparing {VENV.name} (keyrings.gar from this checkout, keyring, pip, uv) ...",
          flush=True)
    if not (BIN / "python").exists():
        try:
            venv.create(VENV, with_pip=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"cannot create {VENV}: {exc}; on Debian/Ubuntu: apt install python3-venv", file=sys.stderr)
            return 1
    install = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade"]
    for packages in (["pip"], ["keyring", "uv", "trustme", "cryptography", str(REPO)]):
        if subprocess.run([*install, *packages], check=False).returncode != 0:
            print(f"installing {' '.join(packages)} into {VENV} failed", file=sys.stderr)
            return 1
    return subprocess.run([str(BIN / "python"), str(Path(__file__).resolve()), INSIDE], cwd=REPO,
                          check=False).returncode


def run_demo() -> int:
    """Stage 2 (inside .demo-venv): start the stand-ins, install four ways, report."""
    sys.path.insert(0, str(REPO))
    from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, USER_ADC, LoopbackStack, new_identities

    python, uv = str(BIN / "python"), str(BIN / "uv")

    def pip(stack: LoopbackStack, target: Path, _cwd: Path) -> list[str]:
        return [python, "-m", "pip", "install", "--no-input", "--keyring-provider", "import",
                "--target", str(target), "--index-url", stack.index_url(), "acme-private"]

    def uv_username_in_url(stack: LoopbackStack, target: Path, _cwd: Path) -> list[str]:
        return [uv, "pip", "install", "--no-cache", "--python", python, "--keyring-provider", "subprocess",
                "--target", str(target), "--index-url", stack.index_url("oauth2accesstoken"), "acme-private"]

    def uv_authenticate_always(stack: LoopbackStack, target: Path, cwd: Path) -> list[str]:
        (cwd / "uv.toml").write_text(f'keyring-provider = "subprocess"\n\n[[index]]\nname = "team-repo"\n'
                                     f'url = "{stack.index_url()}"\nauthenticate = "always"\ndefault = true\n')
        return [uv, "pip", "install", "--no-cache", "--python", python, "--target", str(target), "acme-private"]

    scenarios = [
        ("pip --keyring-provider import, no username in the URL", SERVICE_ACCOUNT_KEY, pip),
        ("uv  --keyring-provider subprocess, oauth2accesstoken@ in the URL", USER_ADC, uv_username_in_url),
        ("pip --keyring-provider import, no username in the URL", JSON_KEY_BASE64, pip),
        ('uv  uv.toml authenticate = "always", no username', JSON_KEY_BASE64, uv_authenticate_always),
    ]
    kinds = {SERVICE_ACCOUNT_KEY: "access token minted from a service-account key file",
             USER_ADC: "access token from a gcloud user login (ADC)",
             JSON_KEY_BASE64: "the _json_key_base64 secret"}
    versions = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True,
                              check=False).stdout.split()[:2] + subprocess.run(
        [uv, "--version"], capture_output=True, text=True, check=False).stdout.split()[:2]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="keyrings-gar-demo-") as scratch, \
            LoopbackStack(*new_identities()) as stack:
        print(f"Artifact Registry: {stack.index_url()}")
        print("  (a loopback stand-in, HTTPS through a local proxy with a private CA; "
              f"installers: {' '.join(versions)})\n")
        for number, (installer, kind, command) in enumerate(scenarios, 1):
            home = Path(scratch) / f"user{number}"
            home.mkdir()
            credential = stack.credential(kind, home)
            env = {**stack.environ(home, [BIN]), **credential.environ, "PIP_CONFIG_FILE": os.devnull,
                   "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_PYTHON_DOWNLOADS": "never"}
            before = stack.registry.identities.copy(), stack.registry.logins.copy()
            target = home / "site-packages"
            result = subprocess.run(command(stack, target, home), cwd=home, env=env, capture_output=True, text=True,
                                    timeout=300, stdin=subprocess.DEVNULL, check=False)
            output = result.stdout + result.stderr
            imported = subprocess.run([python, "-c", "import acme_private; print(acme_private.MESSAGE)"],
                                      env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=False)
            identities = set(stack.registry.identities - before[0])
            usernames = set(stack.registry.logins - before[1])
            leaked = stack.leaked(output)
            ok = (result.returncode == 0 and imported.stdout.strip() == "hello from a private package"
                  and identities == {credential.identity} and usernames == {credential.username} and not leaked)
            print(f"{'ok  ' if ok else 'FAIL'} {installer}")
            print(f"       credential: {kinds[kind]}, sent as {credential.username!r}")
            print(f"       identity:   {', '.join(sorted(identities)) or 'none'}")
            print(f"       result:     {'acme-private 1.0.0 installed and imported' if ok else 'see below'}")
            if leaked:
                print(f"       SECRETS PRINTED by the installer: {', '.join(leaked)}")
            if not ok:
                failures += 1
                print(_redact(output[-3000:], stack.secrets().values()) + imported.stderr[-1000:])
            print()
    if failures:
        print(f"{failures} of {len(scenarios)} installs failed.")
        return 1
    print("All four installs authenticated through keyrings.gar; no token or secret appeared in any output.")
    return 0


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


if __name__ == "__main__":
    sys.exit(run_demo() if INSIDE in sys.argv[1:] else prepare_venv())
