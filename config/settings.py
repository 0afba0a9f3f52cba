"""Django settings, all read from the environment (django-environ). README lists every variable."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def embedded_default(value):
    """A default for the embedded (DEBUG) setup only: production must set the variable, and
    refuses to start without it (django-environ's ImproperlyConfigured names it)."""
    return value if DEBUG else environ.Env.NOTSET


def required(name: str, value):
    """``value`` without surrounding blanks; a variable set but blank is refused too."""
    value = (
        [part.strip() for part in value if part.strip()]
        if isinstance(value, list)
        else value.strip()
    )
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value


SECRET_KEY = required(
    "SECRET_KEY", env.str("SECRET_KEY", default=embedded_default("dev-only-insecure-key"))
)
# "testserver" is the Django test client's host: never one production answers to.
ALLOWED_HOSTS = required(
    "ALLOWED_HOSTS",
    env.list("ALLOWED_HOSTS", default=embedded_default(["127.0.0.1", "localhost", "testserver"])),
)
if not DEBUG and "testserver" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must not include testserver (the test client's host) in production."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # Serves the API docs page (/v0/docs) with Swagger UI from local static files: CSP-clean.
    "ninja",
    "orgs",
    "checkout",
    # After checkout, whose `db_worker` (the library's worker plus the re-running of tasks whose
    # worker died, checkout.task_recovery) takes precedence, as staticfiles' runserver does.
    "django_tasks_db",
    "dashboard",
    # Login throttling (dashboard and admin): failed logins counted in the database.
    "axes",
]

MIDDLEWARE = [
    # Outermost, so the responses Django makes for a refused Host header (raised by the
    # middleware below) still get the API's Cache-Control and the pages' CSP.
    "checkout.api.middleware.api_responses_are_not_stored",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: axes' middleware (turns a login refused by its backend into our lockout page, 429).
    "dashboard.login_throttle.LoginThrottleMiddleware",
]

# django-axes' backend first: it refuses a locked-out username or client before Django checks
# the password, and records every failure (README: "Limits", "Logins").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's built-in pool (psycopg_pool): a request borrows an open connection instead of
    # opening one (a new PostgreSQL connection costs more than most of our requests).
    # Per process: DB_POOL_MAX_SIZE × app processes must stay under max_connections.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
    # Parallel query: its workers take longer to start than our reads take (measured at 1M
    # sessions on 2 cores: the leader waited 30 ms for workers that scanned for 10 ms), and
    # they take cores from the other requests. Off unless DB_PARALLEL_WORKERS says otherwise.
    parallel = f"-c max_parallel_workers_per_gather={env.int('DB_PARALLEL_WORKERS', default=0)}"
    options = DATABASES["default"]["OPTIONS"].get("options", "")
    DATABASES["default"]["OPTIONS"]["options"] = f"{options} {parallel}".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the dev server, a worker and tests share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are a PostgreSQL speed-up; SQLite builds them without the extra
# columns, which is what we want there.
# axes.W002 looks for axes' own middleware by name; ours is a subclass of it
# (dashboard.login_throttle.LoginThrottleMiddleware), which axes' check does not recognise.
SILENCED_SYSTEM_CHECKS = ["models.W040", "axes.W002"]

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
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"  # the first org's test-mode sessions list
LOGOUT_REDIRECT_URL = "login"

# Email: console in the embedded default; EMAIL_URL (smtp://user:pass@host:587) in production
# (`check --deploy` fails on a mailer that delivers nothing: checkout/checks.py).
# Django 6.1's MAILERS replaces the EMAIL_* settings; EMAIL_URL is parsed by django-environ.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_email_options = {
    "django.core.mail.backends.smtp.EmailBackend": {
        "host": _email.get("EMAIL_HOST"),
        "port": _email.get("EMAIL_PORT"),
        "username": _email.get("EMAIL_HOST_USER") or None,
        "password": _email.get("EMAIL_HOST_PASSWORD") or None,
        "use_tls": _email.get("EMAIL_USE_TLS", False),
        "use_ssl": _email.get("EMAIL_USE_SSL", False),
        "timeout": env.int("EMAIL_TIMEOUT", default=10),
    },
    "django.core.mail.backends.filebased.EmailBackend": {
        "file_path": _email.get("EMAIL_FILE_PATH") or str(BASE_DIR / "var" / "mail"),
    },
}.get(_email["EMAIL_BACKEND"], {})
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="receipts@checkout.localhost")

