"""The subject token's part of a federated cache key: claims that last, keyed with a private salt."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from keyrings_gar import subject_identity
from keyrings_gar.subject_identity import SALT_FILE, subject_key
from keyrings_gar.subject_identity import subject_identity as identity_of


def _jwt(**claims: object) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl"


def test_a_fresh_id_token_for_the_same_job_names_the_same_identity() -> None:
    job = {"iss": "https://gitlab.com", "sub": "project_path:acme/app:ref_type:branch:ref:main", "job_id": "9"}
    assert identity_of(_jwt(**job, jti="a", iat=1, nbf=1, exp=9)) == identity_of(_jwt(**job, jti="b", iat=5, exp=20))
    assert identity_of(_jwt(**job, jti="a")) != identity_of(_jwt(**{**job, "job_id": "10"}, jti="a"))


def test_a_token_that_only_looks_like_a_jwt_is_keyed_whole() -> None:
    assert identity_of("a.b.c") == b"token\0a.b.c"
    assert identity_of("not-a-jwt") != identity_of("not-a-jwt2")


def test_the_salt_is_a_private_file_every_process_of_the_cache_shares(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    token = _jwt(iss="x", sub="y")
    key = subject_key(token, folder)
    salt = folder / SALT_FILE
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    code = ("import sys; from pathlib import Path; from keyrings_gar.subject_identity import subject_key; "
            "print(subject_key(sys.argv[1], Path(sys.argv[2])))")
    other = subprocess.run([sys.executable, "-c", code, token, str(folder)], capture_output=True, text=True,
                           check=True, timeout=60)
    assert other.stdout.strip() == key
    # Another cache (another job's folder) has another salt: the same claims give another key.
    assert subject_key(token, tmp_path / "other-cache") != key


def test_the_key_cannot_be_recomputed_without_the_salt(tmp_path: Path) -> None:
    import hashlib

    token = _jwt(iss="https://token.actions.githubusercontent.com", sub="repo:acme/app:ref:refs/heads/main")
    key = subject_key(token, tmp_path)
    assert key != hashlib.sha256(identity_of(token)).hexdigest()
    assert token not in key


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_salt_planted_as_a_link_or_open_to_others_is_not_used(tmp_path: Path) -> None:
    token = _jwt(iss="x", sub="y")
    planted = tmp_path / "known-salt"
    planted.write_bytes(b"k" * 32)
    planted.chmod(0o600)
    linked = tmp_path / "linked"
    linked.mkdir(mode=0o700)
    (linked / SALT_FILE).symlink_to(planted)
    assert subject_key(token, linked) == subject_key(token, None)  # this process's own salt
    readable = tmp_path / "readable"
    readable.mkdir(mode=0o700)
    (readable / SALT_FILE).write_bytes(b"k" * 32)
    (readable / SALT_FILE).chmod(0o644)
    assert subject_key(token, readable) == subject_key(token, None)
    assert subject_identity.read_salt(planted) == b"k" * 32  # the same bytes, where they may be trusted
