-- kind/object/detail identify what was changed; value is how it was before (NULL = it was NULL).
CREATE TABLE ogelbase_migrations.m010_saved_state (
  kind text NOT NULL,
  object text NOT NULL,
  detail text NOT NULL DEFAULT '',
  value text,
  PRIMARY KEY (kind, object, detail)
);
COMMENT ON TABLE ogelbase_migrations.m010_saved_state IS 'Grants, definitions and settings migration 10 replaced, as they were before it; its rollback restores them and drops this table.';
