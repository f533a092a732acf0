-- Version 32 moves SQLite's webhook inbox to a file of its own; PostgreSQL keeps
-- one database, and unhandled_items keeps its reference to webhook_inbox.
SELECT 1;
