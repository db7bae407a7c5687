"""keyrings.gar against bare keyring and Google's official plugin, on this machine, in one command.

    python3 benchmarks/run.py            # 21 pairs per comparison, a few minutes
    python3 benchmarks/run.py --quick    # 5 pairs: a smoke run, numbers not to quote

It builds (or reuses) venvs under benchmarks/.venvs/ (see venvs.py), starts the loopback OAuth
token endpoint from tests/loopback/google.py with 0 ms and 150 ms of added latency, and times
`keyring get` as installers run it, in paired runs (see paired.py). Every run is checked: a
token must be one the loopback endpoint issued, "no answer" must be exit 1 with nothing printed,
and token grants are counted at the endpoint. Prints the figures as markdown and writes JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importcost import HEAVY, heavy_modules, probe, top_cumulative
from paired import Check, Command, Paired, Summary, WrongResultError, paired
from venvs import BARE, GAR, HARNESS, OFFICIAL, Venv, ensure_venvs, installed_versions, venvs_under

if TYPE_CHECKING:
    from tests.loopback.google import FakeGoogle

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "benchmarks"
AR_URL = "https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/"
OTHER_URL = "https://pypi.org/simple/"
AR_USERNAME = "oauth2accesstoken"
SA_EMAIL = "bench@acme-prod.iam.gserviceaccount.com"
CONCURRENT, LATER = 8, 5

# One lookup in a fresh process, timed inside it after keyring has found its backends: the
# cost of the lookup itself, without interpreter start-up and plugin discovery.
FIRST_LOOKUP = """
import json, sys, time, keyring
keyring.get_keyring()
started, cpu_started = time.perf_counter(), time.process_time()
token = keyring.get_password(sys.argv[1], sys.argv[2])
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(token or "")
print(json.dumps({"seconds": elapsed, "cpu": cpu}))
"""

# Repeated lookups in one process, as pip's import provider makes them.
REPEATED_LOOKUPS = """
import json, sys, timeit, keyring
service, username, number, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
token = keyring.get_password(service, username)
times = timeit.repeat(lambda: keyring.get_password(service, username), number=number, repeat=repeat)
print(token or "")
print(json.dumps({"per_call": [t / number for t in times]}))
"""


def require(condition: bool, message: str) -> None:
    """Stop the benchmark when it would measure something other than it says."""
    if not condition:
        raise SystemExit(f"benchmark: {message}")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    floor: float | None = None
    detail: str = ""
    medians: str = ""
    """For a paired figure: A's and B's own median wall-clock times."""
    cpu: str = ""
    """The same figure in CPU time, which waiting for a busy core does not inflate."""

    @property
    def status(self) -> str:
        if self.target is None:
            return "info"
        if self.value <= self.target:
            return "ok"
        if self.floor is not None and self.value <= self.floor:
            return "floor"
        return "MISS"

    def formatted(self) -> str:
        if self.unit == "x":
            return f"{self.value:.3f}"
        if self.unit == "grants":
            return f"{self.value:.0f}"
        return f"{self.value:.2f} {self.unit}" if self.value < 10 else f"{self.value:.0f} {self.unit}"

    def goal(self) -> str:
        if self.target is None:
            return ""
        if self.unit == "grants":
            return f"{self.target:.0f}"
        unit = "" if self.unit == "x" else f" {self.unit}"
        floor = f" (floor {self.floor:g})" if self.floor is not None and self.floor != self.target else ""
        return f"<= {self.target:g}{unit}{floor}"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    comparisons: dict[str, Paired] = field(default_factory=dict)
    imports: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    pairs: int
    warmup: int
    runs: int
    """Processes per in-process figure, and `-X importtime` runs per lookup."""
    latencies_ms: list[float]


class Bench:
    """The loopback Google, the service-account key it knows, and isolated environments."""

    def __init__(self, venvs: dict[str, Venv], fake: FakeGoogle, workdir: Path, metadata_port: int) -> None:
        from tests.loopback.keys import make_service_account_key

        self.venvs = venvs
        self.fake = fake
        self.workdir = workdir
        self.metadata = f"127.0.0.1:{metadata_port}"
        key = make_service_account_key(SA_EMAIL, fake.token_uri)
        fake.add_service_account(key)
        self.key_file = workdir / "sa-key.json"
        self.key_file.write_bytes(key.key_json)
        self.key_file.chmod(0o600)

    def home(self, venv: Venv, scenario: str) -> Path:
        """The HOME (and working directory) of `venv`'s runs in `scenario`."""
        return self.workdir / f"{venv.path.name}-{scenario}"

    def env(self, venv: Venv, scenario: str) -> dict[str, str]:
        """A clean environment with its own HOME, caches and config: only what we set counts."""
        home = self.home(venv, scenario)
        for folder in (".cache", ".config", "gcloud"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "TEMP", "TMP")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        env.update({
            "PATH": str(venv.bin) + os.pathsep + os.environ.get("PATH", ""),
            "HOME": str(home),
            "USERPROFILE": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "CLOUDSDK_CONFIG": str(home / "gcloud"),
            "KEYRINGS_GAR_CACHE_DIR": str(home / ".cache" / "keyrings-gar"),
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.key_file),
            # The key's token_uri is the loopback endpoint, not Google's: opted in as a private one.
            "KEYRINGS_GAR_TOKEN_HOSTS": "127.0.0.1",
            # Nothing may ever try 169.254.169.254: a loopback port that refuses connections.
            "GCE_METADATA_HOST": self.metadata,
            "GCE_METADATA_IP": self.metadata,
            "PYTHONNOUSERSITE": "1",
        })
        return env

    # -- what a run must have done ------------------------------------------------------
    def expect_token(self, quiet: bool) -> Check:
        def check(result: subprocess.CompletedProcess[str]) -> None:
            token = result.stdout.splitlines()[0].strip() if result.stdout else ""
            if result.returncode != 0 or not token:
                raise WrongResultError("no token")
            if self.fake.identity_of(token) != SA_EMAIL:
                raise WrongResultError("the answer is not a token the loopback endpoint issued")
            if quiet and result.stderr:
                raise WrongResultError("something on stderr")
        return check

    @staticmethod
    def expect_nothing(result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode != 1 or result.stdout:
            raise WrongResultError("expected no answer and keyring's 'not found' exit status 1")

    # -- commands -------------------------------------------------------------------------
    def keyring_get(self, name: str, scenario: str, service: str, fresh_cache: bool = False) -> Command:
        venv = self.venvs[name]
        answers = service == AR_URL and name != BARE
        check = self.expect_token(quiet=name == GAR) if answers else self.expect_nothing
        return Command(f"{name} {scenario}", [str(venv.keyring), "get", service, AR_USERNAME],
                       self.env(venv, scenario), check, self.home(venv, scenario), fresh_cache)

    def in_process(self, name: str, scenario: str, code: str, *args: str, fresh_cache: bool = False) -> Command:
        venv = self.venvs[name]
        return Command(f"{name} {scenario} in-process", [str(venv.python), "-c", code, AR_URL, AR_USERNAME, *args],
                       self.env(venv, scenario), self.expect_token(quiet=name == GAR), self.home(venv, scenario),
                       fresh_cache)

    def measured_inside(self, command: Command) -> Any:
        """What an in-process script reported on its last line."""
        return json.loads(command.run().result.stdout.splitlines()[-1])

    @contextlib.contextmanager
    def grants(self) -> Iterator[list[int]]:
        """Counts the token grants made inside the block (the list holds one number after it)."""
        before = len(self.fake.grants)
        counted: list[int] = []
        yield counted
        counted.append(len(self.fake.grants) - before)

    def stampede(self, name: str, scenario: str) -> int:
        """Grants for CONCURRENT processes started cold together, then LATER lookups one by one."""
        command = self.keyring_get(name, scenario, AR_URL)
        with self.grants() as counted:
            processes = [subprocess.Popen(list(command.argv), env=command.env, cwd=command.cwd, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
                         for _ in range(CONCURRENT)]
            for process in processes:
                out, err = process.communicate(timeout=120)
                try:
                    command.check(subprocess.CompletedProcess(command.argv, process.returncode, out, err))
                except WrongResultError as exc:
                    raise SystemExit(f"benchmark: a concurrent {name} lookup failed: {exc}") from None
            for _ in range(LATER):
                command.run()
        return counted[0]


def _ms(summary: Summary) -> str:
    return f"{summary.median * 1000:.1f} ms [{summary.low * 1000:.1f}, {summary.high * 1000:.1f}]"


def _pair_detail(result: Paired) -> str:
    cpu = result.cpu_ratios
    return (f"{result.a.label} {_ms(result.a_summary)} vs {result.b.label} {_ms(result.b_summary)}"
            + (f"; CPU-time ratio {cpu.median:.3f}" if cpu is not None else ""))


def _cpu(result: Paired) -> str:
    cpu = result.cpu_ratios
    return "n/a" if cpu is None else f"{cpu.median:.3f} [{cpu.low:.3f}, {cpu.high:.3f}]"


def ratio_figure(name: str, result: Paired, target: float | None = None, floor: float | None = None,
                 note: str = "") -> Figure:
    cpu = result.cpu_ratios
    return Figure(name, result.ratios.median, "x", target, floor, _pair_detail(result) + note,
                  medians=f"{result.a_summary.median * 1000:.0f} / {result.b_summary.median * 1000:.0f} ms",
                  cpu="" if cpu is None else f"{cpu.median:.3f}")


def _compare(report: Report, plan: Plan, key: str, a: Command, b: Command) -> Paired:
    print(f"benchmark: {key}: {a.label} vs {b.label}, {plan.pairs} pairs", flush=True)
    report.comparisons[key] = result = paired(a, b, plan.pairs, plan.warmup)
    return result


def measure_offline(bench: Bench, plan: Plan, report: Report) -> None:
    """Lookups that never reach the token endpoint: a warm cache, and hosts that are not ours."""
    with bench.grants() as counted:
        warm = _compare(report, plan, "warm_ar_vs_bare", bench.keyring_get(GAR, "warm", AR_URL),
                        bench.keyring_get(BARE, "warm", AR_URL))
    # The first warm-up run minted the one token; every other run was answered from the cache.
    require(counted[0] == 1, f"keyrings.gar made {counted[0]} grants in its warm runs, not 1")
    report.figures.append(ratio_figure("warm AR `keyring get`, keyrings.gar / bare keyring", warm, 1.05, 1.15))
    with bench.grants() as counted:
        other = _compare(report, plan, "other_host_vs_bare", bench.keyring_get(GAR, "other", OTHER_URL),
                         bench.keyring_get(BARE, "other", OTHER_URL))
        official = _compare(report, plan, "other_host_official_vs_bare",
                            bench.keyring_get(OFFICIAL, "other", OTHER_URL),
                            bench.keyring_get(BARE, "other", OTHER_URL))
    require(counted[0] == 0, "a lookup for another host made a token grant")
    report.figures.append(ratio_figure("non-AR `keyring get` with keyrings.gar installed / bare keyring", other,
                                       1.02, 1.05))
    report.figures.append(ratio_figure("non-AR `keyring get` with the official plugin installed / bare keyring",
                                       official))

    with bench.grants() as counted:
        per_call = Summary(bench.measured_inside(
            bench.in_process(GAR, "warm", REPEATED_LOOKUPS, "200", str(max(3, plan.runs // 2))))["per_call"])
        first = Summary([bench.measured_inside(bench.in_process(GAR, "warm", FIRST_LOOKUP))["seconds"]
                         for _ in range(plan.runs)])
    require(counted[0] == 0, "a warm in-process lookup made a token grant")
    report.figures.append(Figure(
        "in-process warm `get_password` (repeated, through keyring's chainer)", per_call.median * 1000, "ms", 1.0,
        detail=f"{per_call.median * 1e6:.0f} µs per call [{per_call.low * 1e6:.0f}, {per_call.high * 1e6:.0f}], "
               "median of 200-call batches"))
    report.figures.append(Figure(
        "first lookup in a fresh process, disk cache warm (in-process)", first.median * 1000, "ms",
        detail=f"{_ms(first)} over {plan.runs} processes; includes importing the plugin's cache modules"))


def measure_minting(bench: Bench, plan: Plan, report: Report, latency_ms: float) -> None:
    """Lookups that reach the token endpoint (all of the official plugin's, our cold ones)."""
    bench.fake.latency = latency_ms / 1000
    tag = f"{latency_ms:g} ms"
    with bench.grants() as counted:
        warm = _compare(report, plan, f"warm_ar_vs_official_{latency_ms:g}ms", bench.keyring_get(GAR, "warm", AR_URL),
                        bench.keyring_get(OFFICIAL, f"ar-{latency_ms:g}ms", AR_URL))
    # Proof that the official plugin's lookups really went to the loopback endpoint, one grant each.
    runs = plan.warmup + plan.pairs
    require(counted[0] == runs, f"{counted[0]} grants for {runs} official lookups")
    report.figures.append(ratio_figure(f"warm AR `keyring get`, keyrings.gar / official plugin, {tag}", warm,
                                       0.5, 0.5, f"; the official plugin made {counted[0]} grants"))

    cold = _compare(report, plan, f"cold_ar_vs_official_{latency_ms:g}ms",
                    bench.keyring_get(GAR, f"cold-{latency_ms:g}", AR_URL, fresh_cache=True),
                    bench.keyring_get(OFFICIAL, f"cold-{latency_ms:g}", AR_URL))
    report.figures.append(ratio_figure(f"cold AR `keyring get` (both mint), keyrings.gar / official plugin, {tag}",
                                       cold))
    latency = latency_ms / 1000
    ours = [bench.measured_inside(bench.in_process(GAR, f"cold-{latency_ms:g}", FIRST_LOOKUP, fresh_cache=True))
            for _ in range(plan.runs)]
    theirs = [bench.measured_inside(bench.in_process(OFFICIAL, f"cold-{latency_ms:g}", FIRST_LOOKUP))
              for _ in range(plan.runs)]
    ours_wall = Summary([run["seconds"] - latency for run in ours])
    ours_cpu = Summary([run["cpu"] for run in ours])
    whole = Summary([t - latency for t in cold.a_times])
    report.figures.append(Figure(
        f"cold lookup minus the endpoint's latency, {tag} (in-process `get_password`)", ours_wall.median * 1000, "ms",
        150.0, cpu=f"{ours_cpu.median * 1000:.0f} ms", detail=(
            f"keyrings.gar {_ms(ours_wall)} (CPU {_ms(ours_cpu)}), official plugin "
            f"{_ms(Summary([run['seconds'] - latency for run in theirs]))} (CPU "
            f"{_ms(Summary([run['cpu'] for run in theirs]))}; its google-auth imports happen before, when keyring "
            f"loads it); whole cold `keyring get` process minus latency: keyrings.gar {_ms(whole)}")))

    for name, label, target in ((GAR, "keyrings.gar", 1.0), (OFFICIAL, "official plugin", None)):
        grants = bench.stampede(name, f"stampede-{latency_ms:g}")
        report.figures.append(Figure(
            f"token grants, {CONCURRENT} concurrent cold processes then {LATER} lookups: {label}, {tag}", grants,
            "grants", target, detail="counted at the loopback endpoint"))


def _extra(a: Paired, b: Paired | None = None) -> Summary:
    """A's extra wall-clock time over B, pair by pair (for `b`, the same of its own pairs)."""
    extra = [x - y for x, y in zip(a.a_times, a.b_times)]
    if b is None:
        return Summary(extra)
    return Summary([extra_i / (x - y) for extra_i, x, y in zip(extra, b.a_times, b.b_times)])


def measure_failures(bench: Bench, plan: Plan, report: Report) -> None:
    """Installs whose lookups fail: what they cost over bare keyring, in probes and timeouts."""
    from failing import HANG_TIMEOUT, NO_CREDENTIALS_LINE, FailingInstalls, Tally, keyring_failed, pip_failed

    from tests.loopback.stack import LoopbackStack, new_identities

    with LoopbackStack(*new_identities()) as stack:
        installs = FailingInstalls(stack, bench.workdir, bench.env)
        try:
            probes = Tally(lambda: installs.silent.connections, "metadata probes")
            gar, bare = bench.venvs[GAR], bench.venvs[BARE]
            one = _compare(report, plan, "no_credentials_lookup_vs_bare",
                           installs.keyring_get(gar, "no-credentials", probes.expect(1, keyring_failed)),
                           installs.keyring_get(bare, "no-credentials", probes.expect(0, keyring_failed)))
            report.figures.append(ratio_figure(
                "one `keyring get` with no credentials (one metadata probe), keyrings.gar / bare keyring", one,
                note=f"; the probe costs {_ms(_extra(one))}"))
            for provider, repositories in (("import", 1), ("import", 2), ("subprocess", 2)):
                says = NO_CREDENTIALS_LINE if provider == "import" else None  # pip hides keyring's stderr
                where = "one repository" if repositories == 1 else f"{repositories} repositories on one host"
                scenario = f"no-credentials-{repositories}"
                install = _compare(report, plan, f"no_credentials_pip_{provider}_{repositories}_vs_bare",
                                   installs.pip_install(gar, scenario, provider, probes.expect(1, pip_failed(says)),
                                                        repositories=repositories),
                                   installs.pip_install(bare, scenario, provider, probes.expect(0, pip_failed(None)),
                                                        repositories=repositories))
                report.figures.append(ratio_figure(
                    f"pip install with no credentials, {where} ({provider} provider), keyrings.gar / bare keyring",
                    install))
                report.figures.append(Figure(
                    f"pip install with no credentials, {where} ({provider} provider): cost over bare keyring, "
                    "in probes", _extra(install, one).median, "x", 1.3, detail=(
                        f"keyrings.gar's extra time {_ms(_extra(install))} over bare keyring, divided pair by pair "
                        f"by one lookup's extra time {_ms(_extra(one))} (one metadata probe); each run made "
                        f"exactly one probe for its {repositories} index lookup(s)")))

            hang_pairs = Plan(min(plan.pairs, 7), 1, plan.runs, plan.latencies_ms)
            gcloud = installs.hanging_gcloud(gar, "hanging-gcloud")
            hang_env = {"KEYRINGS_GAR_TIMEOUT": f"{HANG_TIMEOUT:g}"}
            starts = Tally(lambda: len(gcloud.calls()), "gcloud starts")
            hang = _compare(report, hang_pairs, "hanging_gcloud_pip_vs_bare",
                            installs.pip_install(gar, "hanging-gcloud", "import",
                                                 starts.expect(1, pip_failed("timed out")), repositories=2,
                                                 extra_env=hang_env, path=[gcloud.bin_dir]),
                            installs.pip_install(bare, "hanging-gcloud", "import",
                                                 starts.expect(0, pip_failed(None)), repositories=2,
                                                 extra_env=hang_env, path=[gcloud.bin_dir]))
            in_timeouts = Summary([x / HANG_TIMEOUT for x in _extra(hang).values])
            report.figures.append(Figure(
                "pip install with a hanging gcloud, 2 repositories on one host (import provider): cost over bare "
                "keyring, in timeouts", in_timeouts.median, "x", 1.3, detail=(
                    f"KEYRINGS_GAR_TIMEOUT={HANG_TIMEOUT:g}; keyrings.gar's extra time {_ms(_extra(hang))} over "
                    f"bare keyring ({_pair_detail(hang)}); gcloud was started once per install")))
        finally:
            installs.close()


def measure_wif(bench: Bench, plan: Plan, report: Report) -> None:
    """Workload identity federation, cold: network calls per mint and time, ours against
    google-auth's default path (see wif.py), at the plan's last (highest) latency."""
    from wif import GOOGLE_AUTH_DEFAULT, OURS, WifSetup, describe

    from tests.loopback.proxy import TlsProxy
    from tests.loopback.stack import google_routes

    setup = WifSetup(bench.fake, bench.workdir)
    latency_ms = plan.latencies_ms[-1]
    bench.fake.latency = latency_ms / 1000
    venv = bench.venvs[GAR]
    with TlsProxy(google_routes(bench.fake)) as proxy:
        ca_file = proxy.write_ca(bench.workdir / "wif-ca.pem")
        for impersonate in (False, True):
            scenario = f"wif{'-impersonated' if impersonate else ''}"
            env = {**bench.env(venv, scenario), **setup.environ(proxy.url, ca_file, impersonate)}
            check = setup.expect_token(impersonate)
            ours = Command(f"keyrings.gar {scenario}", [str(venv.python), "-c", OURS], env, check,
                           bench.home(venv, scenario), fresh_cache=True)
            theirs = Command(f"google-auth default {scenario}", [str(venv.python), "-c", GOOGLE_AUTH_DEFAULT],
                             env, check, bench.home(venv, scenario))
            with setup.calls() as our_calls:
                ours.run()
            with setup.calls() as their_calls:
                theirs.run()
            what = "with impersonation" if impersonate else "file-sourced"
            report.figures.append(Figure(
                f"WIF cold lookup, network calls per mint ({what}): keyrings.gar", sum(our_calls.values()), "grants",
                2.0 if impersonate else 1.0,
                detail=f"{describe(our_calls)}; google-auth's default path: {describe(their_calls)} "
                       f"({sum(their_calls.values())} calls)"))
            result = _compare(report, plan, f"wif_cold_{scenario}_{latency_ms:g}ms", ours, theirs)
            report.figures.append(ratio_figure(
                f"WIF cold lookup ({what}), keyrings.gar / google-auth default path, {latency_ms:g} ms", result))
    bench.fake.latency = 0.0


def measure_wif_warm(bench: Bench, plan: Plan, report: Report) -> None:
    """Warm lookups from each federated source kind against bare keyring: the token is cached,
    but a URL's or an executable's subject token is retrieved on every lookup (only it says
    whose the token is), so those pay the retrieval and save the STS exchange."""
    from wif import WARM_KINDS, WarmSources

    from tests.loopback.federation import GITHUB_TOKEN_HOST
    from tests.loopback.proxy import TlsProxy
    from tests.loopback.stack import google_routes

    sources = WarmSources(bench.fake, bench.workdir)
    venv = bench.venvs[GAR]
    with sources.github, TlsProxy(google_routes(bench.fake) | {GITHUB_TOKEN_HOST: sources.github.address}) as proxy:
        ca_file = proxy.write_ca(bench.workdir / "wif-warm-ca.pem")
        for kind in WARM_KINDS:
            scenario = f"wif-warm-{kind}"
            ours = Command(f"keyrings.gar {scenario}", [str(venv.keyring), "get", AR_URL, AR_USERNAME],
                           {**bench.env(venv, scenario), **sources.environ(kind, proxy.url, ca_file)},
                           sources.expect_token(), bench.home(venv, scenario))
            before_sts, before_id = bench.fake.calls["sts-token"], sources.github.calls["idtoken"]
            result = _compare(report, plan, f"wif_warm_{kind}_vs_bare", ours,
                              bench.keyring_get(BARE, "warm", AR_URL))
            lookups = plan.pairs + plan.warmup
            exchanges = bench.fake.calls["sts-token"] - before_sts
            require(exchanges == 1, f"{kind}-sourced warm lookups made {exchanges} STS exchanges, not 1")
            retrieved = sources.github.calls["idtoken"] - before_id
            note = f"; {exchanges} STS exchange for {lookups} lookups"
            if kind == "url":
                note += f", the subject token URL asked {retrieved} times"
            report.figures.append(ratio_figure(
                f"warm AR `keyring get`, {kind}-sourced workload identity federation, keyrings.gar / bare keyring",
                result, note=note))


def measure_imports(bench: Bench, plan: Plan, report: Report) -> None:
    """Which modules a lookup loads in each venv, which heavy ones, and what they cost."""
    print(f"benchmark: import cost, {plan.runs} runs of `python -X importtime` per lookup", flush=True)
    found: dict[str, tuple[list[str], Any]] = {}
    # keyring loads plugins with importlib, which -X importtime does not report: import ours by
    # statement first, so that its own cost shows (the modules loaded are the same).
    for name, preimport in ((BARE, ()), (GAR, ("keyrings_gar.backend",)), (OFFICIAL, ())):
        venv = bench.venvs[name]
        for kind, service, scenario in (("non-AR", OTHER_URL, "other"), ("warm AR", AR_URL, "warm")):
            with bench.grants() as counted:
                modules, rows = probe(str(venv.python), bench.env(venv, scenario), bench.home(venv, scenario),
                                      (service, AR_USERNAME), runs=plan.runs, preimport=preimport)
            require(name == GAR or not any(m.startswith("keyrings_gar") for m in modules),
                    f"keyrings.gar was loaded in the {name} venv")
            require(name == OFFICIAL or counted[0] == 0, f"{name} minted during the {kind} import probe")
            found[f"{name} {kind}"] = (modules, rows)
    for kind in ("non-AR", "warm AR"):
        bare_modules = set(found[f"{BARE} {kind}"][0])
        for name in (GAR, OFFICIAL):
            modules, rows = found[f"{name} {kind}"]
            added = sorted(set(modules) - bare_modules)
            by_name = {row.module: row for row in rows}
            report.imports[f"{name}, {kind} lookup"] = {
                "heavy_imported": heavy_modules(modules),
                "heavy_added_over_bare": heavy_modules(added),
                "modules_added_over_bare": added,
                "added_self_ms": sum(by_name[m].self_us for m in added if m in by_name) / 1000,
                "top_cumulative_ms": [(r.module, r.cumulative_us / 1000) for r in top_cumulative(rows, 8)],
                "plugin_modules_ms": [(r.module, r.self_us / 1000, r.cumulative_us / 1000) for r in rows
                                      if r.module.startswith("keyrings_gar")],
            }
    bare_rows = found[f"{BARE} non-AR"][1]
    report.imports["bare keyring, non-AR lookup"] = {
        "top_cumulative_ms": [(r.module, r.cumulative_us / 1000) for r in top_cumulative(bare_rows, 8)],
    }


def measure(args: argparse.Namespace, venvs: dict[str, Venv]) -> int:
    sys.path.insert(0, str(REPO))
    from tests.loopback.google import FakeGoogle

    plan = Plan(5, 1, 5, []) if args.quick else Plan(args.pairs, max(1, args.warmup), 15, [])
    plan = Plan(plan.pairs, plan.warmup, plan.runs, [float(x) for x in args.latencies.split(",")])
    report = Report()
    started = time.time()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    # A loopback port that is bound but never listens refuses every connection.
    with socket.socket() as closed, tempfile.TemporaryDirectory(prefix="keyrings-gar-bench-") as scratch, \
            FakeGoogle() as fake:
        closed.bind(("127.0.0.1", 0))
        bench = Bench(venvs, fake, Path(scratch), closed.getsockname()[1])
        if not (args.wif_only or args.only_failures):
            measure_offline(bench, plan, report)
            measure_imports(bench, plan, report)
            for latency_ms in plan.latencies_ms:
                measure_minting(bench, plan, report, latency_ms)
        if not args.only_failures:
            measure_wif(bench, plan, report)
            measure_wif_warm(bench, plan, report)
        if not (args.skip_failures or args.wif_only):
            measure_failures(bench, plan, report)
        report.extra["grants_total"] = len(fake.grants)
        report.extra["rejected_requests"] = list(fake.rejections)

    report.machine = machine_info(venvs)
    report.machine["load_average_before"] = load_before
    report.machine["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report.machine["duration_s"] = round(time.time() - started, 1)
    print(render(report, plan))
    write_json(report, plan, args.original_argv)
    return 1 if any(f.status == "MISS" for f in report.figures) else 0


def machine_info(venvs: dict[str, Venv]) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {name: installed_versions(venvs[name], "keyring", "google-auth", "requests", "keyrings.gar",
                                         "keyrings.google-artifactregistry-auth")
                for name in (BARE, GAR, OFFICIAL)}
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def render(report: Report, plan: Plan) -> str:
    lines = ["", "## Figures", "",
             "Ratios are medians of per-pair ratios of wall-clock time; A / B are each side's median.", "",
             "| figure | result | A / B | CPU time | target | status |", "|---|---|---|---|---|---|"]
    lines += [f"| {f.name} | {f.formatted()} | {f.medians} | {f.cpu} | {f.goal()} | {f.status} |"
              for f in report.figures]
    lines += ["", "## Paired runs", "",
              (f"{plan.pairs} pairs each, A and B alternating, after {plan.warmup} warm-up round(s); "
               "ratio = A/B pair by pair; [min, max]."),
              "", "| A / B | median ratio | A median | B median | CPU-time ratio |", "|---|---|---|---|---|"]
    for result in report.comparisons.values():
        ratios = result.ratios
        lines.append(f"| {result.a.label} / {result.b.label} | {ratios.median:.3f} [{ratios.low:.3f}, "
                     f"{ratios.high:.3f}] | {_ms(result.a_summary)} | {_ms(result.b_summary)} | {_cpu(result)} |")
    lines += ["", "## Details", ""]
    lines += [f"- {f.name}: {f.detail}" for f in report.figures if f.detail]
    lines += ["", f"## Import cost (`python -X importtime`, medians of {plan.runs} runs)", "",
              f"Heavy packages checked: {', '.join(HEAVY)}.", ""]
    for key, found in report.imports.items():
        tops = ", ".join(f"{m} {ms:.1f} ms" for m, ms in found["top_cumulative_ms"])
        if "heavy_imported" not in found:
            lines.append(f"- **{key}**: top cumulative imports: {tops}")
            continue
        heavy = [name for name, present in found["heavy_imported"].items() if present]
        heavy_added = [name for name, present in found["heavy_added_over_bare"].items() if present]
        added = found["modules_added_over_bare"]
        shown = ", ".join(added) if len(added) <= 12 else ", ".join(added[:12]) + f", … ({len(added)} in all)"
        lines.append(f"- **{key}**: heavy packages imported: {', '.join(heavy) or 'none'}; "
                     f"added over bare keyring: {', '.join(heavy_added) or 'none'}")
        lines.append(f"  - modules added over bare keyring: {shown or 'none'} "
                     f"(their own import time: {found['added_self_ms']:.1f} ms)")
        if found["plugin_modules_ms"]:
            lines.append("  - keyrings_gar modules, self/cumulative ms: " + ", ".join(
                f"{m} {s:.2f}/{c:.2f}" for m, s, c in found["plugin_modules_ms"]))
        lines.append(f"  - top cumulative imports: {tops}")
    machine, versions = report.machine, report.machine["versions"]
    lines += ["", "## Machine", "",
              (f"{machine['nproc']} cores ({machine['cpu']}), Python {machine['python']}, {machine['platform']}; "
               f"keyring {versions[GAR].get('keyring')}, google-auth {versions[GAR].get('google-auth')}, "
               f"official plugin {versions[OFFICIAL].get('keyrings.google-artifactregistry-auth')}; load average "
               f"{_load(machine['load_average_before'])} before, {_load(machine['load_average_after'])} after; "
               f"{machine['duration_s']} s."), ""]
    return "\n".join(lines)


def _load(average: tuple[float, float, float] | None) -> str:
    return "?" if average is None else "/".join(f"{x:.2f}" for x in average)


def write_json(report: Report, plan: Plan, argv: list[str]) -> None:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    data = {
        "when": stamp,
        "command": " ".join(["python3", "benchmarks/run.py", *argv]),
        "pairs": plan.pairs, "warmup": plan.warmup, "runs": plan.runs, "latencies_ms": plan.latencies_ms,
        "machine": report.machine,
        "figures": [{"name": f.name, "value": f.value, "unit": f.unit, "target": f.target, "floor": f.floor,
                     "status": f.status, "medians": f.medians, "cpu": f.cpu, "detail": f.detail}
                    for f in report.figures],
        "paired": {key: result.as_dict() for key, result in report.comparisons.items()},
        "imports": report.imports,
        **report.extra,
    }
    text = json.dumps(data, indent=2, default=str)
    (results / f"run-{stamp}.json").write_text(text)
    (results / "latest.json").write_text(text)
    print(f"benchmark: wrote benchmarks/results/run-{stamp}.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 pairs per comparison: a smoke run")
    parser.add_argument("--pairs", type=int, default=21, help="timed pairs per comparison (default 21)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds before each comparison (default 3)")
    parser.add_argument("--latencies", default="0,150", help="added token endpoint latencies in ms (default 0,150)")
    parser.add_argument("--wif-only", action="store_true", help="only the workload identity federation rows")
    parser.add_argument("--skip-failures", action="store_true",
                        help="leave out the failing installs (no credentials, hanging gcloud)")
    parser.add_argument("--only-failures", action="store_true", help="measure only the failing installs")
    parser.add_argument("--rebuild", action="store_true", help="build the venvs from scratch")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venvs (default: this one)")
    parser.add_argument("--venvs", type=Path, default=HERE / ".venvs", help="where the venvs live")
    parser.add_argument("--in-harness", action="store_true", help=argparse.SUPPRESS)
    original = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(original)
    args.original_argv = [a for a in original if a != "--in-harness"]
    if args.in_harness:
        return measure(args, venvs_under(args.venvs))
    venvs = ensure_venvs(args.venvs, REPO, args.python, args.rebuild)
    # The loopback token endpoint needs cryptography: measure from the harness venv, which has it.
    return subprocess.run([str(venvs[HARNESS].python), str(Path(__file__).resolve()), *args.original_argv,
                           "--in-harness"], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
