-- Spec 12.7: a view runs with its owner's rights unless it is security_invoker (PostgreSQL 15+), so every caller
-- granted a view read the tables below it past their grants and RLS policies.
-- A security_invoker view reads its tables with the caller's rights. databases_safe exists to show the registry
-- without credentials, so the database owner role (when it does not own platform.databases) gets SELECT on exactly
-- the columns that view reads (spec 6.A), not on the table: it keeps what it could read before, and the secret
-- columns stay closed.
DO $m010$
DECLARE
  v_owner name;
  v_view text;
  v_columns text;
BEGIN
  IF pg_catalog.current_setting('server_version_num')::int < 150000 THEN
    RAISE WARNING 'PostgreSQL % has no security_invoker views; the platform views still run with their owner''s rights (only the grants above restrict them)', pg_catalog.current_setting('server_version');
    RETURN;
  END IF;
  FOREACH v_view IN ARRAY ARRAY[
      'platform.projects_with_credentials',
      'platform.organizations_with_stats',
      'platform.subscriptions_with_orgs',
      'platform.organization_billing_overview',
      'platform.project_resources',
      'platform.databases_with_connection_strings',
      'platform.databases_safe'
    ]::text[] LOOP
    CONTINUE WHEN to_regclass(v_view) IS NULL;
    EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', v_view);
  END LOOP;

  SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO STRICT v_owner
  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
  IF to_regclass('platform.databases_safe') IS NOT NULL AND NOT pg_catalog.has_table_privilege(v_owner, 'platform.databases', 'SELECT') THEN
    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail, value)
    SELECT 'column_acl', 'platform.databases', a.attname, a.attacl::text
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'platform.databases'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = 'platform.databases'::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname = ANY (ARRAY[
      'id',
      'project_id',
      'name',
      'type',
      'host',
      'port',
      'database',
      'ssl_enabled',
      'config',
      'metadata',
      'status',
      'health_check_status',
      'last_health_check_at',
      'created_at',
      'updated_at'
    ]::text[]);
    EXECUTE format('GRANT SELECT (%s) ON TABLE platform.databases TO %I', v_columns, v_owner);
  END IF;
END
$m010$;
