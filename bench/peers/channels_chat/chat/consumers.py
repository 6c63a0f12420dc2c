"""The tutorial's ``ChatConsumer``, storing each message before it is acknowledged.

Differences from the tutorial, each what a real chat needs: the message is saved first
(``database_sync_to_async``), the sender gets ``message.ack``, and the group copy skips the
sender's own socket. Frames use kefu's names so one load generator drives both.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Message


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        query = self.scope["query_string"].decode()
        self.role = "agent" if "role=agent" in query else "visitor"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        frame = json.loads(text_data)
        if frame.get("type") != "message.send":
            return
        message = await self.save_message(frame)
        await self.send(
            text_data=json.dumps({"type": "message.ack", "client_id": message.client_id, "id": message.id})
        )
        await self.channel_layer.group_send(
            self.room_group_name,
            {
                "type": "chat.message",
                "sender_channel": self.channel_name,
                "message": {
                    "id": message.id,
                    "room": message.room,
                    "sender": message.sender,
                    "kind": message.kind,
                    "body": message.body,
                    "client_id": message.client_id,
                    "created_at": message.created_at.isoformat(),
                },
            },
        )

    @database_sync_to_async
    def save_message(self, frame):
        return Message.objects.create(
            room=self.room_name,
            sender=self.role,
            kind=frame.get("kind", "text"),
            body=frame["body"],
            client_id=frame["client_id"],
        )

    async def chat_message(self, event):
        if event["sender_channel"] == self.channel_name:
            return
        await self.send(text_data=json.dumps({"type": "message.new", "message": event["message"]}))
