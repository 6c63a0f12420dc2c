"""Canned replies (常用语): shared ones the admins keep for everyone, personal ones per agent."""
