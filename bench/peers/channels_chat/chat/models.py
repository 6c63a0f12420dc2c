"""One stored chat message."""

from django.db import models


class Message(models.Model):
    room = models.CharField(max_length=64)
    sender = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, default="text")
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [  # noqa: RUF012 - Django reads Meta as is
            models.UniqueConstraint(fields=["room", "client_id"], name="message_room_client_id")
        ]
