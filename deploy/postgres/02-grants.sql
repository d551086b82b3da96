-- Run once as a superuser, connected to the `shipyard` database:  psql -d shipyard -f 02-grants.sql
-- Nobody but the migrator may create objects in the schema (PostgreSQL 15+ already revokes
-- CREATE from PUBLIC; older versions did not, so say it explicitly).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Nor temporary tables: PostgreSQL grants TEMPORARY on every database to PUBLIC, which would let
-- the app role (or SQL injected through it) create objects after all. The app never needs one.
REVOKE TEMPORARY ON DATABASE shipyard FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO shipyard_app;
-- Every table and sequence the migrator creates from now on is readable and writable by the app.
ALTER DEFAULT PRIVILEGES FOR ROLE shipyard_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shipyard_app;
ALTER DEFAULT PRIVILEGES FOR ROLE shipyard_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO shipyard_app;
