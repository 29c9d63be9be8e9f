from django.apps import AppConfig


class AsyncUploadsConfig(AppConfig):
    name = "async_uploads"
    label = "async_uploads"
    verbose_name = "Async uploads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from async_uploads import (
            checks,  # noqa: F401  (registers the system checks)
            tasks,
        )
        from async_uploads.moves import connect_models

        connect_models()
        tasks.install()  # background moves, when the settings ask for them
