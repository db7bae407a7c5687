"""Whole installs from the loopback registry, three ways to hold the credential.

What a user feels is not one `keyring get` but the install around it. Each run installs a few
packages (`acme-private`, the `acme-util` it needs and three more) from the loopback Artifact
Registry behind the TLS proxy (tests/loopback/stack.py), into a target folder, with no download
cache, as a CI job does. The credential comes from

- keyrings.gar, warm: its token cache already holds a token, so no grant is made;
- the token in the index URL, the workaround people use today: keyring is never consulted;
- Google's keyrings.google-artifactregistry-auth, with the same service-account key, which mints
  a token on every lookup (the loopback token endpoint counts them).

Each run is checked: exit 0, the packages in the target, the registry saw our service account,
and the token grants made are the ones the credential way implies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote

from paired import Check, Command, WrongResultError
from venvs import Venv

if TYPE_CHECKING:
    from tests.loopback.stack import LoopbackStack
    from tests.loopback.wheels import DistFile

EXTRA_PACKAGES = ("acme-extra-1", "acme-extra-2", "acme-extra-3")
REQUESTED = ("acme-private", *EXTRA_PACKAGES)
INSTALLED_MODULES = ("acme_private", "acme_util", *(name.replace("-", "_") for name in EXTRA_PACKAGES))

KEYRINGS_GAR, URL_TOKEN, OFFICIAL_PLUGIN = "keyrings.gar warm", "token in the URL", "Google's plugin"
SLUGS = {KEYRINGS_GAR: "gar", URL_TOKEN: "url", OFFICIAL_PLUGIN: "official"}

UV_ALWAYS, UV_USERNAME, PIP_SUBPROCESS, PIP_IMPORT = (
    "uv, authenticate = always", "uv, username in the URL", "pip, subprocess provider", "pip, import provider")
INSTALLERS = ((UV_ALWAYS, True), (UV_USERNAME, False), (PIP_SUBPROCESS, True), (PIP_IMPORT, True))
"""Each installer, and whether it is also timed against Google's plugin. uv is timed both ways
docs/installers.md gives: with a username in the URL uv sends that username alone to every file URL
outside the index URL first and asks again after the 401 (14 more requests for these five
packages), which `authenticate = "always"` avoids."""


def registry_env(base: dict[str, str], stack: LoopbackStack, ca_file: Path) -> dict[str, str]:
    """`base` with the registry reachable by its real name through the proxy and its CA trusted by
    requests, pip and uv, and no installer configuration from this machine."""
    return {
        **base,
        "HTTPS_PROXY": stack.proxy.url,
        "SSL_CERT_FILE": str(ca_file),
        "REQUESTS_CA_BUNDLE": str(ca_file),
        "PIP_CERT": str(ca_file),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
    }


def package_files() -> list[DistFile]:
    """What the registry serves: the usual two private packages and three small ones beside them."""
    from tests.loopback.wheels import build_wheel, private_packages

    return [*private_packages(), *(build_wheel(name, "1.0.0", {f"{name.replace('-', '_')}/__init__.py": ""})
                                   for name in EXTRA_PACKAGES)]


class Counter:
    """How many of something each run made, for the commands of one comparison (run in turn)."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count
        self.last = count()

    def made(self) -> int:
        now = self.count()
        made, self.last = now - self.last, now
        return made


