"""Production settings (Lambda via Zappa): everything comes from the environment.

Required: SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS (SECRET_KEY and DATABASE_URL may instead be
read from SSM / Secrets Manager: see portal/secrets.py and docs/deploy.md). Optional: see README
"Configuration".
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.files.storage import FileSystemStorage
from django.http import HttpRequest

from portal import secrets

from .base import *  # noqa: F403
from .base import BASE_DIR, CONTENT_SECURITY_POLICY, OIDC_ENABLED, STATICFILES_DIRS, env, env_list
from .database import conn_max_age


def _required(name: str) -> str:
    value = env.str(name, "")
    if not value:
        raise RuntimeError(f"The environment variable {name} is required in production.")
    return value


DEBUG = False
# One GetParameters call for all of them when they live in SSM; boto3 loads only in that case.
secrets.preload(["SECRET_KEY", "DATABASE_URL", *(["OIDC_RP_CLIENT_SECRET"] if OIDC_ENABLED else [])])
SECRET_KEY = secrets.secret("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
# Single sign-on's client secret (docs/sso.md): OIDC_RP_CLIENT_SECRET_SSM_PARAMETER or _SECRET_ID.
if OIDC_ENABLED:
    OIDC_RP_CLIENT_SECRET = secrets.secret("OIDC_RP_CLIENT_SECRET")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# As portal/settings/database.py does for DATABASE_URL, but the URL may come from a secret.
DATABASES = {
    "default": dict(
        dj_database_url.parse(
            secrets.secret("DATABASE_URL"),
            conn_max_age=conn_max_age(),
            conn_health_checks=True,
        )
    )
}

# TLS terminates at API Gateway / CloudFront.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

AWS_STORAGE_BUCKET_NAME = env.str("MEDIA_BUCKET", "")
AWS_STATIC_BUCKET_NAME = env.str("STATIC_BUCKET", "")
# Read here as in base.py: a test re-imports this module alone with another environment.
AWS_REGION = env.str("AWS_REGION", "") or env.str("AWS_DEFAULT_REGION", "")
AWS_S3_REGION_NAME = AWS_REGION
# Static files live on S3/CloudFront under an absolute URL. Lambda never talks to S3 for them:
# `make package` runs collectstatic locally and ships only the manifest (hashed names), so
# `{% static %}` costs a dict lookup instead of boto3 + an S3 read (~400 ms on a cold start).
# The pipeline uploads the same hashed files with STATICFILES_UPLOAD=1 (docs/deploy.md).
STATIC_URL = env.str("STATIC_URL", "") or (
    f"https://{AWS_STATIC_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com/"
    if AWS_STATIC_BUCKET_NAME and AWS_S3_REGION_NAME
    else "/static/"
)
STATIC_ROOT = env.path("STATIC_BUILD_DIR", BASE_DIR / "build" / "static")
# The package leaves the source static/ folder out; without this, every `zappa manage` command
# would warn (staticfiles.W004) about a folder only collectstatic needs.
STATICFILES_DIRS = [path for path in STATICFILES_DIRS if Path(path).is_dir()]
STATIC_MANIFEST_DIR = env.path("STATIC_MANIFEST_DIR", BASE_DIR / "build" / "static-manifest")
_static_manifest = FileSystemStorage(location=STATIC_MANIFEST_DIR)
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
        "OPTIONS": {"location": STATIC_ROOT, "base_url": STATIC_URL, "manifest_storage": _static_manifest},
    },
}
# Set only by the pipeline's collectstatic, never on Lambda.
STATICFILES_UPLOAD = env.bool("STATICFILES_UPLOAD", False)
if STATICFILES_UPLOAD:
    # The pipeline's `collectstatic`: hashed names are content hashes, so S3 gets the same names
    # as the manifest that ships in the package.
    STORAGES["staticfiles"] = {
        "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
        "OPTIONS": {
            "bucket_name": AWS_STATIC_BUCKET_NAME,
            "querystring_auth": False,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
            "manifest_storage": _static_manifest,
        },
    }

# Where media images are served from when not the bucket itself (a CloudFront origin).
MEDIA_URL_ORIGIN = env.str("MEDIA_URL_ORIGIN", "")
# Static files (and media images) come from S3/CloudFront: the CSP must allow those origins.
_asset_origins = sorted(
    {
        f"{parts.scheme}://{parts.netloc}"
        for parts in (urlsplit(url) for url in (STATIC_URL, MEDIA_URL_ORIGIN))
        if parts.scheme in ("http", "https") and parts.netloc
    }
    | (
        {f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com"}
        if AWS_STORAGE_BUCKET_NAME and AWS_S3_REGION_NAME
        else set()
    )
)
# A new dict: base.py's stays as it is for anything else that imports it.
_directives = {name: list(values) for name, values in CONTENT_SECURITY_POLICY["DIRECTIVES"].items()}
for _directive in ("script-src", "style-src", "img-src", "font-src"):
    _directives[_directive] = [*_directives.get(_directive, ["'self'"]), *_asset_origins]
CONTENT_SECURITY_POLICY = {**CONTENT_SECURITY_POLICY, "DIRECTIVES": _directives}


# Trusted proxies that append to X-Forwarded-For: 1 for a regional API Gateway, 2 behind CloudFront.
AXES_PROXY_HOPS = env.int("AXES_PROXY_HOPS", 1)


def _client_ip(request: HttpRequest) -> str | None:
    """The caller's address as API Gateway saw it: the right-most X-Forwarded-For entry it appended.

    Entries further left are whatever the client sent and can be forged; AXES_PROXY_HOPS is how
    many trusted proxies appended (1 for a regional API Gateway, 2 behind CloudFront too).
    """
    header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    hops = AXES_PROXY_HOPS
    if len(forwarded) >= hops:
        return forwarded[-hops]
    remote: str | None = request.META.get("REMOTE_ADDR")
    return remote


AXES_CLIENT_IP_CALLABLE = _client_ip

# Notification email (docs/notifications.md, "Production email"): Amazon SES's v2 API through
# Anymail. Django imports the backend, and Anymail boto3, only when an email is sent. Credentials
# come from the Lambda role (ses:SendEmail / ses:SendRawEmail on the sending identity).
# EMAIL_BACKEND may name another backend (SMTP, console) for a stage without SES.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", "anymail.backends.amazon_ses.EmailBackend")
SES_REGION = env.str("SES_REGION", "") or AWS_REGION
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", "")
ANYMAIL = {
    # The region whose SES holds the verified sending identity (it may differ from the Lambda's).
    "AMAZON_SES_CLIENT_PARAMS": {"region_name": SES_REGION} if SES_REGION else {},
    # A configuration set routes bounces and complaints to CloudWatch/SNS (optional).
    "AMAZON_SES_CONFIGURATION_SET_NAME": SES_CONFIGURATION_SET or None,
}

SHARED_TABLES_BACKEND = env.str("SHARED_TABLES_BACKEND", "dynamodb")
SHARED_TABLES_PREFIX = _required("SHARED_TABLES_PREFIX")

MERIDIAN_ENVIRONMENT = env.str("MERIDIAN_ENVIRONMENT", "production")
