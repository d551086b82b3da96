"""Releases and deploys: immutable release directories, the blue/green switch behind Caddy, rollback."""
