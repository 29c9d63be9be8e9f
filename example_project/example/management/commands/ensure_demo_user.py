from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo superuser (demo / demo) if it does not exist, and print how to sign in."

    def handle(self, *args, **options):
        User = get_user_model()
        if not User.objects.filter(username="demo").exists():
            User.objects.create_superuser("demo", "demo@example.com", "demo")
        port = __import__("os").environ.get("PORT", "8000")
        self.stdout.write(
            f"Open http://127.0.0.1:{port}/ and sign in as demo / demo; GraphiQL is at http://127.0.0.1:{port}/graphql/."
        )
