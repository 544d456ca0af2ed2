"""Configuration from environment variables.

Every setting is ``ASOUD_<NAME>``; a secret may instead be read from the file named by
``ASOUD_<NAME>_FILE`` (Kubernetes mounted Secrets). Setting both is refused, because the
operator and a human editing a Deployment would otherwise silently disagree.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PREFIX = "ASOUD_"
SmsProvider = Literal["outbox", "smsir", "twilio"]
GATEWAYS = ("zarinpal", "stripe", "paypal", "crypto")
# What each provider cannot work without; production refuses to start if one is empty.
PROVIDER_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "smsir": ("smsir_api_key", "smsir_template_id"),
    "twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from_number"),
}
GATEWAY_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "zarinpal": ("zarinpal_merchant_id",),
    "stripe": ("stripe_secret_key", "stripe_webhook_secret"),
    "paypal": ("paypal_client_id", "paypal_client_secret"),
    "crypto": ("crypto_api_url", "crypto_api_key", "crypto_webhook_secret"),
}
# ASOUD_* variables that are not settings: the test suite's, benchmarks', tools' and the
# operator's own. Any other unknown ASOUD_* variable is a typo and refused.
FOREIGN_PREFIXES = (
    "ASOUD_TEST_",
    "ASOUD_BENCH_",
    "ASOUD_LOAD_",
    "ASOUD_FUZZ_",
    "ASOUD_OPERATOR_",
    "ASOUD_DATABASE_ADMIN_URL",
    "ASOUD_NEW_DATABASE_PASSWORD",
)


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigurationError(Exception):
    """Raised at start-up when the configuration is unusable or unsafe (message for humans)."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = Environment.development
    debug: bool = False

    # Data stores. ``memory://`` selects the embedded in-process Redis (quick start only).
    database_url: str = "sqlite://.asoud/asoud.sqlite3"
    database_pool_min: int = Field(default=1, ge=1, le=100)
    database_pool_max: int = Field(default=10, ge=1, le=500)
    database_statement_timeout_ms: int = Field(default=30_000, ge=100)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_key_prefix: str = "asoud:"
    cache_enabled: bool = True
    # Rendered anonymous catalogue answers kept in each API process (asoud.platform.local_cache)
    local_cache_mb: int = Field(default=64, ge=0, le=4096)

    # HTTP
    cors_allow_origins: tuple[str, ...] = ()
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    public_base_url: str = "http://127.0.0.1:8000"

    # Secrets
    secret_key: str = Field(default="", repr=False)
    jwt_keyring_file: Path | None = None
    jwt_issuer: str = "asoud"
    jwt_audience: str = "asoud-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3600)
    keyring_reload_interval_seconds: float = Field(default=1.0, ge=0.0, le=300)

    # One-time codes
    otp_length: int = Field(default=6, ge=4, le=8)
    otp_ttl_seconds: int = Field(default=120, ge=30, le=900)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    otp_resend_lock_seconds: int = Field(default=60, ge=1, le=3600)

    # SMS: provider for Iranian numbers and for the rest of the world
    sms_provider: SmsProvider = "outbox"
    sms_international_provider: SmsProvider = "outbox"
    smsir_api_url: str = "https://api.sms.ir"
    smsir_api_key: str = Field(default="", repr=False)
    smsir_template_id: int = 0
    smsir_code_parameter: str = "Code"
    smsir_line_number: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = Field(default="", repr=False)
    twilio_from_number: str = ""
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Orders: how long checkout holds stock (and discount uses) for an order
    stock_hold_online_seconds: int = Field(default=900, ge=60, le=86_400)
    stock_hold_cash_seconds: int = Field(default=172_800, ge=300, le=30 * 86_400)
    # What one buyer may hold in one market at once (unpaid orders and their units), so no
    # one can lock a product's whole stock for two days with cash orders never collected.
    max_open_orders_per_market: int = Field(default=3, ge=1, le=1000)
    max_held_units_per_market: int = Field(default=20, ge=1, le=100_000)
    # Outside messages (SMS, push, e-mail) of one kind to one person: at most one per window;
    # what comes meanwhile is batched into the next one.
    notification_batch_seconds: int = Field(default=300, ge=0, le=86_400)

    # Error tracking
    sentry_dsn: str = Field(default="", repr=False)
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    # Background work (taskiq on a Redis stream)
    task_redelivery_after_ms: int = Field(
        default=600_000,
        ge=500,
        description="a task unacknowledged this long is given to another worker",
    )
    task_retry_base_seconds: float = Field(default=5.0, ge=0.0, le=600)
    task_max_concurrency: int = Field(default=50, ge=1, le=1000)
    # Every process (API, worker, scheduler) serves /metrics on this port, apart from the
    # API's: the port Prometheus scrapes is never the one the Ingress publishes. 0: workers
    # serve none, and the API serves /metrics on its own port (development only).
    metrics_port: int = Field(default=9100, ge=0, le=65535)

    # Payments
    payment_gateways: tuple[str, ...] = ("zarinpal",)
    payment_return_url: str = "http://127.0.0.1:8000/payment-result"
    payment_reconcile_after_seconds: int = Field(default=1800, ge=60)
    gateway_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    zarinpal_api_url: str = "https://payment.zarinpal.com"
    zarinpal_startpay_url: str = "https://payment.zarinpal.com/pg/StartPay/"
    zarinpal_merchant_id: str = Field(default="", repr=False)
    stripe_api_url: str = "https://api.stripe.com"
    stripe_secret_key: str = Field(default="", repr=False)
    stripe_webhook_secret: str = Field(default="", repr=False)
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    paypal_api_url: str = "https://api-m.paypal.com"
    paypal_client_id: str = ""
    paypal_client_secret: str = Field(default="", repr=False)
    crypto_api_url: str = ""
    crypto_api_key: str = Field(default="", repr=False)
    crypto_webhook_secret: str = Field(default="", repr=False)

    # Exchange rates (display conversion)
    exchange_rate_api_url: str = ""  # empty: rates are only set by staff
    exchange_rate_bases: tuple[str, ...] = ("USD",)

    # Notifications: push (FCM HTTP v1) and e-mail (SMTP)
    fcm_api_url: str = "https://fcm.googleapis.com"
    fcm_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    fcm_project_id: str = ""
    fcm_service_account_email: str = ""
    fcm_private_key: str = Field(default="", repr=False)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = True
    mail_from: str = "ASOUD <no-reply@asoud.ir>"

    # Rate limits, "<count>/<second|minute|hour|day>"
    rate_limit_enabled: bool = True
    rate_limit_anonymous: str = "100/hour"
    rate_limit_user: str = "1000/hour"
    rate_limit_burst: str = "60/minute"
    rate_limit_login_phone: str = "5/minute"
    rate_limit_login_ip: str = "20/minute"

    @field_validator(
        "rate_limit_anonymous",
        "rate_limit_user",
        "rate_limit_burst",
        "rate_limit_login_phone",
        "rate_limit_login_ip",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        from asoud.platform.ratelimit import Rate  # the one parser of rates

        try:
            Rate.parse(value)
        except ValueError:
            raise ValueError(
                'expected "<count>/<second|minute|hour|day>", e.g. "100/hour"'
            ) from None
        return value

    @field_validator("payment_gateways")
    @classmethod
    def _gateways(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(GATEWAYS))
        if unknown:
            raise ValueError(f"unknown gateway {', '.join(unknown)} (known: {', '.join(GATEWAYS)})")
        return value

    @field_validator("cors_allow_origins", "payment_gateways", "exchange_rate_bases", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url.startswith("memory://")

    def _missing(self, fields: tuple[str, ...], what: str) -> list[str]:
        empty = [env_name(name) for name in fields if not getattr(self, name)]
        return [f"{what} needs {', '.join(empty)}"] if empty else []

    def check_production_safety(self) -> None:
        """Refuse, with every reason at once, a production configuration that is unsafe."""
        if not self.is_production:
            return
        problems: list[str] = []
        if self.debug:
            problems.append("ASOUD_DEBUG must be off in production")
        if self.uses_sqlite:
            problems.append("ASOUD_DATABASE_URL must point at PostgreSQL, not SQLite")
        if self.uses_embedded_redis:
            problems.append("ASOUD_REDIS_URL must point at a real Redis, not memory://")
        if "outbox" in (self.sms_provider, self.sms_international_provider):
            problems.append("the 'outbox' SMS provider only records messages; choose a real one")
        if self.jwt_keyring_file is None:
            problems.append("ASOUD_JWT_KEYRING_FILE is required (the signing keys)")
        elif not self.jwt_keyring_file.is_file():
            problems.append(f"ASOUD_JWT_KEYRING_FILE {self.jwt_keyring_file} does not exist")
        if len(self.secret_key) < 32:
            problems.append("ASOUD_SECRET_KEY must be at least 32 characters")
        if not self.public_base_url.startswith("https://"):
            problems.append("ASOUD_PUBLIC_BASE_URL must be https:// in production")
        if "*" in self.cors_allow_origins:
            problems.append("ASOUD_CORS_ALLOW_ORIGINS may not be * in production: list the apps")
        for provider in sorted({self.sms_provider, self.sms_international_provider} - {"outbox"}):
            problems += self._missing(PROVIDER_CREDENTIALS[provider], f"SMS provider {provider}")
        for gateway in self.payment_gateways:
            problems += self._missing(GATEWAY_CREDENTIALS[gateway], f"payment gateway {gateway}")
        if problems:
            raise ConfigurationError(
                "refusing to start in production:\n  - " + "\n  - ".join(problems)
            )


def env_name(field_name: str) -> str:
    """The environment variable of a setting; the operator builds pods from these names, so a
    renamed setting fails its tests instead of silently leaving pods unconfigured."""
    if field_name not in Settings.model_fields:
        raise KeyError(f"no setting named {field_name}")
    return PREFIX + field_name.upper()


# Settings that hold credentials (never shown, never put in a ConfigMap by the operator).
SECRET_FIELDS: frozenset[str] = frozenset(
    name for name, info in Settings.model_fields.items() if info.repr is False
)


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    known = {env_name(name) for name in Settings.model_fields}
    problems = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name.startswith(FOREIGN_PREFIXES):
            continue
        if name in known or name.removesuffix("_FILE") in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{name} is not a setting{hint}")
    return problems


def _read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    unknown = _unknown_variables(environ)
    if unknown:
        raise ConfigurationError("unknown variables:\n  - " + "\n  - ".join(unknown))
    values: dict[str, str] = {}
    for field_name in Settings.model_fields:
        env_name = PREFIX + field_name.upper()
        direct, file_name = environ.get(env_name), environ.get(env_name + "_FILE")
        if direct is not None and file_name is not None:
            raise ConfigurationError(f"set either {env_name} or {env_name}_FILE, not both")
        if file_name is not None:
            try:
                values[field_name] = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"{env_name}_FILE: cannot read {file_name}: {exc.strerror}"
                ) from None
        elif direct is not None:
            values[field_name] = direct
    return values


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (or ``environ``), then apply ``overrides``."""
    raw: dict[str, Any] = _read_environment(os.environ if environ is None else environ)
    raw.update(overrides)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: "
            + str(err["msg"]).removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise ConfigurationError("invalid configuration:\n  - " + "\n  - ".join(lines)) from None
    settings.check_production_safety()
    return settings
