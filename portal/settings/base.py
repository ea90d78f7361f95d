"""Settings shared by every environment. Environment-specific modules import * from here."""

from __future__ import annotations

import os
from pathlib import Path

import django_stubs_ext

# Lets generic Django classes (ModelAdmin[Market], QuerySet[...]) be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MERIDIAN_VAR_DIR", BASE_DIR / "var"))

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
]

MIDDLEWARE = [
    # First, so that neither ALLOWED_HOSTS nor any other middleware can reject Route 53's probe.
    "portal.health.HealthCheckMiddleware",
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
        "ImageStatusEnum": "content.labels.models.ImageStatus",
        "QuotaPeriodEnum": "accounts.partners.models.QuotaPeriod",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
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
_CSP_IMG_HOSTS = [h.strip() for h in os.environ.get("CSP_IMG_HOSTS", "").split(",") if h.strip()]
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
# Inside AWS Lambda (Zappa): background tasks become async invocations (portal/tasks.py).
ON_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
# Shared admin tables: "local" (a SQLite file under var/) or "dynamodb".
SHARED_TABLES_BACKEND = os.environ.get("SHARED_TABLES_BACKEND", "local")
SHARED_TABLES_PREFIX = os.environ.get("SHARED_TABLES_PREFIX", "meridian-local-")
SHARED_TABLES_LOCAL_PATH = Path(os.environ.get("SHARED_TABLES_LOCAL_PATH", VAR_DIR / "shared_tables.sqlite3"))
# Publish the outbox right after commit (inline locally; a Zappa async task on Lambda).
SHARED_TABLES_PUBLISH_ON_COMMIT = os.environ.get("SHARED_TABLES_PUBLISH_ON_COMMIT", "1") == "1"
# Publisher tuning (docs/shared-tables.md): parallel puts, outbox rows per batch, attempts before
# a row becomes a dead letter, its backoff, botocore's own attempts and timeouts per request, the
# on-commit pause after the tables were unreachable, and the reader's market cache.
SHARED_TABLES_PUBLISH_THREADS = int(os.environ.get("SHARED_TABLES_PUBLISH_THREADS", "8"))
SHARED_TABLES_BATCH_SIZE = int(os.environ.get("SHARED_TABLES_BATCH_SIZE", "500"))
SHARED_TABLES_MAX_ATTEMPTS = int(os.environ.get("SHARED_TABLES_MAX_ATTEMPTS", "8"))
SHARED_TABLES_RETRY_BASE_SECONDS, SHARED_TABLES_RETRY_CAP_SECONDS = 2.0, 900.0
SHARED_TABLES_CLIENT_MAX_ATTEMPTS = int(os.environ.get("SHARED_TABLES_CLIENT_MAX_ATTEMPTS", "4"))
SHARED_TABLES_CONNECT_TIMEOUT, SHARED_TABLES_READ_TIMEOUT = 2.0, 5.0
SHARED_TABLES_OUTAGE_PAUSE = float(os.environ.get("SHARED_TABLES_OUTAGE_PAUSE", "30"))
SHARED_TABLES_MARKET_TTL = float(os.environ.get("SHARED_TABLES_MARKET_TTL", "5"))

# Partner keys: "local" (the portal enforces plans) or "apigateway"; stages plans may name locally.
GATEWAY_BACKEND = os.environ.get("GATEWAY_BACKEND", "local")
API_GATEWAY_STAGES = [s for s in os.environ.get("API_GATEWAY_STAGES", "meridian:local").split(",") if s]

# API tokens for automation: default lifetime in days (None = no expiry unless given).
API_TOKEN_DEFAULT_DAYS = int(os.environ.get("API_TOKEN_DEFAULT_DAYS", "365"))

# Image labels (docs/labels.md): "fake" locally, "rekognition" in production; thresholds in percent.
LABELLER_BACKEND = os.environ.get("LABELLER_BACKEND", "fake")
LABEL_MIN_CONFIDENCE = float(os.environ.get("LABEL_MIN_CONFIDENCE", "50"))
LABEL_AUTO_ACCEPT = float(os.environ.get("LABEL_AUTO_ACCEPT", "95"))
LABEL_AUTO_REJECT = float(os.environ.get("LABEL_AUTO_REJECT", "60"))
IMAGES_BUCKET = os.environ.get("IMAGES_BUCKET", os.environ.get("MEDIA_BUCKET", ""))
