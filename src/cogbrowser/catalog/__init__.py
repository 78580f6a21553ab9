"""The catalog in PostgreSQL: schema, migrations, the embedded server, and every query."""
