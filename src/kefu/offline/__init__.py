"""Offline messages (留言) left when nobody can serve, and the admins' replies."""
