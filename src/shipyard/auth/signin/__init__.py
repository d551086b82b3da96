"""Sign-in and accounts: the login endpoints, account creation and linking, the rate limit, metrics and pages."""
