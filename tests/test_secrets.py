"""Secrets never reach the record, the logs or the terminal."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from procedures.lab import Lab
from procedures.secrets import MASK, Secret, redact, register_basic_auth

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
