-- Spec 12.6 and 12.12. PUBLIC keeps SELECT on every column of platform.projects but database_password (column
-- grants), so reads of names, refs and status by other roles keep working; it loses credentials, the joined view and
-- the cross-tenant registry listing. The database owner role gets table-level SELECT on each.
DO $m010$
DECLARE
  v_owner name;
  v_relation text;
  v_oid oid;
  v_columns text;
BEGIN
  SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO STRICT v_owner
  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
  FOREACH v_relation IN ARRAY ARRAY[
      'platform.credentials',
      'platform.projects',
      'platform.projects_with_credentials',
      'platform.databases_safe'
    ]::text[] LOOP
    v_oid := to_regclass(v_relation);
    CONTINUE WHEN v_oid IS NULL;
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
      WHERE c.oid = v_oid AND a.grantee = 0 AND a.privilege_type = 'SELECT');

    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, value)
    SELECT 'relation_acl', v_relation, c.relacl::text FROM pg_catalog.pg_class c WHERE c.oid = v_oid;
    IF v_relation = 'platform.projects' THEN
      INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail, value)
      SELECT 'column_acl', v_relation, a.attname, a.attacl::text
      FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_oid AND a.attnum > 0 AND NOT a.attisdropped;
    END IF;

    EXECUTE format('REVOKE SELECT ON TABLE %s FROM PUBLIC', v_relation);
    EXECUTE format('GRANT SELECT ON TABLE %s TO %I', v_relation, v_owner);

    IF v_relation = 'platform.projects' THEN
      SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
      FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = v_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'database_password';
      EXECUTE format('GRANT SELECT (%s) ON TABLE platform.projects TO PUBLIC', v_columns);
    END IF;
  END LOOP;
END
$m010$;
