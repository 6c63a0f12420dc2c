"""Settings of the Channels tutorial's ``mysite``, tuned only where production would be.

DEBUG is off, database connections persist, SQLite runs in WAL with synchronous=NORMAL (the
same durability as kefu's embedded mode), and the channel layer uses its own Redis database
and prefix.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("CHAT_SECRET_KEY", "bench-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "chat",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CHAT_DB", str(BASE_DIR / "db.sqlite3")),
        # Persistent connections (Django's documented speed-up): without them every
        # database_sync_to_async call reopens SQLite and checkpoints the WAL on close.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
    }
}

# The tutorial's RedisChannelLayer; CHAT_LAYER=pubsub picks the newer RedisPubSubChannelLayer.
LAYER = os.environ.get("CHAT_LAYER", "core")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": {
            "core": "channels_redis.core.RedisChannelLayer",
            "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        }[LAYER],
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/11"),
                    # redis-py 8 caps a pool at 100 connections; 2,000 sockets joining
                    # their groups at once need more ("Too many connections" otherwise).
                    "max_connections": 4096,
                    # redis-py 8's default read timeout (5 s) equals channels_redis's BZPOPMIN
                    # timeout, so idle consumers die with TimeoutError (redis-py issue 4091).
                    "socket_timeout": 30,
                }
            ],
            "prefix": "kefubench",
            # All of a process's consumers share one Redis queue; at the default capacity of
            # 100, group_send silently drops messages once 1,000 pairs are talking.
            "capacity": 10_000,
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
