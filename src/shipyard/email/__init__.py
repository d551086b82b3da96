"""Outgoing email: queued in the database, sent over SMTP by a job per message."""
