"""Browser sign-in: OIDC through Authentik (or any standard issuer), accounts and server-side sessions."""
