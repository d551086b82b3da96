"""Customers: the first resource of the reference domain."""
