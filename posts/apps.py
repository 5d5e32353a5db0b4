from django.apps import AppConfig


class PostsConfig(AppConfig):
    name = "posts"

    def ready(self) -> None:
        from posts import cache  # imports the models: only once apps are loaded

        cache.register()
