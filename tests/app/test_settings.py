"""Configuration: environment variables, *_FILE secrets and production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from asoud.platform.keyring import new_keyring, write_keyring
from asoud.platform.settings import ConfigurationError, Environment, load_settings


def _safe_production(tmp_path: Path) -> dict[str, str]:
    keyring = tmp_path / "keyring.json"
    write_keyring(keyring, new_keyring())
    return {
        "ASOUD_ENVIRONMENT": "production",
        "ASOUD_DATABASE_URL": "postgresql://asoud@db:5432/asoud",
        "ASOUD_REDIS_URL": "redis://redis:6379/0",
        "ASOUD_SMS_PROVIDER": "smsir",
        "ASOUD_SMS_INTERNATIONAL_PROVIDER": "twilio",
        "ASOUD_JWT_KEYRING_FILE": str(keyring),
        "ASOUD_SECRET_KEY": "s" * 48,
        "ASOUD_PUBLIC_BASE_URL": "https://api.asoud.ir",
        "ASOUD_SMSIR_API_KEY": "k" * 20,
        "ASOUD_SMSIR_TEMPLATE_ID": "123456",
        "ASOUD_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "ASOUD_TWILIO_AUTH_TOKEN": "t" * 32,
        "ASOUD_TWILIO_FROM_NUMBER": "+15005550006",
        "ASOUD_ZARINPAL_MERCHANT_ID": "9f5c2a1e-0000-4000-8000-00000000a501",
    }


def test_safe_production_configuration_loads(tmp_path: Path) -> None:
    settings = load_settings(_safe_production(tmp_path))
    assert settings.environment is Environment.production and settings.is_production


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ASOUD_DATABASE_URL", "sqlite://db.sqlite3", "not SQLite"),
        ("ASOUD_REDIS_URL", "memory://", "not memory://"),
        ("ASOUD_SMS_PROVIDER", "outbox", "'outbox' SMS provider"),
        ("ASOUD_SMS_INTERNATIONAL_PROVIDER", "outbox", "'outbox' SMS provider"),
        ("ASOUD_DEBUG", "true", "ASOUD_DEBUG must be off"),
        ("ASOUD_SECRET_KEY", "short", "at least 32 characters"),
        ("ASOUD_PUBLIC_BASE_URL", "http://api.asoud.ir", "https://"),
        ("ASOUD_JWT_KEYRING_FILE", "/nonexistent/keyring.json", "does not exist"),
        ("ASOUD_CORS_ALLOW_ORIGINS", "*", "may not be *"),
        ("ASOUD_SMSIR_API_KEY", "", "SMS provider smsir needs ASOUD_SMSIR_API_KEY"),
        ("ASOUD_TWILIO_AUTH_TOKEN", "", "SMS provider twilio needs ASOUD_TWILIO_AUTH_TOKEN"),
        ("ASOUD_ZARINPAL_MERCHANT_ID", "", "gateway zarinpal needs ASOUD_ZARINPAL_MERCHANT_ID"),
        ("ASOUD_PAYMENT_GATEWAYS", "zarinpal,stripe", "needs ASOUD_STRIPE_SECRET_KEY"),
    ],
)
def test_production_refuses_unsafe_settings(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    environ = {**_safe_production(tmp_path), name: value}
    with pytest.raises(ConfigurationError, match="refusing to start in production") as error:
        load_settings(environ)
    assert message in str(error.value)


def test_production_without_signing_keys_is_refused(tmp_path: Path) -> None:
    environ = _safe_production(tmp_path)
    del environ["ASOUD_JWT_KEYRING_FILE"]
    with pytest.raises(ConfigurationError, match="ASOUD_JWT_KEYRING_FILE is required"):
        load_settings(environ)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    environ = {**_safe_production(tmp_path), "ASOUD_DEBUG": "1", "ASOUD_DATABASE_URL": "sqlite://x"}
    with pytest.raises(ConfigurationError) as error:
        load_settings(environ)
    assert "ASOUD_DEBUG" in str(error.value) and "SQLite" in str(error.value)


def test_development_accepts_the_embedded_defaults() -> None:
    settings = load_settings({"ASOUD_REDIS_URL": "memory://"})
    assert settings.uses_sqlite and settings.uses_embedded_redis and not settings.is_production


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-mounted-secret\n")
    settings = load_settings({"ASOUD_SECRET_KEY_FILE": str(secret)})
    assert settings.secret_key == "from-a-mounted-secret"
    assert "from-a-mounted-secret" not in repr(settings)


def test_value_and_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    with pytest.raises(
        ConfigurationError, match="either ASOUD_SECRET_KEY or ASOUD_SECRET_KEY_FILE"
    ):
        load_settings({"ASOUD_SECRET_KEY": "y", "ASOUD_SECRET_KEY_FILE": str(secret)})


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ASOUD_SECRET_KEY_FILE: cannot read"):
        load_settings({"ASOUD_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_invalid_values_are_explained() -> None:
    with pytest.raises(ConfigurationError, match="ASOUD_DATABASE_POOL_MAX"):
        load_settings({"ASOUD_DATABASE_POOL_MAX": "lots"})
    with pytest.raises(ConfigurationError, match="ASOUD_ENVIRONMENT"):
        load_settings({"ASOUD_ENVIRONMENT": "staging-ish"})


def test_cors_origins_are_a_comma_list() -> None:
    settings = load_settings({"ASOUD_CORS_ALLOW_ORIGINS": "https://a.ir, https://b.ir"})
    assert settings.cors_allow_origins == ("https://a.ir", "https://b.ir")


def test_bad_rate_limit_is_refused_when_loading() -> None:
    with pytest.raises(ConfigurationError, match="ASOUD_RATE_LIMIT_USER: expected") as error:
        load_settings({"ASOUD_RATE_LIMIT_USER": "lots/hour"})
    assert "Traceback" not in str(error.value)


def test_unknown_providers_and_gateways_are_named() -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings({"ASOUD_SMS_PROVIDER": "kavenegar", "ASOUD_PAYMENT_GATEWAYS": "bitpay"})
    text = str(error.value)
    assert "ASOUD_SMS_PROVIDER: Input should be 'outbox', 'smsir' or 'twilio'" in text
    assert "ASOUD_PAYMENT_GATEWAYS: unknown gateway bitpay" in text


def test_a_misspelt_variable_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings({"ASOUD_REDIS_ULR": "redis://x:6379/0", "ASOUD_TEST_DATABASE_URL": "y"})
    assert str(error.value) == (
        "unknown variables:\n  - ASOUD_REDIS_ULR is not a setting (did you mean ASOUD_REDIS_URL?)"
    )


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        (
            {"ASOUD_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/x"},
            "cannot reach the database (ConnectionRefusedError): is it running, and is "
            "ASOUD_DATABASE_URL right?",
        ),
        (
            {"ASOUD_SMS_PROVIDER": "kavenegar"},
            "  - ASOUD_SMS_PROVIDER: Input should be 'outbox', 'smsir' or 'twilio'",
        ),
        (
            {"ASOUD_REDIS_ULR": "redis://x:6379/0"},
            "  - ASOUD_REDIS_ULR is not a setting (did you mean ASOUD_REDIS_URL?)",
        ),
    ],
)
def test_migrate_explains_a_misconfiguration_in_one_line(
    environ: dict[str, str], line: str
) -> None:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASOUD_")}
    result = subprocess.run(
        [sys.executable, "-m", "asoud", "migrate"],
        env={**clean, **environ, "COLUMNS": "40"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (1, 2)
    assert line in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_production_start_refuses_with_exit_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    environ = {
        **_safe_production(tmp_path),
        "ASOUD_DATABASE_URL": "sqlite://x",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "asoud", "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr and "SQLite" in result.stderr