class WholeInstalls:
    """Install commands against `stack`, for each installer and each way of holding the credential."""

    def __init__(self, stack: LoopbackStack, workdir: Path, base_env: Callable[[Venv, str], dict[str, str]],
                 harness: Venv) -> None:
        self.stack = stack
        self.workdir = workdir
        self.base_env = base_env
        self.harness = harness
        self.ca_file = workdir / "installs-ca.pem"
        stack.proxy.write_ca(self.ca_file)
        # Google's plugin and keyrings.gar mint from the same key, one the loopback Google knows.
        self.key_file = workdir / "installs-sa-key.json"
        self.key_file.write_bytes(stack.sa_key.key_json)
        self.key_file.chmod(0o600)
        self.grants = Counter(lambda: len(stack.google.grants))
        self.logins = Counter(lambda: sum(stack.registry.logins.values()))

    @property
    def uv(self) -> Path:
        return self.harness.bin / ("uv.exe" if sys.platform == "win32" else "uv")

    def env(self, venv: Venv, scenario: str) -> dict[str, str]:
        """The benchmark's clean environment for `venv` in `scenario`, with our key and the stack."""
        env = registry_env(self.base_env(venv, scenario), self.stack, self.ca_file)
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(self.key_file)
        return env

    def warm_token(self, venv: Venv, scenario: str) -> str:
        """One lookup through `venv`'s keyring: it warms keyrings.gar's cache for `scenario` and
        returns the token, which the URL-credentials side then writes into its URL."""
        env = self.env(venv, scenario)
        result = subprocess.run([str(venv.keyring), "get", self.stack.index_url(), "oauth2accesstoken"], env=env,
                                cwd=env["HOME"], capture_output=True, text=True, timeout=120, check=False)
        token = result.stdout.strip()
        if result.returncode != 0 or self.stack.google.identity_of(token) != self.stack.sa_key.email:
            raise SystemExit(f"benchmark: no token to warm the install scenario {scenario}: "
                             f"{result.stderr.strip()[-300:]!r}")
        self.grants.made()  # that grant is set-up, not part of any run
        return token

    def check(self, target: Path, grants: str) -> Check:
        """The install worked, the registry saw a credential, and the grants made fit `grants`:
        "none" (a warm cache, or the token in the URL) or "some" (Google's plugin mints per lookup)."""
        def check(result: subprocess.CompletedProcess[str]) -> None:
            made, logins = self.grants.made(), self.logins.made()
            if result.returncode != 0:
                raise WrongResultError("the install failed")
            missing = [m for m in INSTALLED_MODULES if not (target / m / "__init__.py").is_file()]
            if missing:
                raise WrongResultError(f"not installed: {', '.join(missing)}")
            if logins == 0:
                raise WrongResultError("the registry saw no credential")
            if (made == 0) != (grants == "none"):
                raise WrongResultError(f"{made} token grants in one run, expected {grants}")
        return check

    def command(self, installer: str, way: str, venv: Venv, scenario: str, token: str) -> Command:
        """`installer` (one of INSTALLERS) installing REQUESTED with the credential held `way`;
        `venv` holds the keyring (and plugin) that installer uses."""
        env = self.env(venv, scenario)
        home = Path(env["HOME"])
        target = home / f"target-{SLUGS[way]}"
        provider = "import" if installer == PIP_IMPORT else "subprocess"
        if way == URL_TOKEN:
            url, provider = self.stack.index_url(f"oauth2accesstoken:{quote(token, safe='')}"), "disabled"
        elif installer in (PIP_SUBPROCESS, UV_USERNAME):
            # pip before 26.2 and uv without `authenticate` ask keyring only for a URL with a username.
            url = self.stack.index_url("oauth2accesstoken")
        else:
            url = self.stack.index_url()
        if provider != "import":
            # uv and pip's subprocess provider run the `keyring` on PATH, never one in pip's own venv.
            env["PATH"] = os.pathsep.join([str(venv.bin), env["PATH"]])
        if installer in (UV_ALWAYS, UV_USERNAME):
            argv = [str(self.uv), "pip", "install", "--quiet", "--no-cache", "--reinstall",
                    "--python", str(self.harness.python), "--target", str(target)]
            if installer == UV_ALWAYS and way != URL_TOKEN:
                argv += ["--config-file", str(self.uv_config(home, url))]
            else:
                argv += ["--keyring-provider", provider, "--index-url", url]
        else:
            python = venv.python if installer == PIP_IMPORT else self.harness.python
            argv = [str(python), "-m", "pip", "install", "--quiet", "--no-input", "--no-cache-dir", "--upgrade",
                    "--target", str(target), "--keyring-provider", provider, "--index-url", url]
        argv += list(REQUESTED)
        grants = "some" if way == OFFICIAL_PLUGIN else "none"
        return Command(f"{installer}, {way}", argv, env, self.check(target, grants), home)

    @staticmethod
    def uv_config(home: Path, url: str) -> Path:
        """docs/installers.md's uv set-up with no username anywhere: the index, `authenticate = "always"`."""
        config = home / "uv.toml"
        config.write_text(f'keyring-provider = "subprocess"\n\n[[index]]\nname = "team-repo"\nurl = "{url}"\n'
                          'authenticate = "always"\ndefault = true\n')
        return config

    def lookup(self, venv: Venv, scenario: str) -> Command:
        """One warm `keyring get` in `scenario`, as uv and pip run it: the unit the extra time of
        an install is counted in."""
        env = {**self.env(venv, scenario)}
        env["PATH"] = os.pathsep.join([str(venv.bin), env["PATH"]])

        def check(result: subprocess.CompletedProcess[str]) -> None:
            made = self.grants.made()
            if result.returncode != 0 or self.stack.google.identity_of(result.stdout.strip()) is None:
                raise WrongResultError("no token the loopback Google issued")
            if made:
                raise WrongResultError(f"{made} token grants in a warm lookup")
        return Command(f"warm `keyring get`, {scenario}", [str(venv.keyring), "get", self.stack.index_url(),
                                                           "oauth2accesstoken"], env, check, Path(env["HOME"]))
