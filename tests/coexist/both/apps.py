from django.apps import AppConfig


class BothConfig(AppConfig):
    name = "tests.coexist.both"
    label = "both"
