from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import readers  # imports models: only once apps are loaded

        readers.register()

        from api.metrics import publish_release

        publish_release()
