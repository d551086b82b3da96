-- Run as the migrator after every `shipyard migrate` (the migrate unit does this).
-- The audit log is append-only for the application, in the database as well as in the code.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM shipyard_app;
