from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []  # noqa: RUF012 - Django's migration format

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Message",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("room", models.CharField(max_length=64)),
                ("sender", models.CharField(max_length=16)),
                ("kind", models.CharField(default="text", max_length=16)),
                ("body", models.TextField()),
                ("client_id", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("room", "client_id"), name="message_room_client_id")
                ],
            },
        ),
    ]
