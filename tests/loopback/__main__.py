"""`.venv/bin/python -m tests.loopback`: run the loopback Artifact Registry until interrupted.

Starts FakeGoogle, the registry and the TLS proxy, writes the private CA and test credentials to
a folder, and prints the `export` lines a shell needs to install from
https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/ through keyrings.gar.
Never prints a secret: the `_json_key_base64` secret is only named by the command that makes it.
Runs with the demo's python (`.demo-venv/bin/python`, right after `python3 scripts/demo.py`) or the test
venv's (it needs trustme and cryptography); plain `python3` says so and what to run instead.

The folder holds a service-account key and a user's refresh token: on Ctrl-C, SIGTERM or SIGHUP
it is removed (a folder given with --dir is kept, the files written into it are removed).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

_STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # SIGINT arrives as KeyboardInterrupt
FORBIDDEN = ("service-account", "user", "both")
POLL_SECONDS = 0.2


class StopRequest:
    """Set by a signal handler, polled by the main thread. No lock anywhere: a Python signal handler
    runs in the main thread between two bytecodes, also while that thread holds a lock. With a
    threading.Event the handler's set() waited for the Event's own lock, held by the main thread's
    wait() it had interrupted: the stand-in never exited after SIGTERM (one CI run in two)."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, *_: object) -> None:
        self.requested = True  # a plain store: takes no lock

    def install(self) -> None:
        """Make SIGTERM and SIGHUP request the stop."""
        for name in _STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self.handle)

    def wait(self, poll: float = POLL_SECONDS) -> None:
        """Until a stop is requested (time.sleep is interrupted by the signal and resumed after
        the handler, so a stop is seen within one poll)."""
        while not self.requested:
            time.sleep(poll)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.loopback", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to write the CA and credentials (default: a temp dir, "
                        "removed on exit)")
    parser.add_argument("--forbid", choices=FORBIDDEN, help="answer 403 to this identity (or both): the "
                        "repository gives it no reader role, as for a colleague nobody granted access yet")
    args = parser.parse_args(argv)
    try:
        from . import stack  # noqa: F401 - only to learn whether the test dependencies are here
    except ModuleNotFoundError as exc:
        # Run with a plain python3 this is the first thing a newcomer sees: say what to run instead.
        sys.stderr.write(f"python -m tests.loopback needs trustme and cryptography ({exc.name} is missing): run "
                         "it with the demo's python, `.demo-venv/bin/python -m tests.loopback` (`python3 "
                         "scripts/demo.py` makes that venv in a minute), or the test venv's, `.venv/bin/python -m "
                         "tests.loopback` (scripts/test makes it)\n")
        return 2
    stopped = StopRequest()
    # Before anything secret is written: a signal at any later point still ends in the clean-up.
    stopped.install()
    # Python leaves SIGINT ignored when it starts ignored (a shell's background job without job
    # control, as a CI runner may start it): Ctrl-C must stop this and clean up all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    temporary = args.dir is None
    folder: Path = Path(tempfile.mkdtemp(prefix="keyrings-gar-loopback-")) if temporary else args.dir
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _serve(folder, written, stopped, args.forbid)
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for path in written:
                path.unlink(missing_ok=True)
    return 0


def _serve(folder: Path, written: list[Path], stopped: StopRequest, forbid: str | None = None) -> None:
    from .stack import CLOSED_METADATA, GOOGLE_TOKEN_URI, LoopbackStack, new_identities

    with LoopbackStack(*new_identities()) as stack:
        identities = {"service-account": stack.sa_key.email, "user": stack.user.account}
        forbidden = [] if forbid is None else list(identities.values()) if forbid == "both" else [identities[forbid]]
        if forbidden:
            stack.registry.restrict(set(identities.values()) - set(forbidden))
        ca_file = folder / "private-ca.pem"
        key_file = folder / "service-account-key.json"
        adc_file = folder / "application_default_credentials.json"
        written.extend([ca_file, key_file, adc_file])
        stack.proxy.write_ca(ca_file)
        for path in (key_file, adc_file):  # owner-only before the secret goes in
            path.touch(0o600)
            path.chmod(0o600)
        key_file.write_bytes(stack.sa_key.key_json)
        adc_file.write_text(stack.user.adc_json(GOOGLE_TOKEN_URI))
        exports = {
            "HTTPS_PROXY": stack.proxy.url,
            "SSL_CERT_FILE": str(ca_file),
            "REQUESTS_CA_BUNDLE": str(ca_file),
            "PIP_CERT": str(ca_file),
            "GCE_METADATA_HOST": CLOSED_METADATA,
            "GCE_METADATA_IP": CLOSED_METADATA,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        }
        print("# The loopback Artifact Registry is up.")
        print("# First install what you want to try (pip, uv, keyring, keyrings.gar, ...) in another shell;")
        print("# then paste these lines there. After them every HTTPS request goes to the loopback proxy,")
        print("# which reaches only these stand-ins: PyPI is unreachable from that shell.")
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"# index: {stack.index_url()}  (upload: {stack.upload_url()})")
        print(f"# service account {stack.sa_key.email}; for its _json_key_base64 secret instead of tokens:")
        print(f"#   export KEYRINGS_GAR_JSON_KEY_BASE64=\"$(base64 -w0 {shlex.quote(str(key_file))})\"")
        print(f"# user {stack.user.account} instead: gcloud's ADC file is in {folder}; use it with")
        print(f"#   unset GOOGLE_APPLICATION_CREDENTIALS; export CLOUDSDK_CONFIG={shlex.quote(str(folder))}")
        if forbidden:
            print(f"# --forbid: {' and '.join(forbidden)} may not read {stack.index_url()} (HTTP 403)")
        print(f"# e.g.: pip install --keyring-provider import --index-url {stack.index_url()} acme-private")
        print(f"# Ctrl-C stops it and removes the keys written to {folder}.", flush=True)
        stopped.wait()
        print(f"# logins seen: {dict(stack.registry.identities)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