# Tasks: the database backend (django-tasks-db) everywhere, run by a worker process beside the
# web server (`make run` starts both). `immediate` runs a task inside the request that enqueued
# it, after its commit: the test suite uses it (tests/settings.py); it cannot defer, so it has no
# retries and no expiry callbacks (see README, "Background tasks").
TASKS_BACKEND = env.str("TASKS_BACKEND", default="database")
TASKS = {
    "default": {
        "BACKEND": {
            "immediate": "django.tasks.backends.immediate.ImmediateBackend",
            "database": "django_tasks_db.DatabaseBackend",
        }[TASKS_BACKEND],
        "QUEUES": ["default"],
    }
}
# At least once: a task still running this long after it started is taken to have lost its
# worker (killed, crashed, machine gone) and is run again by `db_worker`. Keep it well above the
# longest task (a callback or receipt waits at most CALLBACK_TIMEOUT_SECONDS / EMAIL_TIMEOUT),
# or a slow task runs twice. Workers look every TASK_STALE_AFTER_SECONDS / 8 (1-30 s), so a lost
# task runs again within 4.5 minutes by default.
TASK_STALE_AFTER_SECONDS = env.int("TASK_STALE_AFTER_SECONDS", default=240)

# The public base URL used in emails, callbacks and API responses (session.url).
SITE_URL = required(
    "SITE_URL", env.str("SITE_URL", default=embedded_default("http://127.0.0.1:8000"))
).rstrip("/")

# Client IP: REMOTE_ADDR unless we sit behind this many trusted proxies appending X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Live mode charges through this processor class (dotted path); none configured = live disabled.
LIVE_PAYMENT_PROCESSOR = env.str("LIVE_PAYMENT_PROCESSOR", default="")

# Callbacks: seconds to wait before each retry (8 tries over about a day), request timeout,
# and whether hosts resolving to private / loopback addresses are allowed (SSRF guard).
CALLBACK_RETRY_SCHEDULE = env.list(
    "CALLBACK_RETRY_SCHEDULE", cast=int, default=[60, 300, 1800, 7200, 18000, 36000, 36000]
)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10.0)
# Receipts and recovery emails: seconds to wait before each new try after the mail server failed
# in a way that may pass (down, hanging up, a 4xx reply): as callbacks, 8 tries over about a day;
# a recovery email's tries stop at its link's expiry.
RECEIPT_RETRY_SCHEDULE = env.list(
    "RECEIPT_RETRY_SCHEDULE", cast=int, default=[60, 300, 1800, 7200, 18000, 36000, 36000]
)
CALLBACK_ALLOW_PRIVATE = env.bool("CALLBACK_ALLOW_PRIVATE", default=DEBUG)

# Session counts: finished sessions are rolled up every ROLLUP_INTERVAL_SECONDS, up to
# ROLLUP_SAFETY_MARGIN_SECONDS ago (longer than any payment transaction can stay open).
ROLLUP_INTERVAL_SECONDS = env.int("ROLLUP_INTERVAL_SECONDS", default=60)
ROLLUP_SAFETY_MARGIN_SECONDS = env.int("ROLLUP_SAFETY_MARGIN_SECONDS", default=600)

# The worker's housekeeping (checkout.upkeep): how often, and how long finished rows are kept.
UPKEEP_INTERVAL_SECONDS = env.int("UPKEEP_INTERVAL_SECONDS", default=600)
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=7)
CALLBACK_DELIVERY_RETENTION_DAYS = env.int("CALLBACK_DELIVERY_RETENTION_DAYS", default=30)
# Sessions' IP addresses and user agents are dropped after this many days (0: kept).
CUSTOMER_CONTEXT_RETENTION_DAYS = env.int("CUSTOMER_CONTEXT_RETENTION_DAYS", default=90)
if CUSTOMER_CONTEXT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("CUSTOMER_CONTEXT_RETENTION_DAYS must be 0 (keep) or more.")

