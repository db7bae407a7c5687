"""A fake `gcloud` on PATH: `config config-helper` answered from a loopback FakeGoogle.

It reads its account, configuration, impersonation and credential file override settings from
CLOUDSDK_CONFIG and CLOUDSDK_* the way gcloud does, gets the token with a real refresh-token
grant (and an IAM impersonation call when `auth/impersonate_service_account` is set), or with a
signed JWT-bearer grant for the service-account key `auth/credential_file_override` names,
records how it was called, and can be told to fail, hang, print garbage or flood its output
without end.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .google import FakeGoogle
from .keys import UserCredentials

MODES = ("ok", "fail", "hang", "garbage", "flood")

_SCRIPT = r'''#!{python}
import configparser, datetime, json, os, sys, time, urllib.parse, urllib.request

HERE = {here!r}
with open(os.path.join(HERE, "calls.jsonl"), "a") as log:
    env = {{k: v for k, v in os.environ.items() if k.startswith("CLOUDSDK_")}}
    log.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(), "env": env}}) + "\n")
try:
    with open(os.path.join(HERE, "mode")) as file:
        mode = file.read().strip()
except FileNotFoundError:
    mode = "ok"
if mode == "hang":
    time.sleep(60)
if mode == "flood":
    while True:
        sys.stdout.write("Updates are available for some Google Cloud CLI components. " * 1000)
if mode == "garbage":
    print("Updates are available for some Google Cloud CLI components.")
    sys.exit(0)
if mode == "fail":
    sys.stderr.write("Reauthentication required.\nERROR: (gcloud.config.config-helper) There was a problem "
                     "refreshing your current auth tokens: Reauthentication failed.\n")
    sys.exit(1)
if sys.argv[1:3] != ["config", "config-helper"]:
    sys.stderr.write("ERROR: the fake gcloud only knows config config-helper\n")
    sys.exit(2)

config_dir = os.environ["CLOUDSDK_CONFIG"]
name = os.environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
if not name:
    try:
        with open(os.path.join(config_dir, "active_config")) as file:
            name = file.read().strip()
    except FileNotFoundError:
        name = "default"
properties = configparser.ConfigParser()
properties.read(os.path.join(config_dir, "configurations", "config_" + name))
account = os.environ.get("CLOUDSDK_CORE_ACCOUNT") or properties.get("core", "account", fallback="")
impersonate = (os.environ.get("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT")
               or properties.get("auth", "impersonate_service_account", fallback=""))
override = (os.environ.get("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE")
            or properties.get("auth", "credential_file_override", fallback=""))
if override:
    # As gcloud: the file's credentials (here a service-account key) instead of any account's.
    import base64
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    with open(override) as file:
        key = json.load(file)
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    signed = b64(json.dumps({{"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}}).encode()) + "." + b64(
        json.dumps({{"iss": key["client_email"], "scope": "https://www.googleapis.com/auth/cloud-platform",
                    "aud": key["token_uri"], "iat": now, "exp": now + 3600}}).encode())
    private_key = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    signature = private_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    form = urllib.parse.urlencode({{"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                    "assertion": signed + "." + b64(signature)}}).encode()
    token_uri = key["token_uri"]
elif not account:
    sys.stderr.write("ERROR: (gcloud.config.config-helper) You do not currently have an active account "
                     "selected.\n")
    sys.exit(1)
else:
    with open(os.path.join(config_dir, "fake-logins.json")) as file:
        login = json.load(file)[account]
    form = urllib.parse.urlencode({{"grant_type": "refresh_token", "client_id": login["client_id"],
                                    "client_secret": login["client_secret"], "refresh_token": login["refresh_token"],
                                    "scope": "https://www.googleapis.com/auth/cloud-platform"}}).encode()
    token_uri = login["token_uri"]
with urllib.request.urlopen(token_uri, data=form, timeout=10) as response:
    granted = json.load(response)
token = granted["access_token"]
expiry = time.time() + granted["expires_in"]
if impersonate and not override:
    url = login["iam_url"] + "/v1/projects/-/serviceAccounts/" + impersonate + ":generateAccessToken"
    body = json.dumps({{"scope": ["https://www.googleapis.com/auth/cloud-platform"]}}).encode()
    request = urllib.request.Request(url, data=body, headers={{"Authorization": "Bearer " + token,
                                                               "Content-Type": "application/json"}})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.load(response)["accessToken"]
stamp = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"configuration": {{"active_configuration": name,
                                      "properties": {{"core": {{"account": account}}}}}},
                  "credential": {{"access_token": token, "id_token": None, "token_expiry": stamp}},
                  "sentinels": {{"config_sentinel": os.path.join(config_dir, "config_sentinel")}}}}, indent=2))
'''


class FakeGcloud:
    """The fake's files: the script in `bin_dir` (put it first on PATH), its call log and mode."""

    def __init__(self, directory: Path, google: FakeGoogle, config_dir: Path) -> None:
        self.directory = directory
        self.google = google
        self.config_dir = config_dir
        self.bin_dir = directory / "bin"
        self.bin_dir.mkdir(parents=True)
        script = self.bin_dir / "gcloud"
        script.write_text(_SCRIPT.format(python=sys.executable, here=str(directory)))
        script.chmod(0o755)
        self.executable = script
        self.config_dir.mkdir(parents=True, exist_ok=True)

    def login(self, user: UserCredentials, configuration: str = "default", *, activate: bool = True,
              impersonate: str | None = None) -> None:
        """What `gcloud auth login` (and `gcloud config set auth/impersonate_service_account`) leave."""
        logins_file = self.config_dir / "fake-logins.json"
        logins: dict[str, Any] = json.loads(logins_file.read_text()) if logins_file.exists() else {}
        logins[user.account] = {"client_id": user.client_id, "client_secret": user.client_secret,
                                "refresh_token": user.refresh_token, "token_uri": self.google.token_uri,
                                "iam_url": self.google.url}
        logins_file.write_text(json.dumps(logins))
        configurations = self.config_dir / "configurations"
        configurations.mkdir(exist_ok=True)
        text = f"[core]\naccount = {user.account}\nproject = acme-prod\n"
        if impersonate:
            text += f"\n[auth]\nimpersonate_service_account = {impersonate}\n"
        (configurations / f"config_{configuration}").write_text(text)
        if activate:
            (self.config_dir / "active_config").write_text(configuration)

    def set_property(self, section: str, name: str, value: str, configuration: str = "default") -> None:
        """What `gcloud config set SECTION/NAME VALUE` leaves in the configuration's properties."""
        import configparser

        path = self.config_dir / "configurations" / f"config_{configuration}"
        properties = configparser.ConfigParser(interpolation=None)
        properties.read(path)
        if not properties.has_section(section):
            properties.add_section(section)
        properties.set(section, name, value)
        with path.open("w") as file:
            properties.write(file)

    def set_mode(self, mode: str) -> None:
        assert mode in MODES
        (self.directory / "mode").write_text(mode)

    def calls(self) -> list[dict[str, Any]]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def path_with_fake_first(self) -> str:
        return f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
