"""Shipyard: a production-grade, secure, AI-friendly SaaS platform."""
