from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"

    def ready(self) -> None:
        from users import cache  # imports the models: only once apps are loaded

        cache.register()
