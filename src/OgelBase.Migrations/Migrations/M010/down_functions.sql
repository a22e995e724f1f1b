-- A function whose ACL was NULL is dropped and recreated from its saved definition (with comment and owner): that is
-- the only way back to a NULL ACL. When something depends on it (a view, policy or trigger) it cannot be dropped
-- without taking that along, so it gets the default privileges written out instead: the same rights, only the catalog
-- text differs. Every other function gets its search_path reset and its ACL rebuilt.
-- Saved definitions are fully qualified, so they are executed with only pg_catalog on the search_path.
DO $m010$
DECLARE
  v_current aclitem[];
  v_saved aclitem[];
  v_search_path text := pg_catalog.current_setting('search_path');
  v_check_bodies text := pg_catalog.current_setting('check_function_bodies');
  r record;
  v_oid oid;
  v_definition text;
  v_comment text;
  v_owner text;
BEGIN
  FOR r IN
    SELECT DISTINCT s.object FROM ogelbase_migrations.m010_saved_state s WHERE s.kind IN ('function_acl', 'function_search_path') ORDER BY s.object
  LOOP
    v_oid := r.object::regprocedure;
    SELECT s.value INTO v_definition FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_definition' AND s.object = r.object;
    IF v_definition IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
         WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = v_oid AND d.deptype IN ('n', 'a')) THEN
      SELECT s.value INTO v_comment FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_comment' AND s.object = r.object;
      SELECT s.value INTO v_owner FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_owner' AND s.object = r.object;
      EXECUTE format('DROP FUNCTION %s', r.object);
      -- As pg_dump does: the body was valid when it was created, and a SQL body would otherwise be checked
      -- against this transaction's search_path instead of the one the function runs with.
      PERFORM pg_catalog.set_config('check_function_bodies', 'off', true);
      PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
      EXECUTE v_definition;
      PERFORM pg_catalog.set_config('search_path', v_search_path, true);
      PERFORM pg_catalog.set_config('check_function_bodies', v_check_bodies, true);
      EXECUTE format('COMMENT ON FUNCTION %s IS %L', r.object, v_comment);
      IF v_owner IS NOT NULL AND v_owner <> current_user THEN
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.object, v_owner);
      END IF;
      CONTINUE;
    END IF;

    IF EXISTS (SELECT 1 FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_search_path' AND s.object = r.object) THEN
      EXECUTE format('ALTER FUNCTION %s RESET search_path', r.object);
    END IF;

    IF EXISTS (SELECT 1 FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_acl' AND s.object = r.object) THEN
      SELECT p.proacl INTO v_current FROM pg_catalog.pg_proc p WHERE p.oid = v_oid;
      SELECT s.value::aclitem[] INTO v_saved FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_acl' AND s.object = r.object;
      IF v_saved IS NULL THEN
        RAISE NOTICE 'function % had default privileges and cannot be recreated (other objects depend on it); writing the default privileges out instead', r.object;
        SELECT pg_catalog.acldefault('f', p.proowner) INTO v_saved FROM pg_catalog.pg_proc p WHERE p.oid = v_oid;
      END IF;
      PERFORM ogelbase_migrations.m010_rebuild_acl('FUNCTION ' || r.object, '', v_current, v_saved);
    END IF;
  END LOOP;
END
$m010$;
