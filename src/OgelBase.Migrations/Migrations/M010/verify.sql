-- The Up refuses to finish unless the invariants docs/security.md promises hold. The two lists are the same as in
-- harden_functions.sql.
DO $m010$
DECLARE
  v_problems text;
BEGIN
  SELECT string_agg(format('%s.%s(%s): %s', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes), problem), '; ')
  INTO v_problems
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  CROSS JOIN LATERAL (
    SELECT 'SECURITY DEFINER without a pinned search_path' AS problem
    WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
    UNION ALL
    SELECT 'still executable by PUBLIC'
    WHERE (p.oid IN (SELECT to_regprocedure(s) FROM unnest(ARRAY[
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
    ]::text[]) s)
           OR (p.prosecdef AND p.oid NOT IN (SELECT to_regprocedure(s) FROM unnest(ARRAY[
      'platform.current_user_id()',
      'platform.current_org_id()',
      'platform.user_is_org_member(uuid)',
      'platform.user_has_org_role(uuid, text)',
      'platform.is_system_user()'
    ]::text[]) s WHERE to_regprocedure(s) IS NOT NULL)))
      AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
  ) x
  WHERE n.nspname = 'platform';
  IF v_problems IS NOT NULL THEN
    RAISE EXCEPTION 'migration 10 left functions unprotected: %', v_problems;
  END IF;
END
$m010$;
