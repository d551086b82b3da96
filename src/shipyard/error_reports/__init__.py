"""Recent errors: every 5xx and unhandled exception, scrubbed, bounded to the last 1,000 per deployment."""
