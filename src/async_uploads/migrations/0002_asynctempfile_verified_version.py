from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("async_uploads", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="asynctempfile",
            name="verified_version",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
    ]
