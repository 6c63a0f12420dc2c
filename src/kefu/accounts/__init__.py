"""Merchants (tenants), users and their roles, merchant settings, widget keys."""
