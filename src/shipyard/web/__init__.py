"""The web UI's page shell: one HTML page per path, whose ES modules read and write through /api/v1."""
