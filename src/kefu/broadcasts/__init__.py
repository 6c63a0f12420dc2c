"""Broadcasts (群发消息): notices an admin sends to every agent of the merchant."""
