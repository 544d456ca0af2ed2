"""The app's environment variables the operator sets, named by the app's own settings model.

One source of truth: a setting renamed in ``asoud.platform.settings`` breaks the import here
(and its tests), instead of pods that silently start unconfigured or refuse to start.
"""

from __future__ import annotations

from asoud.platform.settings import SECRET_FIELDS, Settings, env_name

ENVIRONMENT = env_name("environment")
DATABASE_URL = env_name("database_url")
REDIS_URL = env_name("redis_url")
REDIS_KEY_PREFIX = env_name("redis_key_prefix")
KEYRING_FILE = env_name("jwt_keyring_file")
SECRET_KEY = env_name("secret_key")
PUBLIC_BASE_URL = env_name("public_base_url")
METRICS_PORT = env_name("metrics_port")

# Every variable the app reads (an unknown ASOUD_* one stops it at start-up).
KNOWN_VARIABLES: frozenset[str] = frozenset(env_name(name) for name in Settings.model_fields)
# Credentials: only ever from Secrets (spec.envFrom, secretKeyRef), never from spec.config.
SECRET_VARIABLES: frozenset[str] = frozenset(env_name(name) for name in SECRET_FIELDS)
# Set by the operator from the spec; spec.config may not override them.
OPERATOR_OWNED: frozenset[str] = frozenset(
    {ENVIRONMENT, DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, KEYRING_FILE, PUBLIC_BASE_URL}
)
