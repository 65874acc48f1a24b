"""Secrets never reach the record, the logs or the terminal."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from procedures.errors import ConfigError
from procedures.lab import Lab
from procedures.record.secrets import MASK, Secret, redact, register_basic_auth
from procedures.run.maintenance import Maintenance
from tests.conftest import run_features

SECRET = "s3cr3t-Tok3n-Pl4nted-0451"


def test_a_secret_hides_from_repr_and_str() -> None:
    secret = Secret(SECRET)
    assert SECRET not in repr(secret) and SECRET not in str(secret) and SECRET not in f"{secret!r} {secret}"
    assert secret.reveal() == SECRET


def test_known_values_and_their_encodings_are_masked() -> None:
    Secret(SECRET)
    register_basic_auth("admin", "pa55word-xyz")
    basic = base64.b64encode(b"admin:pa55word-xyz").decode()
    text = f"token {SECRET} b64 {base64.b64encode(SECRET.encode()).decode()} header {basic}"
    assert SECRET not in redact(text) and basic not in redact(text)
    assert redact(text).count(MASK) == 3


def test_credential_shapes_are_masked_without_knowing_the_value() -> None:
    text = "Authorization: Bearer abcdef0123456789\npassword=hunter22&x=1\n{\"api_key\": \"k-987654321\"}"
    clean = redact(text)
    for leaked in ("abcdef0123456789", "hunter22", "k-987654321"):
        assert leaked not in clean
    assert "x=1" in clean


def test_a_secret_in_the_inventory_environment_appears_nowhere(lab: Lab, tmp_path: Path, features) -> None:
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["components"]["gateway"]["health"]["token_env"] = "FLATNET_TEST_GATEWAY_TOKEN"
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    log_file = tmp_path / "run.log"

    run = features("features/gateway_update.feature", "--inventory", str(path), "--plan", str(lab.plan_path),
                   f"--log-file={log_file}", "--log-file-level=DEBUG", "-rA",
                   env={"FLATNET_TEST_GATEWAY_TOKEN": SECRET})
    assert run.rc == 0, run.output
    forms = [SECRET, base64.b64encode(SECRET.encode()).decode().rstrip("=")]
    attachments = list(run.results.iterdir())
    assert any("authorization: " + MASK in p.read_text().lower() for p in attachments if p.suffix == ".txt")
    for place in [*attachments, log_file]:
        text = place.read_text(errors="replace")
        assert not any(form in text for form in forms), f"secret leaked into {place}"
    assert not any(form in run.output for form in forms)


# -- a secret written where it does not belong -------------------------------------------------------
PLANTED = "Hunter2-Pl4nted!x9"
# (file, where in it, the key the operator typed): misspelled credential keys, inline credentials,
# and a secret pasted into a field that names an environment variable.
MISTAKES = [
    ("inventory", ("hosts", "gw"), "pasword"),
    ("inventory", ("hosts", "gw"), "passwrod"),
    ("inventory", ("hosts", "gw"), "Password"),
    ("inventory", ("hosts", "gw"), "pwd"),
    ("inventory", ("hosts", "gw"), "passphrase"),
    ("inventory", ("hosts", "gw"), "password_evn"),
    ("inventory", ("hosts", "gw"), "password_env"),
    ("inventory", ("components", "gateway", "health"), "tokn"),
    ("inventory", ("components", "gateway", "health"), "token_env"),
    ("inventory", ("components", "gateway", "health"), "api_kye"),
    ("inventory", ("components", "gateway"), "secert"),
    ("plan", ("notify", "smtp"), "pasword"),
    ("plan", ("notify", "smtp"), "password_env"),
    ("plan", ("notify", "webhook"), "tokne"),
    ("plan", ("notify", "webhook"), "token"),
    ("plan", (), "credentials"),
]


def site_files(tmp_path: Path, mistake: tuple[str, tuple[str, ...], str] | None = None) -> list[str]:
    """``--inventory``/``--plan`` for a made-up site (nothing is ever reached: validation comes first)."""
    inventory = {"name": "site", "hosts": {"gw": {"transport": "local", "lock_dir": str(tmp_path / "lock")}},
                 "components": {"gateway": {"host": "gw", "root": str(tmp_path / "flatnet"),
                                            "front": {"url": "http://127.0.0.1:9/"},
                                            "health": {"url": "http://127.0.0.1:9/api/health"}}}}
    plan = {"id": "mw-secret", "records_dir": str(tmp_path / "records"),
            "changes": {"gateway": {"release": str(tmp_path / "release"), "version": "1.27.1.2"}},
            "notify": {"smtp": {"sender": "ops@example.internal", "recipients": ["users@example.internal"]},
                       "webhook": {"url": "http://127.0.0.1:9/hooks"}}}
    if mistake:
        which, where, key = mistake
        node = inventory if which == "inventory" else plan
        for part in where:
            node = node[part]
        node[key] = PLANTED
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    return ["--inventory", str(tmp_path / "inventory.yaml"), "--plan", str(tmp_path / "plan.yaml")]


def test_a_secret_in_a_misspelled_or_rejected_field_is_named_never_shown(tmp_path: Path) -> None:
    """A dozen and more mistakes with a credential: each is refused with the file and field, never the value."""
    for mistake in MISTAKES:
        folder = tmp_path / f"{mistake[0]}-{mistake[2]}"
        folder.mkdir()
        args = site_files(folder, mistake)
        with pytest.raises(ConfigError) as refused:
            Maintenance.load(Path(args[1]), Path(args[3]))
        message = str(refused.value)
        assert PLANTED not in message and "Pl4nted" not in message, f"{mistake}: {message}"
        assert f"{mistake[0]}.yaml" in message and mistake[2].split("_")[0].lower() in message.lower(), message


@pytest.mark.parametrize("mistake", [MISTAKES[0], MISTAKES[6], MISTAKES[12]], ids=lambda m: f"{m[0]}-{m[2]}")
def test_a_secret_in_a_refused_file_appears_nowhere_even_with_tracebacks_asked_for(
        tmp_path: Path, mistake: tuple[str, tuple[str, ...], str]) -> None:
    run = run_features(None, tmp_path, "features/gateway_update.feature", *site_files(tmp_path, mistake),
                       "-vv", "--tb=long", "--full-trace")
    assert run.rc == pytest.ExitCode.USAGE_ERROR, run.output
    assert mistake[2] in run.output and "Traceback" not in run.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    for place in written:
        assert PLANTED not in place.read_text(errors="replace"), f"the secret reached {place}"
    assert PLANTED not in run.output
    assert not (tmp_path / "records").exists() and not (tmp_path / "lock").exists()  # nothing ran: no journal
