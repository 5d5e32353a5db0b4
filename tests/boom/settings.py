from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.boom.urls"
