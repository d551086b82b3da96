"""Browser sessions: the store interface and its two stores, rotation, cookies, CSRF and the session routes."""
