-- Spec 12.1-12.5. Every SECURITY DEFINER function without a search_path gets one; PUBLIC loses EXECUTE on every
-- restricted function and every other SECURITY DEFINER function except the policy helpers (the two lists below
-- are the same as in verify.sql; the policy helpers are M010_HardenPlatformSecurity.PolicyHelpers).
-- Deparsing (pg_get_functiondef) with only pg_catalog on the search_path qualifies every name, so saved text means
-- the same whatever the search_path is when the Down runs.
DO $m010$
DECLARE
  v_owner name;
  v_path text := 'pg_catalog, platform';
  v_schema name;
  v_restricted oid[];
  v_helpers oid[];
  v_search_path text := pg_catalog.current_setting('search_path');
  r record;
  v_public boolean;
  v_pin boolean;
  v_revoke boolean;
BEGIN
  SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO STRICT v_owner
  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();

  -- The encryption functions call pgcrypto unqualified; its schema (and uuid-ossp's) must stay resolvable.
  FOR v_schema IN
    SELECT DISTINCT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname IN ('pgcrypto', 'uuid-ossp') AND n.nspname NOT IN ('pg_catalog', 'platform')
    ORDER BY 1
  LOOP
    v_path := v_path || ', ' || pg_catalog.quote_ident(v_schema);
    IF pg_catalog.has_schema_privilege('public', v_schema, 'CREATE') THEN
      RAISE WARNING 'schema % (extensions) is writable by PUBLIC; SECURITY DEFINER functions resolve names in it. Run REVOKE CREATE ON SCHEMA % FROM PUBLIC.', v_schema, v_schema;
    END IF;
  END LOOP;
  -- Last, so a caller's temporary objects can never shadow anything (it is searched first when not listed).
  v_path := v_path || ', pg_temp';

  -- Only the ones that exist: 7's functions are absent unless it was applied.
  SELECT coalesce(array_agg(f) FILTER (WHERE f IS NOT NULL), '{}') INTO v_restricted
  FROM unnest(ARRAY[
      'platform.decrypt_database_connection_string(uuid)',
      'platform.clean_old_audit_logs(integer)',
      'platform.clean_old_metrics(integer)',
      'platform.update_database_health(uuid, text, text)',
      'platform.set_user_active_org(uuid, uuid)',
      'platform.log_audit_event(uuid, text, text, text, jsonb, inet, text)',
      'platform.set_user_context(uuid, uuid)',
      'platform.set_user_id(uuid)',
      'platform.set_org_id(uuid)',
      'platform.clear_user_context()',
      'platform.set_system_user()',
      'platform.log_context_change(text, uuid, uuid)'
    ]::text[]) s, to_regprocedure(s) f;
  SELECT coalesce(array_agg(f) FILTER (WHERE f IS NOT NULL), '{}') INTO v_helpers
  FROM unnest(ARRAY[
      'platform.current_user_id()',
      'platform.current_org_id()',
      'platform.user_is_org_member(uuid)',
      'platform.user_has_org_role(uuid, text)',
      'platform.is_system_user()'
    ]::text[]) s, to_regprocedure(s) f;

  PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
  FOR r IN
    SELECT p.oid, format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) AS signature,
           p.proacl, p.proowner, p.prosecdef, p.proconfig
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'platform' AND p.prokind = 'f' AND (p.prosecdef OR p.oid = ANY (v_restricted))
    ORDER BY 2
  LOOP
    v_public := EXISTS (
      SELECT 1 FROM pg_catalog.aclexplode(coalesce(r.proacl, pg_catalog.acldefault('f', r.proowner))) a
      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');
    v_pin := r.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(r.proconfig) c WHERE c LIKE 'search_path=%');
    v_revoke := v_public AND (r.oid = ANY (v_restricted) OR (r.prosecdef AND NOT r.oid = ANY (v_helpers)));

    IF v_revoke THEN
      INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, value) VALUES ('function_acl', r.signature, r.proacl::text);
      IF r.proacl IS NULL THEN
        -- A NULL ACL (the default) cannot be written back with GRANT; the Down recreates the function instead.
        INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, value) VALUES
          ('function_definition', r.signature, pg_catalog.pg_get_functiondef(r.oid)),
          ('function_comment', r.signature, pg_catalog.obj_description(r.oid, 'pg_proc')),
          ('function_owner', r.signature, pg_catalog.pg_get_userbyid(r.proowner));
      END IF;
    END IF;

    IF v_pin THEN
      INSERT INTO ogelbase_migrations.m010_saved_state (kind, object) VALUES ('function_search_path', r.signature);
      EXECUTE format('ALTER FUNCTION %s SET search_path = %s', r.signature, v_path);
    END IF;

    IF v_revoke THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', r.signature);
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.signature, v_owner);
    END IF;
  END LOOP;
  PERFORM pg_catalog.set_config('search_path', v_search_path, true);
END
$m010$;
