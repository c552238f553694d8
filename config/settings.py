"""Settings from the environment (django-environ), with demo-safe defaults.

The embedded default needs no services: SQLite under ``var/`` and kombu's
filesystem transport as the Celery broker. Production sets DATABASE_URL,
CELERY_BROKER_URL and SECRET_KEY; with DJANGO_DEBUG=false a missing
SECRET_KEY stops start-up loudly.
"""
from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DJANGO_DEBUG=false the secret key must come from the "
            "environment (SECRET_KEY=...) or from var/secret_key written by `manage.py demo`."
        )
    return "insecure-dev-key-only-for-local-debug"


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "annotator",
    "rewardlab",
    "elicitation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
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
            ]
        },
    }
]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, for the test database: the Celery worker process of
    # the integration tests must see the same data.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test_db.sqlite3"))}
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 30)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    # Parameters bound by the server, and a statement run five times on a connection prepared there:
    # PostgreSQL then skips parsing and planning the hot path's statements (about 40% of its CPU per
    # next -> submit cycle, benchmarks/cycle_profile.py). Behind a transaction-mode pooler (PgBouncer
    # before 1.21) set DB_PREPARE_THRESHOLD=-1, which turns preparing off.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", env.bool("DB_SERVER_BINDING", default=True))
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, plus the 65,535-parameter limit of server-side binding for bulk batches.
        DATABASES["default"]["ENGINE"] = "config.postgresql"
    _prepare = env.int("DB_PREPARE_THRESHOLD", default=5)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", None if _prepare < 0 else _prepare)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
ARTIFACTS_ROOT = Path(env.str("ARTIFACTS_ROOT", default=str(VAR_DIR / "artifacts")))
EXPORTS_ROOT = Path(env.str("EXPORTS_ROOT", default=str(VAR_DIR / "exports")))

# Upload and import limits (Pillow-validated images).
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMAGE_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = IMAGE_MAX_BYTES + 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "annotator.api.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fine-grained feedback API",
    "DESCRIPTION": "Annotation, consolidation, export and scoring for text-to-image feedback.",
    "VERSION": "1.0.0",
}

# Celery: two queues, declared once here.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(_BROKER_DIR / "control"),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport with one client per channel for publishing (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
_default_results = f"file://{VAR_DIR / 'celery-results'}"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_default_results)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND[len("file://"):]).mkdir(parents=True, exist_ok=True)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"rewardlab.tasks.*": {"queue": "training"}}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "retrain-check": {"task": "rewardlab.tasks.retrain_check", "schedule": 300.0},
    "expire-leases": {"task": "annotator.tasks.leases_expire", "schedule": 60.0},
}

# Annotation behaviour.
LEASE_SECONDS = env.int("LEASE_SECONDS", default=30 * 60)
# The policy that picks the next task. annotator never imports elicitation:
# elicitation plugs its cost-aware issuer in by this dotted path.
ANNOTATOR_TASK_ISSUER = env.str("ANNOTATOR_TASK_ISSUER", default="elicitation.issuer.task_issue_cost_aware")

# Production hardening (active when DJANGO_DEBUG=false).
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Modules told about assignment life-cycle events (see annotator/hooks.py).
ANNOTATOR_ASSIGNMENT_HOOKS = env.list("ANNOTATOR_ASSIGNMENT_HOOKS", default=["elicitation.hooks"])
# Extra panels on the researcher's dashboard, as dotted paths to functions
# ``(campaign) -> {"title", "template", "context"}`` (see annotator/selectors/dashboard.py);
# this is how elicitation and rewardlab show budgets and models without annotator importing them.
DASHBOARD_PANELS = env.list("DASHBOARD_PANELS", default=["rewardlab.dashboard.model_panel",
                                                       "elicitation.dashboard.budget_panel"])

# Tell rewardlab (by task name, after commit) when consolidated values change.
REWARDLAB_NOTIFY = env.bool("REWARDLAB_NOTIFY", default=True)

# Reward models (rewardlab) and elicitation knobs, all overridable from the environment.
REWARDLAB_RETRAIN_EVERY = env.int("REWARDLAB_RETRAIN_EVERY", default=50)
REWARDLAB_DEVICE = env.str("REWARDLAB_DEVICE", default="auto")
REWARDLAB_SCORE_DEVICE = env.str("REWARDLAB_SCORE_DEVICE", default="cpu")
REWARDLAB_TRAIN_SOFT_TIME_LIMIT = env.int("REWARDLAB_TRAIN_SOFT_TIME_LIMIT", default=3600)
ELICITATION_SCORE_FRONTIER = env.int("ELICITATION_SCORE_FRONTIER", default=5000)
ELICITATION_PSEUDO_COUNT = env.float("ELICITATION_PSEUDO_COUNT", default=5.0)
ELICITATION_CHARGE_CAP_MULTIPLE = env.float("ELICITATION_CHARGE_CAP_MULTIPLE", default=3.0)
