-- Run once as a superuser, in the `postgres` database:  psql -f 01-roles.sql
-- Two roles: the migrator owns the schema and runs DDL (shipyard migrate); the app role may only
-- read and write rows. Set their passwords afterwards with \password (never in a file).
CREATE ROLE shipyard_migrator LOGIN;
CREATE ROLE shipyard_app LOGIN;
CREATE DATABASE shipyard OWNER shipyard_migrator;
