"""Invoice counts and amounts per organisation, kept in the same transaction as the invoice writes."""
