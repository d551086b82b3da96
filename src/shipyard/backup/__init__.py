"""Backups of the embedded SQLite database (age-encrypted) and the one-shot copy to PostgreSQL."""
