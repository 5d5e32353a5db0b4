from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import authentication  # imports models: only once apps are loaded
        from api.metrics import publish_release

        authentication.register()
        publish_release()
