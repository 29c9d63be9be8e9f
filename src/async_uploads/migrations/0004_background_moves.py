from django.db import migrations, models


class Migration(migrations.Migration):
    """Background moves: uploads left for the task to verify, and the task's sign of life."""

    dependencies = [
        ('async_uploads', '0003_pending_upload_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='asynctempfile',
            name='verification_pending',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='asynctempfile',
            name='move_heartbeat',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
