"""Agents' groups, status, capacity and presence."""
