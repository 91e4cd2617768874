"""Aurora settings, read from the environment (django-environ).

Precedence: process environment, then `.env` (the operator's file, see `.env.example`),
then `.var/services.env` (written by `scripts/services.sh` for the project-local
PostgreSQL and Redis); `AURORA_ENV_FILES` changes that list. Every variable is documented
in `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

# Lets generic classes such as ModelAdmin[Model] be subscripted at runtime (typing only).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Files read after the process environment, first one wins; AURORA_ENV_FILES="" reads none.
for env_file in environ.Env().list("AURORA_ENV_FILES", default=[".env", ".var/services.env"]):
    if (BASE_DIR / env_file).is_file():
        env.read_env(str(BASE_DIR / env_file), overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY: str = env.str("SECRET_KEY", default=_DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment or in .env "
        "(`make services` writes one for local use), or set DEBUG=true for development."
    )

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_celery_beat",
    "guardian",
    "axes",
    "csp",
    "simple_history",
    "aurora.common",
    "accounts",
    "chains",
    "partners",
    "ingestion",
    "canonical",
    "commissions",
    "operations",
    "serving",
    "portal",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]
# Demo users, partners, agreements, the simulated providers and the record_*/demo_* commands:
# development only. `make demo`/`make test` turn it on (.var/services.env); production leaves it out.
DEMO_APP: bool = env.bool("DEMO_APP", default=DEBUG)
if DEMO_APP:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "aurora.common.middleware.RequestContextMiddleware",
    # /health, /health/ready, /health/ingestion and /metrics answer here, before anything that
    # needs the database or a session (aurora.probes); then /v1/ requests are counted and timed.
    "aurora.probes.ProbeMiddleware",
    "aurora.metrics.ApiMetricsMiddleware",
    # Under /v1/, an error page that is not JSON (Django's, a third-party view's) becomes the envelope.
    "api.errors.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # A GET under /v1/ whose answer is kept (serving.answers) is answered here, before sessions,
    # authentication and the database scope; anything else goes on.
    "api.replay.AnswerReplayMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "aurora.common.middleware.DatabaseScopeMiddleware",
    "axes.middleware.AxesMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aurora.urls"
WSGI_APPLICATION = "aurora.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The project-local PostgreSQL started by `scripts/services.sh` listens here; its password
# arrives through `.var/services.env`. PostgreSQL is the only supported database.
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://aurora@127.0.0.1:54329/aurora"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it, so a restarted database or pooler
# costs a reconnect, not a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database host that drops packets must not hang requests and probes for minutes.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5)
)
# The server drops a connection whose client vanished (a host lost, not only a process killed)
# within about a minute, freeing its advisory locks: that is how a dead worker's job is noticed.
DATABASES["default"]["OPTIONS"].setdefault(
    "options", "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
)
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (postgres://…).")

# The role that owns the schema: migrations, the application role's grants, backups and restores
# run as it (aurora.common.dbroles); the application itself never does. Another login (user and
# password) to DATABASE_URL's server and database: the URL's host and database name are not used.
# Unset: migrations run as the application's role, and `manage.py check --database default` says
# that role owns tables.
AURORA_DATABASE_OWNER: dict[str, object] | None = None
if _owner_url := env.str("DATABASE_OWNER_URL", default=""):
    _owner = environ.Env.db_url_config(_owner_url)  # its login; server and database are DATABASE_URL's
    AURORA_DATABASE_OWNER = {key: _owner.get(key) for key in ("USER", "PASSWORD")}

# The key that signs the row-level-security scope a connection works under (aurora.common.dbscope).
# The database keeps the means to check it where the application's role cannot read; `migrate`
# writes it there. Default: derived from SECRET_KEY.
AURORA_DB_SCOPE_KEY: str = env.str("AURORA_DB_SCOPE_KEY", default="")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Who may do what: the role policy (accounts.access) answers model permissions, guardian answers
# object permissions (a partner user on its partner), and axes refuses logins after failures.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.RoleBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_ANONYMOUS_USER_NAME = None  # no database row for anonymous visitors
LOGIN_URL = "portal:login"  # partners sign in to the portal; staff are sent on to the back office

AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME: float = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Reverse proxies in front of Aurora that append the client to X-Forwarded-For (nginx: 1). With
# 0 the connection's own address is the client's; a forged header is then ignored.
TRUSTED_PROXIES: int = env.int("TRUSTED_PROXIES", default=0)
if TRUSTED_PROXIES:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXIES
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:63799/0")
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "aurora.common.cache.ReusedClientRedisCache"
# Whole API and portal answers replayed while their data hold (serving.answers): which cache, and
# for how long at most (0: never kept). Entries of an old data version are never read again and
# expire by this time.
AURORA_ANSWER_CACHE: str = env.str("AURORA_ANSWER_CACHE", default="default")
AURORA_ANSWER_CACHE_SECONDS: int = env.int("AURORA_ANSWER_CACHE_SECONDS", default=3600)

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / ".var" / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default=(
                "django.contrib.staticfiles.storage.StaticFilesStorage"
                if DEBUG
                else "whitenoise.storage.CompressedManifestStaticFilesStorage"
            ),
        )
    },
}

# Registry files loaded by `manage.py sync_registry`.
AURORA_CHAINS_FILE = Path(env.str("AURORA_CHAINS_FILE", default=str(BASE_DIR / "config" / "chains.yaml")))
AURORA_PROVIDERS_FILE = Path(
    env.str("AURORA_PROVIDERS_FILE", default=str(BASE_DIR / "config" / "providers.yaml"))
)

# Statements need two different Finance/Admin approvers, neither of them the preparer.
AURORA_STATEMENT_DUAL_CONTROL: bool = env.bool("AURORA_STATEMENT_DUAL_CONTROL", default=True)

# The audit chain's head is checkpointed outside the database (accounts.checkpoints): lines of
# JSON, each with an HMAC-SHA256 by a key the database never sees. Keep the file on storage the
# database's administrators cannot rewrite (another host, an append-only or versioned bucket).
AURORA_AUDIT_CHECKPOINT_FILE = Path(
    env.str("AURORA_AUDIT_CHECKPOINT_FILE", default=str(BASE_DIR / ".var" / "audit-checkpoints.jsonl"))
)
# Default: derived from SECRET_KEY.
AURORA_AUDIT_CHECKPOINT_KEY: str = env.str("AURORA_AUDIT_CHECKPOINT_KEY", default="")

# Recorded provider responses served by the `replay` provider (and written by `ingest --record`).
AURORA_RECORDINGS_DIR = Path(
    env.str("AURORA_RECORDINGS_DIR", default=str(BASE_DIR / "ingestion" / "recordings"))
)
# Set in the environment (or an env file), it wins over a replay provider's `recordings_dir` option.
AURORA_RECORDINGS_DIR_FROM_ENV: bool = bool(env.str("AURORA_RECORDINGS_DIR", default=""))

# Celery: Redis is the broker; tasks and schedules arrive with the orchestration layer.
# Probe the providers (manage.py check_providers) when a worker starts; warnings only.
AURORA_CHECK_PROVIDERS_AT_WORKER_START: bool = env.bool(
    "AURORA_CHECK_PROVIDERS_AT_WORKER_START", default=True
)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A task is acknowledged when it ends, and put back if its worker dies, so no job is lost; Redis
# redelivers an unacknowledged task after the visibility timeout, which must exceed the longest job.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=12 * 3600)
}
# A prefix for every broker key, for installations (or test sessions) sharing one Redis.
if _broker_key_prefix := env.str("CELERY_BROKER_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _broker_key_prefix

# ---- The pipeline (operations.pipeline): beat discovers final periods and runs their stages -----
# Where the pipeline fetches: "live" (the chain's mapped providers) or the name of a replay provider
# of providers.yaml ("replay": the recorded responses, for the demo). A chain's `pipeline_provider`
# parameter in chains.yaml wins over this.
AURORA_PIPELINE_PROVIDER: str = env.str("AURORA_PIPELINE_PROVIDER", default="live")
# Discovery starts at most this many period pipelines per chain and run, oldest first...
AURORA_PIPELINE_MAX_PERIODS_PER_TICK: int = env.int("AURORA_PIPELINE_MAX_PERIODS_PER_TICK", default=4)
# ...among the final periods this far back from the newest (a chain's `pipeline_lookback_periods`
# and `pipeline_from_period` parameters narrow it).
AURORA_PIPELINE_LOOKBACK_PERIODS: int = env.int("AURORA_PIPELINE_LOOKBACK_PERIODS", default=10)
# Processes that parse a period's validators in parallel during normalization (1: in the calling
# process). Worth the machine's cores for large periods; a Celery worker's pool processes parse in
# place (daemonic processes cannot start others).
AURORA_NORMALIZATION_PROCESSES: int = env.int("AURORA_NORMALIZATION_PROCESSES", default=1)
# Provider errors during ingestion: retried with exponential backoff (seconds, doubled each time,
# with jitter, capped), this many times, before the period's pipeline fails.
AURORA_PIPELINE_MAX_RETRIES: int = env.int("AURORA_PIPELINE_MAX_RETRIES", default=5)
AURORA_PIPELINE_RETRY_BACKOFF_SECONDS: int = env.int("AURORA_PIPELINE_RETRY_BACKOFF_SECONDS", default=60)
AURORA_PIPELINE_RETRY_BACKOFF_MAX_SECONDS: int = env.int(
    "AURORA_PIPELINE_RETRY_BACKOFF_MAX_SECONDS", default=1800
)
# Time limits (seconds): soft raises in the task, which then fails its job; hard kills the process.
# Stages (ingest, normalize, recompute of one period), then the short tasks (discovery, summaries).
AURORA_PIPELINE_STAGE_SOFT_TIME_LIMIT_SECONDS: int = env.int(
    "AURORA_PIPELINE_STAGE_SOFT_TIME_LIMIT_SECONDS", default=2 * 3600
)
AURORA_PIPELINE_STAGE_TIME_LIMIT_SECONDS: int = env.int(
    "AURORA_PIPELINE_STAGE_TIME_LIMIT_SECONDS", default=2 * 3600 + 300
)
AURORA_PIPELINE_TASK_SOFT_TIME_LIMIT_SECONDS: int = env.int(
    "AURORA_PIPELINE_TASK_SOFT_TIME_LIMIT_SECONDS", default=600
)
AURORA_PIPELINE_TASK_TIME_LIMIT_SECONDS: int = env.int("AURORA_PIPELINE_TASK_TIME_LIMIT_SECONDS", default=660)
# Crash recovery (operations.recovery): a job RUNNING whose worker died (its database lock is free)
# is put back in the queue at once by the next sweep (beat, every minute; a worker that starts; a
# waiting `run_pipeline --wait`), at most AURORA_JOB_MAX_RECOVERIES times before it fails; a
# PENDING one nobody has touched for AURORA_JOB_REQUEUE_AFTER_SECONDS (doubling each time) is
# sent again (a duplicate delivery does nothing).
AURORA_JOB_MAX_RECOVERIES: int = env.int("AURORA_JOB_MAX_RECOVERIES", default=3)
AURORA_JOB_REQUEUE_AFTER_SECONDS: int = env.int("AURORA_JOB_REQUEUE_AFTER_SECONDS", default=120)

# HTTPS hardening: on by default outside development. Behind a TLS-terminating proxy set
# SECURE_PROXY_SSL_HEADER=true so Django trusts X-Forwarded-Proto.
HTTPS_ONLY: bool = env.bool("HTTPS_ONLY", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS_ONLY
# Probes from the container or load balancer speak plain HTTP to the app port.
SECURE_REDIRECT_EXEMPT = [r"^health($|/)", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS_ONLY)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE: int = env.int("SESSION_COOKIE_AGE", default=8 * 3600)  # a working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every response: only this origin's scripts, styles,
# images and requests; no plugins, framing, <base> or foreign form targets. The few inline <style>
# blocks (admin dashboard and report, the API docs page) carry the request's nonce; there is no
# inline script. data: images are the admin's and Swagger UI's icons in their stylesheets.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# ---- REST API (/v1/) ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.Capable"],
    "DEFAULT_RENDERER_CLASSES": ["api.envelope.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JsonParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.LimitOffset",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.envelope.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_REFRESH_HOURS", default=24)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Aurora API",
    "DESCRIPTION": (
        'Validator P&L and partner commissions. Every answer is `{"data": …, "error": null}` or '
        '`{"data": null, "error": {"code", "message", "details"}}`. Amounts are strings of '
        "the chain's base units (lamports, wei), with the chain's unit and decimals alongside. Lists "
        "take `limit` and `offset`; the total is in the `X-Total-Count` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.envelope_hook",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---- Logs and metrics ---------------------------------------------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
# json: one JSON object per line (timestamp, level, logger, event, correlation_id, extras), for
# log collectors; plain: readable lines for development. Secrets are redacted in both (aurora.logs).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation_id": {"()": "aurora.logs.CorrelationId"},
        "redact_secrets": {"()": "aurora.logs.RedactSecrets"},
    },
    "formatters": {
        "json": {"()": "aurora.logs.JsonFormatter"},
        "plain": {"()": "aurora.logs.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["correlation_id", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Through the root handler only (Django's own console handler would print lines twice).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # httpx logs full request URLs at INFO, and some providers take their API key in the URL.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# /metrics answers this machine (loopback, no proxy header) and, when set, requests with
# `Authorization: Bearer <METRICS_TOKEN>`. The database-derived series are read under this limit.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_QUERY_TIMEOUT_SECONDS: float = env.float("METRICS_QUERY_TIMEOUT_SECONDS", default=5.0)
