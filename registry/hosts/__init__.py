"""Hosts (ヌシ): accounts invited by a 団体's staff, one-time set-password links, check-in on the day."""
