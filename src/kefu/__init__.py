"""kefu — self-hosted online customer service."""

__version__ = "0.1.0"
