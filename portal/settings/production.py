"""Production settings (Lambda via Zappa): everything comes from the environment.

Required: SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS. Optional: see README "Configuration".
"""

from __future__ import annotations

import os

from .base import *  # noqa: F403
from .database import database_config


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"The environment variable {name} is required in production.")
    return value


def _list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = False
SECRET_KEY = _required("SECRET_KEY")
ALLOWED_HOSTS = _list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS")

DATABASES = {"default": database_config(None)}

# TLS terminates at API Gateway / CloudFront.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

AWS_STORAGE_BUCKET_NAME = os.environ.get("MEDIA_BUCKET", "")
AWS_STATIC_BUCKET_NAME = os.environ.get("STATIC_BUCKET", "")
AWS_S3_REGION_NAME = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", ""))
STATIC_URL = os.environ.get("STATIC_URL", "/static/")
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
        "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
        "OPTIONS": {
            "bucket_name": AWS_STATIC_BUCKET_NAME,
            "querystring_auth": False,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    },
}

SHARED_TABLES_BACKEND = os.environ.get("SHARED_TABLES_BACKEND", "dynamodb")
SHARED_TABLES_PREFIX = _required("SHARED_TABLES_PREFIX")

MERIDIAN_ENVIRONMENT = os.environ.get("MERIDIAN_ENVIRONMENT", "production")
