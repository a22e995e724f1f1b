-- Makes the ACL of p_target (with column suffix p_columns, e.g. ' (name)', or '') exactly p_saved: every current
-- grantee loses everything, then each saved entry is granted again in its original order (GRANT appends a new
-- grantee at the end, so restoring only what the Up revoked would reorder the ACL). Created by the Down for its own
-- use and dropped by it again in the same transaction.
CREATE FUNCTION ogelbase_migrations.m010_rebuild_acl(p_target text, p_columns text, p_current aclitem[], p_saved aclitem[])
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
  v_item aclitem;
  v_grantee text;
  v_plain text;
  v_grantable text;
BEGIN
  IF p_current::text IS DISTINCT FROM p_saved::text THEN
    FOR v_grantee IN
      SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
      FROM pg_catalog.aclexplode(coalesce(p_current, '{}'::aclitem[])) a
    LOOP
      EXECUTE format('REVOKE ALL%s ON %s FROM %s CASCADE', p_columns, p_target, v_grantee);
    END LOOP;
    FOR v_item IN SELECT u.item FROM unnest(p_saved) WITH ORDINALITY u(item, n) ORDER BY u.n LOOP
      SELECT CASE WHEN (array_agg(a.grantee))[1] = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid((array_agg(a.grantee))[1])) END,
             string_agg(a.privilege_type || p_columns, ', ') FILTER (WHERE NOT a.is_grantable),
             string_agg(a.privilege_type || p_columns, ', ') FILTER (WHERE a.is_grantable)
      INTO v_grantee, v_plain, v_grantable
      FROM pg_catalog.aclexplode(ARRAY[v_item]) a;
      IF v_plain IS NOT NULL THEN
        EXECUTE format('GRANT %s ON %s TO %s', v_plain, p_target, v_grantee);
      END IF;
      IF v_grantable IS NOT NULL THEN
        EXECUTE format('GRANT %s ON %s TO %s WITH GRANT OPTION', v_grantable, p_target, v_grantee);
      END IF;
    END LOOP;
  END IF;
END;
$fn$;
