from django.apps import AppConfig


class BenchOursConfig(AppConfig):
    name = "bench_ours"
    default_auto_field = "django.db.models.BigAutoField"
