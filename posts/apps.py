from django.apps import AppConfig


class PostsConfig(AppConfig):
    name = "posts"

    def ready(self) -> None:
        from posts import cache, selectors  # import the models: only once apps are loaded
        from users.selectors import ROW_COUNTS

        cache.register()
        ROW_COUNTS["post_count"] = selectors.published_count()
