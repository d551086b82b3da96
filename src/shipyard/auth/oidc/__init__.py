"""The OpenID Connect relying party: discovery, keys, the authorization request, code exchange, ID token checks."""
