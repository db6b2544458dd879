"""The one settings module: everything that differs between machines comes from the environment."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PROMPTLIB_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

# pytest (8.2+) exports PYTEST_VERSION for the whole session, including worker subprocesses.
TESTING = "PYTEST_VERSION" in os.environ

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 - DEBUG/test only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "promptlib",
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
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "promptlib" / "templates"],
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

# SQLite is the embedded default so the first run needs no server; PostgreSQL in production.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions make concurrent writers queue instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # A file (not :memory:) so that threads and worker processes in tests share one database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, reusing one client per process and batching the hot path's round trips.
            "BACKEND": "promptlib.core.cache_backend.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="promptlib"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "promptlib"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# Production hardening: on unless DEBUG, so `check --deploy` is clean with production values.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG and not TESTING
CSRF_COOKIE_SECURE = not DEBUG and not TESTING
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The SDKs' HTTP clients log every request at INFO, which floods batch workers.
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai", "anthropic")},
}

# --- Celery ---------------------------------------------------------------------------------
# With REDIS_URL, Redis is the broker; without it, kombu's filesystem transport still runs tasks
# in a real worker process, so the first run needs no server.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300)}
else:
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
# Late acknowledgement: a worker killed mid-task leaves the message to be redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- DRF ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # API keys first: a key request never touches the session (no query on the hot path).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "promptlib.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["promptlib.api.permissions.ProjectAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["promptlib.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("PROMPTLIB_API_RATE", default="6000/min")},
    "DEFAULT_PARSER_CLASSES": ["promptlib.api.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "promptlib.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "promptlib API",
    "DESCRIPTION": "Fetch rendered prompts, report outcomes, manage templates and A/B tests.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # The schema and its viewers are public documentation; the endpoints themselves need a key.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {"ExperimentStatusEnum": "promptlib.experiments.models.Experiment.Status"},
}

# --- promptlib ---------------------------------------------------------------------------------
# Caps that keep a hostile or careless template from hanging a web or Celery worker.
PROMPTLIB_RENDER_TIMEOUT_SECONDS = env.float("PROMPTLIB_RENDER_TIMEOUT_SECONDS", default=1.0)
PROMPTLIB_RENDER_MAX_OUTPUT_CHARS = env.int("PROMPTLIB_RENDER_MAX_OUTPUT_CHARS", default=200_000)
# Knowledge bases: the largest file accepted (bytes), and the most text one file may hold (characters).
PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
PROMPTLIB_KNOWLEDGE_MAX_TEXT_CHARS = env.int("PROMPTLIB_KNOWLEDGE_MAX_TEXT_CHARS", default=5_000_000)
# How long a call may wait for a free provider slot (concurrency / RPM) before it counts as a temporary error.
PROMPTLIB_LIMIT_ACQUIRE_TIMEOUT = env.float("PROMPTLIB_LIMIT_ACQUIRE_TIMEOUT", default=300.0)

# --- Batches (promptlib/batches/services.py) ------------------------------------------------------
# A queue name per environment (or per test run, so that stale messages never leak between runs).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Items per Celery task (fewer when a batch is small: at least 16 tasks); a task runs its items on a
# thread pool sized to its share of the provider's cap (promptlib/batches/runner.py threads_for).
PROMPTLIB_BATCH_CHUNK_SIZE = env.int("PROMPTLIB_BATCH_CHUNK_SIZE", default=50)
# At most this many threads per worker process, whatever the provider's cap: with fast answers a few
# threads keep a CPU busy, and more only trade the GIL back and forth.
PROMPTLIB_BATCH_MAX_THREADS = env.int("PROMPTLIB_BATCH_MAX_THREADS", default=64)
# The most calls one batch may make (cases × repeats × variants); a bigger one is refused with a 400.
PROMPTLIB_BATCH_MAX_ITEMS = env.int("PROMPTLIB_BATCH_MAX_ITEMS", default=200_000)
# A claimed item belongs to its worker for this long beyond the provider timeout; after that a
# worker killed mid-call loses it and the sweeper hands it to another.
PROMPTLIB_BATCH_LEASE_SECONDS = env.float("PROMPTLIB_BATCH_LEASE_SECONDS", default=60.0)
# Pending items whose task message has not been picked up for this long are enqueued again.
PROMPTLIB_BATCH_REQUEUE_SECONDS = env.float("PROMPTLIB_BATCH_REQUEUE_SECONDS", default=600.0)
# How often the sweeper runs (expired leases, lost messages, finished batches): on a timer thread of the
# celery beat process (promptlib/batches/sweeper.py), not through the queue, so chunks never delay it.
# Items of a killed worker run again within lease + this + a few seconds.
PROMPTLIB_BATCH_SWEEP_SECONDS = env.float("PROMPTLIB_BATCH_SWEEP_SECONDS", default=5.0)
# Batches of up to this many calls are written while they are created; bigger ones by a task
# (status "preparing"), in statements of about PROMPTLIB_BATCH_PREPARE_SLICE items, each committed.
PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS = env.int("PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS", default=5_000)
PROMPTLIB_BATCH_PREPARE_SLICE = env.int("PROMPTLIB_BATCH_PREPARE_SLICE", default=50_000)
# A task with idle threads takes on further pending items of its batch for up to this long.
PROMPTLIB_BATCH_STEAL_SECONDS = env.float("PROMPTLIB_BATCH_STEAL_SECONDS", default=60.0)
# Retry waits up to this are slept in the worker; longer ones re-schedule the item with a countdown.
PROMPTLIB_BATCH_MAX_SLEEP_SECONDS = env.float("PROMPTLIB_BATCH_MAX_SLEEP_SECONDS", default=2.0)
# How often the exposure counts (renders and users per variant, kept in Redis) are written to the database.
PROMPTLIB_EXPOSURES_FLUSH_SECONDS = env.float("PROMPTLIB_EXPOSURES_FLUSH_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "promptlib-exposures-flush": {
        "task": "promptlib.tasks.exposures_flush",
        "schedule": PROMPTLIB_EXPOSURES_FLUSH_SECONDS,
    },
}

# --- Provider secrets and outbound calls (issue 10) ------------------------------------------------
# Fernet keys for provider API keys at rest (promptlib/core/secrets.py), comma-separated: the first
# encrypts, all decrypt (rotation). Generate one with:
#   python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
PROMPTLIB_SECRETS_KEYS = env.list("PROMPTLIB_SECRETS_KEY", default=[])
# Empty only in DEBUG and tests, where promptlib/core/secrets.py derives a development key from SECRET_KEY.
if not PROMPTLIB_SECRETS_KEYS and not (DEBUG or TESTING):
    raise ImproperlyConfigured(
        "PROMPTLIB_SECRETS_KEY must be set when DEBUG is off: it encrypts the provider API keys stored in the "
        'database. Generate one with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"'
    )
if any(len(key) != 44 or not key.endswith("=") for key in PROMPTLIB_SECRETS_KEYS):
    raise ImproperlyConfigured("PROMPTLIB_SECRETS_KEY: each comma-separated value must be a Fernet key (44 chars).")
# Environment variables a provider may name as its key (a trailing * matches a prefix). SECRET_KEY,
# DATABASE_URL, REDIS_URL and PROMPTLIB_SECRETS_KEY are refused even when listed.
PROMPTLIB_ALLOWED_KEY_ENV = env.list(
    "PROMPTLIB_ALLOWED_KEY_ENV", default=["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PROMPTLIB_KEY_*"]
)
# Hosts (exact, or ".suffix") and CIDRs providers may be called at beyond the public internet (private
# ranges, loopback); a key named by environment variable is sent only to the provider's own address
# or to these. Link-local and metadata addresses are refused whatever is listed.
PROMPTLIB_PROVIDER_HOSTS = env.list("PROMPTLIB_PROVIDER_HOSTS", default=[])
# Loopback (a local Ollama, the test stand-ins) is allowed in development and tests.
PROMPTLIB_ALLOW_LOOPBACK = env.bool("PROMPTLIB_ALLOW_LOOPBACK", default=DEBUG or TESTING)

# --- Login and key throttling (issue 10) ---------------------------------------------------------
# Failed admin sign-ins: django-axes locks a username from one address after AXES_FAILURE_LIMIT
# failures for the cool-off (a failure while locked restarts it); a success clears the count.
# Attempts live in the database, so every process sees them; superusers can unlock under "Axes".
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks: it turns a lockout into its page
AUTHENTICATION_BACKENDS = ["promptlib.admin.login.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("PROMPTLIB_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.int("PROMPTLIB_LOGIN_COOLOFF_MINUTES", default=15) / 60  # axes reads a float as hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are still logged
AXES_LOCKOUT_CALLABLE = "promptlib.admin.login.lockout_response"
AXES_CLIENT_IP_CALLABLE = "promptlib.api.throttling.client_ip"
# Behind a reverse proxy: how many proxies' X-Forwarded-For entries to trust. 0 (the default) reads
# REMOTE_ADDR only, so that a client cannot pick its own address to dodge throttles and lockouts.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("PROMPTLIB_PROXY_COUNT", default=0)
# Bad API keys: after this many failed well-formed keys from one address in the period, every key
# from it answers 429 (with Retry-After) until the period ends. Empty to turn off.
PROMPTLIB_API_KEY_FAILURE_RATE = env.str("PROMPTLIB_API_KEY_FAILURE_RATE", default="20/min")
# Playground runs and Test connection: paid provider calls a person fires from the admin, per user
# and period (e.g. "30/min"). Empty to turn off.
PROMPTLIB_PLAYGROUND_RATE = env.str("PROMPTLIB_PLAYGROUND_RATE", default="30/min")
# The longest a playground run holds a web worker (the provider's own timeout when shorter): below
# gunicorn's default 30 s worker timeout, which would kill the worker mid-answer.
PROMPTLIB_PLAYGROUND_MAX_SECONDS = env.float("PROMPTLIB_PLAYGROUND_MAX_SECONDS", default=25.0)

# --- Inputs: JSON errors under /api/ (issue 10) --------------------------------------------------
# Refuses, under /api/, a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413) and a NUL in the path or
# query (400) in the JSON error shape; early, so that no other middleware reads the body first.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.common.CommonMiddleware"),
    "promptlib.api.django_errors.ApiRequestGuardMiddleware",
)
