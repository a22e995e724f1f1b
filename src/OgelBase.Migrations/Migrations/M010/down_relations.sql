-- Table-level first: revoking a table privilege also revokes it on every column, so columns come after.
DO $m010$
DECLARE
  r record;
  v_current aclitem[];
  v_saved aclitem[];
BEGIN
  FOR r IN SELECT s.object, s.value FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'relation_acl' ORDER BY s.object LOOP
    SELECT c.relacl INTO v_current FROM pg_catalog.pg_class c WHERE c.oid = r.object::regclass;
    v_saved := r.value::aclitem[];
    IF v_saved IS NULL THEN
      SELECT pg_catalog.acldefault('r', c.relowner) INTO v_saved FROM pg_catalog.pg_class c WHERE c.oid = r.object::regclass;
    END IF;
    PERFORM ogelbase_migrations.m010_rebuild_acl('TABLE ' || r.object, '', v_current, v_saved);
  END LOOP;

  FOR r IN SELECT s.object, s.detail, s.value FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'column_acl' ORDER BY s.object, s.detail LOOP
    SELECT a.attacl INTO v_current FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.object::regclass AND a.attname = r.detail;
    -- An empty column ACL is stored as NULL by the server, so revoking everything restores a NULL one.
    PERFORM ogelbase_migrations.m010_rebuild_acl('TABLE ' || r.object, ' (' || pg_catalog.quote_ident(r.detail) || ')',
                                                 coalesce(v_current, '{}'::aclitem[]), coalesce(r.value::aclitem[], '{}'::aclitem[]));
  END LOOP;
END
$m010$;