# Portal links in receipts stay valid this many days.
PORTAL_LINK_MAX_AGE_DAYS = env.int("PORTAL_LINK_MAX_AGE_DAYS", default=30)

# Team invitation links (orgs.team) work once, within this many days of being sent.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)
# Hardening limits (checkout/card_testing.py, checkout/link_guard.py, checkout/api/throttling.py).
# Counted in PostgreSQL, the one engine every app server shares (README: "Limits"); 0 turns a
# limit off. Card testing: declines per session, declines per client IP (IPv6: per /64) per hour,
# and the org's velocity alarm (declines per org and mode within a window).
CARD_TESTING_DECLINES_PER_SESSION = env.int("CARD_TESTING_DECLINES_PER_SESSION", default=5)
CARD_TESTING_DECLINES_PER_IP_PER_HOUR = env.int("CARD_TESTING_DECLINES_PER_IP_PER_HOUR", default=20)
CARD_TESTING_ALARM_DECLINES = env.int("CARD_TESTING_ALARM_DECLINES", default=30)
CARD_TESTING_ALARM_WINDOW_MINUTES = env.int("CARD_TESTING_ALARM_WINDOW_MINUTES", default=10)
# How long the sessions list shows an alarm after it was raised.
CARD_TESTING_ALARM_SHOWN_HOURS = env.int("CARD_TESTING_ALARM_SHOWN_HOURS", default=24)
# Payment-link bots: new sessions one client IP may open per payment link per hour.
PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = env.int("PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR", default=20)
# The JSON API: requests per API key per window (fixed windows of this many seconds).
API_RATE_LIMIT_REQUESTS = env.int("API_RATE_LIMIT_REQUESTS", default=100)
API_RATE_LIMIT_WINDOW_SECONDS = env.int("API_RATE_LIMIT_WINDOW_SECONDS", default=10)
# Logins (dashboard and admin, django-axes, counted in the database): this many failures lock
# out the username (from any IP) and, separately, the client IP (for any username) for the
# cool-off; each failure during a lockout starts the cool-off again. 0 = no lockout.
LOGIN_FAILURES_BEFORE_LOCKOUT = env.int("LOGIN_FAILURES_BEFORE_LOCKOUT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_ENABLED = LOGIN_FAILURES_BEFORE_LOCKOUT > 0
AXES_FAILURE_LIMIT = max(LOGIN_FAILURES_BEFORE_LOCKOUT, 1)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged
# The client as every other limit sees it: the trusted-proxy rule, IPv6 per /64.
AXES_CLIENT_IP_CALLABLE = "dashboard.login_throttle.login_client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.login_throttle.lockout_response"
AXES_USERNAME_CALLABLE = "dashboard.login_throttle.login_username"
# A success clears that username's and that client's failures (a user who finally remembers
# is not locked out by their earlier typos).
AXES_RESET_ON_SUCCESS = True
# Only failures are stored (AccessFailureLog off, AccessLog off): successes need no row each.
AXES_DISABLE_ACCESS_LOG = True
# Axes' log lines (a warning at each failure and at each lockout) name the username and the
# client, so an operator can see who is being attacked and from where (it masks them by default).
AXES_SENSITIVE_PARAMETERS = []
# Password reset requests: per email address and per client IP, per hour. Past either the page
# still says "check your email" and nothing is sent. 0 = no limit.
PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = env.int("PASSWORD_RESETS_PER_ADDRESS_PER_HOUR", default=3)
PASSWORD_RESETS_PER_IP_PER_HOUR = env.int("PASSWORD_RESETS_PER_IP_PER_HOUR", default=10)

# API request bodies above this size are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# Content Security Policy (Django's built-in middleware): no inline scripts or styles anywhere.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF, "https:", "http:"],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's default config gives the "django" logger a console handler of its own, so each of
    # its lines was printed twice (once there, once by the root): let the root print them.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
