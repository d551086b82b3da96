"""Invoices: per-organisation numbering, line items and the draft → open → paid|void lifecycle."""
