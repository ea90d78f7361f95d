"""Settings shared by every environment. Environment-specific modules import * from here.

Every setting the code reads is declared here (or in local/production/test), and every value
that may come from the environment is parsed here with `environs`, so a typo or a bad number
fails at start-up, not in the middle of a request. App code reads `settings.NAME` only: no
`getattr(settings, ..., default)` and no `os.environ` (tests/portal/test_settings_declared.py).
README.md "Configuration" lists every variable.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
from environs import Env

# Lets generic Django classes (ModelAdmin[Market], QuerySet[...]) be subscripted at run time.
django_stubs_ext.monkeypatch()

# No .env file is read: a laptop needs no configuration, and Lambda gets real variables.
env = Env(expand_vars=False)


def env_list(name: str, default: str = "") -> list[str]:
    """Return the comma-separated variable `name` as a list, blanks and spaces dropped."""
    return [part.strip() for part in env.str(name, default).split(",") if part.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Writable files of a laptop install (SQLite databases, media, partner limit counters).
VAR_DIR = env.path("MERIDIAN_VAR_DIR", BASE_DIR / "var")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "portal",
    "accounts",
    "markets",
    "content",
    "portal.observability",
]

MIDDLEWARE = [
    # First, so that neither ALLOWED_HOSTS nor any other middleware can reject Route 53's probe.
    "portal.health.HealthCheckMiddleware",
    # Request ids, user, market, view, status and duration on every log line (docs/observability.md).
    "portal.observability.logging.RequestLogMiddleware",
    # Before anything looks the path or query up: NUL would reach PostgreSQL as a 500.
    "portal.refusals.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication: a retried API write with the same Idempotency-Key is replayed.
    "portal.idempotency.IdempotencyMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
# Axes first: it refuses a locked-out login before any password is checked (docs/security.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads: Rekognition takes at most 15 MB from S3; allow a little envelope for multipart overhead.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Bulk forms submit up to 10,000 selected ids.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 12_000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON with a nesting limit (a 100,000-deep body is a 400), then DRF's form parsers.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["portal.api.filtering.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Meridian API",
    "DESCRIPTION": "Markets, rules, content, tags and positions for the Meridian admin portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.idempotency.add_idempotency_header",
        "portal.api.schema.document_common_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PositionStateEnum": "content.models.PositionState",
        "DecisionStateEnum": "markets.serializers.DECISION_STATES",
        "GroupPositionStateEnum": "content.serializers.GROUP_POSITION_STATES",
        "ImageStatusEnum": "content.labels.models.ImageStatus",
        "QuotaPeriodEnum": "accounts.partners.models.QuotaPeriod",
        "ChangeOperationKindEnum": "portal.change_requests.models.OperationKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Security headers (every environment; production adds HSTS and secure cookies) -----------
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
# HTMX reads the CSRF token from <body hx-headers>, never from the cookie, so scripts need not see it.
CSRF_COOKIE_HTTPONLY = True
# Images may come from the media bucket / CloudFront in production (CSP_IMG_HOSTS, comma-separated).
_CSP_IMG_HOSTS = env_list("CSP_IMG_HOSTS")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *_CSP_IMG_HOSTS],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# Login abuse (docs/decisions/006-login-lockout.md): 5 failures lock for 15 minutes, answered 429.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# The login form's field; API tokens never pass through authenticate(), so axes never sees them.
AXES_USERNAME_FORM_FIELD = "username"

# --- Meridian ---------------------------------------------------------------------------------
# Which deployment this is ("local", "test", "production", "staging"...): demo data refuses production.
MERIDIAN_ENVIRONMENT = "local"
# Inside AWS Lambda (Zappa): background tasks become async invocations (portal/tasks.py).
ON_LAMBDA = bool(env.str("AWS_LAMBDA_FUNCTION_NAME", ""))
# The AWS region of boto3 clients that name one ("" lets boto3 find it: AWS_DEFAULT_REGION, config).
AWS_REGION = env.str("AWS_REGION", "") or env.str("AWS_DEFAULT_REGION", "")
# Off Lambda, background tasks (publishing after commit) run in a thread pool of this process, so
# a request never waits on them; "inline" runs them in the caller's thread (the test settings).
TASKS_LOCAL_RUNNER = env.str("TASKS_LOCAL_RUNNER", "thread")
TASKS_LOCAL_THREADS = env.int("TASKS_LOCAL_THREADS", 2)

# Shared admin tables: "local" (a SQLite file under var/) or "dynamodb".
SHARED_TABLES_BACKEND = env.str("SHARED_TABLES_BACKEND", "local")
SHARED_TABLES_PREFIX = env.str("SHARED_TABLES_PREFIX", "meridian-local-")
SHARED_TABLES_LOCAL_PATH = env.path("SHARED_TABLES_LOCAL_PATH", VAR_DIR / "shared_tables.sqlite3")
# Publish the outbox right after commit (inline locally; a Zappa async task on Lambda).
SHARED_TABLES_PUBLISH_ON_COMMIT = env.bool("SHARED_TABLES_PUBLISH_ON_COMMIT", True)
# Publisher tuning (docs/shared-tables.md): parallel puts, outbox rows per batch, attempts before
# a row becomes a dead letter, its backoff, botocore's own attempts and timeouts per request, the
# on-commit pause after the tables were unreachable, and the reader's market cache.
SHARED_TABLES_PUBLISH_THREADS = env.int("SHARED_TABLES_PUBLISH_THREADS", 8)
SHARED_TABLES_BATCH_SIZE = env.int("SHARED_TABLES_BATCH_SIZE", 500)
SHARED_TABLES_MAX_ATTEMPTS = env.int("SHARED_TABLES_MAX_ATTEMPTS", 8)
SHARED_TABLES_RETRY_BASE_SECONDS = env.float("SHARED_TABLES_RETRY_BASE_SECONDS", 2.0)
SHARED_TABLES_RETRY_CAP_SECONDS = env.float("SHARED_TABLES_RETRY_CAP_SECONDS", 900.0)
SHARED_TABLES_CLIENT_MAX_ATTEMPTS = env.int("SHARED_TABLES_CLIENT_MAX_ATTEMPTS", 4)
SHARED_TABLES_CONNECT_TIMEOUT = env.float("SHARED_TABLES_CONNECT_TIMEOUT", 2.0)
SHARED_TABLES_READ_TIMEOUT = env.float("SHARED_TABLES_READ_TIMEOUT", 5.0)
SHARED_TABLES_OUTAGE_PAUSE = env.float("SHARED_TABLES_OUTAGE_PAUSE", 30.0)
SHARED_TABLES_MARKET_TTL = env.float("SHARED_TABLES_MARKET_TTL", 5.0)

# Partner keys: "local" (the portal enforces plans) or "apigateway"; stages plans may name locally.
GATEWAY_BACKEND = env.str("GATEWAY_BACKEND", "local")
API_GATEWAY_STAGES = env_list("API_GATEWAY_STAGES", "meridian:local")
# An API Gateway endpoint other than AWS's (moto); botocore also reads AWS_ENDPOINT_URL_API_GATEWAY.
AWS_ENDPOINT_URL_APIGATEWAY = env.str("AWS_ENDPOINT_URL_APIGATEWAY", "")
# botocore's max_attempts per API Gateway call (standard mode: retries after the first call); a
# sync that still fails is recorded "failed" and retried by `gateway reconcile --repair` or the button.
API_GATEWAY_CLIENT_MAX_ATTEMPTS = env.int("API_GATEWAY_CLIENT_MAX_ATTEMPTS", 5)
# Where local enforcement keeps its counters: a `limits` URI; else REDIS_URL; else a SQLite file.
PARTNER_LIMITS_STORAGE = env.str("PARTNER_LIMITS_STORAGE", "")
REDIS_URL = env.str("REDIS_URL", "")
# Suspending or revoking a key reaches other processes within this many seconds.
PARTNER_KEY_CACHE_SECONDS = env.float("PARTNER_KEY_CACHE_SECONDS", 5.0)
# API Gateway access-log groups (comma-separated) read by `partners_traffic import-logs` (docs/partners.md).
PARTNER_ACCESS_LOG_GROUPS = env_list("PARTNER_ACCESS_LOG_GROUPS", "")

# API tokens for automation: default lifetime in days (None = no expiry unless given).
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", 365)

# Image labels (docs/labels.md): "fake" locally, "rekognition" in production; thresholds in percent.
LABELLER_BACKEND = env.str("LABELLER_BACKEND", "fake")
LABEL_MIN_CONFIDENCE = env.float("LABEL_MIN_CONFIDENCE", 50.0)
LABEL_AUTO_ACCEPT = env.float("LABEL_AUTO_ACCEPT", 95.0)
LABEL_AUTO_REJECT = env.float("LABEL_AUTO_REJECT", 60.0)
IMAGES_BUCKET = env.str("IMAGES_BUCKET", "") or env.str("MEDIA_BUCKET", "")
# Rekognition client: botocore's max_attempts per call (standard mode retries throttling and 5xx),
# timeouts, and calls in flight per process (also the connection pool's size).
LABEL_BOTOCORE_ATTEMPTS = env.int("LABEL_BOTOCORE_ATTEMPTS", 3)
LABEL_CONNECT_TIMEOUT = env.float("LABEL_CONNECT_TIMEOUT", 5.0)
LABEL_READ_TIMEOUT = env.float("LABEL_READ_TIMEOUT", 30.0)
LABEL_CONCURRENCY = env.int("LABEL_CONCURRENCY", 4)
# Jobs one scheduled sweep labels at most, so a run ends well inside the Lambda timeout.
LABEL_SWEEP_LIMIT = env.int("LABEL_SWEEP_LIMIT", 50)

# --- Observability (docs/observability.md) ---------------------------------------------------------
# JSON log lines on Lambda (CloudWatch Logs Insights), text locally; EMF metrics on stdout on Lambda.
LOG_FORMAT = env.str("LOG_FORMAT", "json" if ON_LAMBDA else "text")
LOGGING["formatters"] = {
    "json": {"()": "portal.observability.logging.JsonFormatter"},
    "text": {"()": "portal.observability.logging.TextFormatter"},
}
LOGGING["handlers"] = {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}}
METRICS_ENABLED = env.bool("METRICS_ENABLED", ON_LAMBDA)
METRICS_NAMESPACE = env.str("METRICS_NAMESPACE", "Meridian")
# X-Ray subsegments; zappa_settings.json's `xray_tracing` must agree (tests/deploy check it).
TRACING_ENABLED = env.bool("TRACING_ENABLED", False)
# The SQS queue that is this function's on-failure destination for asynchronous invocations.
ASYNC_FAILURES_QUEUE = env.str("ASYNC_FAILURES_QUEUE", "")
# --- end of observability ------------------------------------------------------------------------

# --- Single sign-on (OpenID Connect; docs/sso.md, docs/decisions/009-sso.md) -------------------
# Off by default: `make run` and the test suite use local passwords only. Endpoints come from the
# issuer's discovery document unless given one by one; production reads the client secret from
# SSM / Secrets Manager (portal/settings/production.py).
OIDC_ENABLED = env.bool("OIDC_ENABLED", False)
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", "your company account")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", "").rstrip("/")
OIDC_OP_DISCOVERY_URL = env.str("OIDC_OP_DISCOVERY_URL", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", "RS256")
# Where the groups are: `groups` (Okta, Entra ID), `cognito:groups` (Cognito).
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", "groups")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = (3.05, 10)
OIDC_CALLBACK_CLASS = "accounts.sso.views.SsoCallbackView"
OIDC_AUTHENTICATE_CLASS = "accounts.sso.views.SsoLoginView"
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
# The session is checked with the provider again (prompt=none) after this many seconds.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.int("OIDC_RENEW_SECONDS", 900)
OIDC_EXEMPT_URLS = ["/accounts/sso/callback/", "/accounts/sso/login/", "/accounts/logout/"]
# Local passwords: off in production for everyone but the break-glass admins named here.
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", True)
LOCAL_LOGIN_BREAK_GLASS_USERS = env_list("LOCAL_LOGIN_BREAK_GLASS_USERS")
# Sessions end this long after the login, however active; sensitive actions (partner keys, API
# tokens) ask for a login younger than SSO_REAUTH_MINUTES.
SESSION_MAX_AGE_SECONDS = env.int("SESSION_MAX_AGE_SECONDS", 12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_MAX_AGE_SECONDS
SSO_REAUTH_MINUTES = env.int("SSO_REAUTH_MINUTES", 15)
AUTHENTICATION_BACKENDS = [
    "accounts.sso.passwords.LocalPasswordBackend" if b == "django.contrib.auth.backends.ModelBackend" else b
    for b in AUTHENTICATION_BACKENDS
] + (["accounts.sso.backends.SsoBackend"] if OIDC_ENABLED else [])
# Before axes, which must stay last.
_AXES = MIDDLEWARE.index("axes.middleware.AxesMiddleware")
MIDDLEWARE[_AXES:_AXES] = ["accounts.sso.middleware.SessionAgeMiddleware"] + (
    ["accounts.sso.refresh.SsoSessionRefresh"] if OIDC_ENABLED else []
)
TEMPLATES[0]["OPTIONS"]["libraries"] = {"sso": "accounts.sso.templatetags"}  # type: ignore[index]
# --- end of single sign-on ------------------------------------------------------------------

# --- Notifications (docs/notifications.md) -------------------------------------------------------
# Email goes through Django's email framework: the console locally (or files under EMAIL_FILE_PATH
# with the filebased backend); production names its backend here (SMTP, or SES: see the doc).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Meridian <meridian@localhost>")
# Absolute links in emails and webhook bodies ("" sends site-relative paths).
NOTIFICATIONS_SITE_URL = env.str("NOTIFICATIONS_SITE_URL", "").rstrip("/")
# Event thresholds: the outbox backlog's age, and the label review queue's length and age.
NOTIFICATIONS_OUTBOX_BACKLOG_MINUTES = env.int("NOTIFICATIONS_OUTBOX_BACKLOG_MINUTES", 15)
NOTIFICATIONS_LABEL_QUEUE_MAX = env.int("NOTIFICATIONS_LABEL_QUEUE_MAX", 500)
NOTIFICATIONS_LABEL_QUEUE_HOURS = env.int("NOTIFICATIONS_LABEL_QUEUE_HOURS", 24)
# Partner traffic (docs/partners.md, "Traffic alerts"), judged on the last hour: a key throttled in
# more than this % of its active minutes (at least TRAFFIC_MIN_MINUTES of them); a burst at or over
# this % of its plan's burst; an hour with JUMP_FACTOR × the key's mean hour of the week before (and
# at least JUMP_MIN_REQUESTS requests, with at least a day of history that week).
NOTIFICATIONS_TRAFFIC_THROTTLED_PERCENT = env.float("NOTIFICATIONS_TRAFFIC_THROTTLED_PERCENT", 10.0)
NOTIFICATIONS_TRAFFIC_MIN_MINUTES = env.int("NOTIFICATIONS_TRAFFIC_MIN_MINUTES", 10)
NOTIFICATIONS_TRAFFIC_BURST_PERCENT = env.float("NOTIFICATIONS_TRAFFIC_BURST_PERCENT", 90.0)
NOTIFICATIONS_TRAFFIC_JUMP_FACTOR = env.float("NOTIFICATIONS_TRAFFIC_JUMP_FACTOR", 3.0)
NOTIFICATIONS_TRAFFIC_JUMP_MIN_REQUESTS = env.int("NOTIFICATIONS_TRAFFIC_JUMP_MIN_REQUESTS", 1_000)
# Webhooks: seconds per request, attempts before a dead letter, and the backoff between attempts.
NOTIFICATIONS_WEBHOOK_TIMEOUT = env.float("NOTIFICATIONS_WEBHOOK_TIMEOUT", 5.0)
NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = env.int("NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS", 6)
NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS = env.float("NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS", 30.0)
NOTIFICATIONS_WEBHOOK_RETRY_CAP_SECONDS = env.float("NOTIFICATIONS_WEBHOOK_RETRY_CAP_SECONDS", 3600.0)
# Webhook URLs must be https to a public address; loopback (http or https) only when this is on.
NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK = env.bool("NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK", False)
# Notifications with their receipts, and finished webhook deliveries, older than this are deleted daily.
NOTIFICATIONS_RETENTION_DAYS = env.int("NOTIFICATIONS_RETENTION_DAYS", 90, validate=lambda days: days >= 1)
# --- end of notifications ----------------------------------------------------------------------
