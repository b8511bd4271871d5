"""Named tokens: the tokens file, scopes, rotation, expiry (shared/auth.py); the credentials a
process accepts and their reload (shared/credentials.py); the start-up rules of the settings;
``leadflow tokens``."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from shared.auth import (
    ALL_SCOPES,
    Principal,
    Refused,
    Scope,
    TokenEntry,
    TokensFileError,
    effective_scopes,
    entry_yaml,
    hash_token,
    identify,
    new_token,
    parse_scopes,
    parse_tokens,
)
from shared.credentials import Credentials
from shared.settings import DEV_ADMIN_TOKEN, CommonSettings

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _file(*entries: dict[str, object]) -> str:
    return yaml.safe_dump({"tokens": list(entries)})


def _entry(name: str, token: str, scopes: list[str], **extra: object) -> dict[str, object]:
    return {"name": name, "scopes": scopes, "sha256": hash_token(token), **extra}


def test_a_new_token_is_prefixed_high_entropy_and_hashes_to_64_hex() -> None:
    a, b = new_token(), new_token()
    assert a.startswith("lf_") and len(a) >= 40 and a != b
    assert len(hash_token(a)) == 64 and hash_token(a) == hash_token(a) != hash_token(b)


def test_the_file_parses_names_scopes_and_times() -> None:
    entries = parse_tokens(
        _file(
            _entry("alice", "lf_a", ["read", "admin"], created_at="2026-12-01T10:00:00Z"),
            _entry("importer", "lf_b", ["import"], expires_at="2027-01-01"),
        )
    )
    alice, importer = entries
    assert alice.scopes == {Scope.READ, Scope.ADMIN}
    assert alice.created_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert importer.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_tokens("") == ()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("tokens: [", "not YAML"),
        ("- a", "one key, tokens"),
        ("tokens: {}", "must be a list"),
        (_file({"name": "a", "scopes": ["read"]}), "sha256 must be 64 hex digits"),
        (_file(_entry("a", "t", [])), "scopes must be a non-empty list"),
        (_file(_entry("a", "t", ["root"])), "unknown scope 'root'"),
        (_file(_entry("Alice Smith", "t", ["read"])), "name must be"),
        (_file(_entry("a", "t", ["read"], role="x")), "unknown field(s) role"),
        (_file(_entry("a", "t", ["read"], expires_at="soon")), "not an ISO 8601 time"),
        (_file(_entry("a", "t", ["read"]), _entry("b", "t", ["admin"])), "appears twice"),
    ],
)
def test_a_bad_file_is_refused_saying_where(doc: str, message: str) -> None:
    with pytest.raises(TokensFileError) as caught:
        parse_tokens(doc, origin="tokens.yaml")
    assert message in str(caught.value) and "tokens.yaml" in str(caught.value)


def test_admin_implies_read_and_nothing_else() -> None:
    admin = Principal("alice", frozenset({Scope.ADMIN}))
    assert admin.allows(Scope.READ) and admin.allows(Scope.ADMIN)
    assert not admin.allows(Scope.IMPORT) and not admin.allows(Scope.ACTIVITIES)
    reader = Principal("bob", frozenset({Scope.READ}))
    assert reader.allows(Scope.READ) and not reader.allows(Scope.ADMIN)


@given(st.sets(st.sampled_from(list(Scope))))
def test_effective_scopes_only_add_and_are_idempotent(scopes: set[Scope]) -> None:
    once = effective_scopes(scopes)
    assert set(scopes) <= once and effective_scopes(once) == once
    assert (Scope.ADMIN in scopes) <= (Scope.READ in once)


def test_rotation_two_tokens_of_one_name_both_work_until_the_old_is_removed() -> None:
    old, new = "lf_old", "lf_new"
    during = parse_tokens(_file(_entry("ci", old, ["import"]), _entry("ci", new, ["import"])))
    assert all(
        isinstance(found := identify(during, t, NOW), TokenEntry) and found.name == "ci"
        for t in (old, new)
    )
    after = parse_tokens(_file(_entry("ci", new, ["import"])))
    assert identify(after, old, NOW) == Refused("unknown")
    assert isinstance(identify(after, new, NOW), TokenEntry)


def test_an_expired_token_is_refused_as_expired_and_a_wrong_one_as_unknown() -> None:
    entries = parse_tokens(
        _file(_entry("temp", "lf_t", ["read"], expires_at=(NOW + timedelta(hours=1)).isoformat()))
    )
    assert isinstance(identify(entries, "lf_t", NOW), TokenEntry)
    assert identify(entries, "lf_t", NOW + timedelta(hours=1)) == Refused("expired")
    assert identify(entries, "lf_x", NOW) == Refused("unknown")


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.sampled_from(["a", "b", "c"])),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    st.text(min_size=1, max_size=30),
)
def test_identify_finds_exactly_the_entry_of_the_token(
    tokens: list[tuple[str, str]], other: str
) -> None:
    entries = tuple(TokenEntry(n, frozenset({Scope.READ}), hash_token(t)) for t, n in tokens)
    for token, name in tokens:
        found = identify(entries, token, NOW)
        assert isinstance(found, TokenEntry) and found.name == name
    if other not in {t for t, _ in tokens}:
        assert identify(entries, other, NOW) == Refused("unknown")


def test_the_printed_entry_is_a_valid_file_line() -> None:
    entry = TokenEntry("alice", frozenset({Scope.ADMIN}), hash_token("lf_a"), created_at=NOW)
    (back,) = parse_tokens("tokens:\n" + entry_yaml(entry))
    assert back == entry


def test_scopes_from_the_command_line() -> None:
    assert parse_scopes("read, admin") == {Scope.READ, Scope.ADMIN}
    for bad in ("", "read,root"):
        with pytest.raises(ValueError):
            parse_scopes(bad)


# --- the credentials of a process ----------------------------------------------------------


def _settings(**kwargs: object) -> CommonSettings:
    kwargs.setdefault("erasure_hash_key", "a-real-erasure-hash-key-" * 2)
    return CommonSettings(database_url="postgresql+asyncpg://db/x", **kwargs)  # type: ignore[arg-type]


def test_dev_keeps_the_dev_token_with_every_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADFLOW_ADMIN_TOKEN", raising=False)
    creds = Credentials.from_settings(_settings(env="dev"))
    found = creds.authenticate(DEV_ADMIN_TOKEN)
    assert isinstance(found, TokenEntry) and found.name == "dev" and found.scopes == ALL_SCOPES
    prod = Credentials.from_settings(_settings(env="production", admin_token="s3cr3t-" * 4))
    assert prod.authenticate(DEV_ADMIN_TOKEN) == Refused("unknown")
    legacy = prod.authenticate("s3cr3t-" * 4)
    assert isinstance(legacy, TokenEntry) and legacy.name == "admin"


def test_outside_dev_a_tokens_file_or_the_single_token_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="LEADFLOW_ADMIN_TOKENS_FILE"):
        _settings(env="production")
    with pytest.raises(ValidationError, match="placeholder"):
        _settings(env="production", admin_token="changeme")
    path = tmp_path / "tokens.yaml"
    path.write_text(_file(_entry("alice", "lf_a", ["read"])))
    settings = _settings(env="production", admin_tokens_file=path)
    found = Credentials.from_settings(settings).authenticate("lf_a")
    assert isinstance(found, TokenEntry) and found.name == "alice"


def test_a_bad_or_missing_file_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match="cannot read"):
        Credentials(path=tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(_file(_entry("a", "t", ["root"])))
    with pytest.raises(TokensFileError, match="unknown scope"):
        Credentials(path=bad)


def test_the_file_is_re_read_when_it_changes_and_a_bad_edit_keeps_the_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(_file(_entry("ci", "lf_old", ["import"])))
    creds = Credentials(path=path, clock=lambda: NOW)
    assert isinstance(creds.authenticate("lf_old"), TokenEntry)

    def rewrite(text: str, tick: int) -> None:
        path.write_text(text)
        os.utime(path, ns=(tick, tick))  # an mtime of its own, whatever the clock's resolution

    rewrite(_file(_entry("ci", "lf_old", ["import"]), _entry("ci", "lf_new", ["import"])), 10**18)
    assert isinstance(creds.authenticate("lf_new"), TokenEntry)
    assert isinstance(creds.authenticate("lf_old"), TokenEntry)
    rewrite(_file(_entry("ci", "lf_new", ["import"])), 2 * 10**18)
    assert creds.authenticate("lf_old") == Refused("unknown")
    rewrite("tokens: [", 3 * 10**18)  # a broken edit: the tokens in force stay
    assert isinstance(creds.authenticate("lf_new"), TokenEntry)
    path.unlink()
    assert isinstance(creds.authenticate("lf_new"), TokenEntry)


# --- leadflow tokens -----------------------------------------------------------------------


def test_tokens_new_prints_a_token_once_and_its_entry(tmp_path: Path) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["tokens", "new", "--name", "alice", "--scopes", "read,admin"])
    assert result.exit_code == 0, result.output
    first, _, rest = result.stdout.partition("\n")
    token = first.rsplit(" ", 1)[-1]
    assert token.startswith("lf_")
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + rest.partition("\n")[2])
    (entry,) = parse_tokens(path.read_text())
    assert entry.name == "alice" and entry.sha256 == hash_token(token)
    assert entry.scopes == {Scope.READ, Scope.ADMIN} and entry.created_at is not None

    hashed = CliRunner().invoke(app, ["tokens", "hash"], input=token + "\n")
    assert hashed.exit_code == 0 and hashed.stdout.strip() == hash_token(token)

    checked = CliRunner().invoke(app, ["tokens", "check", str(path)])
    assert checked.exit_code == 0 and "alice\tadmin,read\tactive" in checked.stdout
    assert token not in checked.stdout and entry.sha256 not in checked.stdout


def test_tokens_check_and_new_refuse_what_is_wrong(tmp_path: Path) -> None:
    from shared.cli import app

    path = tmp_path / "tokens.yaml"
    path.write_text(_file(_entry("a", "t", ["root"])))
    checked = CliRunner().invoke(app, ["tokens", "check", str(path)])
    assert checked.exit_code == 1 and "unknown scope 'root'" in checked.stderr
    made = CliRunner().invoke(app, ["tokens", "new", "--name", "a", "--scopes", "root"])
    assert made.exit_code != 0 and "lf_" not in made.stdout
