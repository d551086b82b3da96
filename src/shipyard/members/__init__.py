"""Teams: members and their roles, invitations, and the browser session's active organisation."""
