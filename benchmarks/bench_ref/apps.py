from django.apps import AppConfig


class BenchRefConfig(AppConfig):
    name = "bench_ref"
    default_auto_field = "django.db.models.BigAutoField"
