-- Always transaction-local: a pooled connection must not carry one request's identity into the next.
CREATE FUNCTION platform_private.write_context(p_user_id uuid, p_org_id uuid, p_is_system boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_user text := coalesce(p_user_id::text, '');
  v_org text := coalesce(p_org_id::text, '');
  v_system text := CASE WHEN coalesce(p_is_system, false) THEN 'true' ELSE 'false' END;
BEGIN
  PERFORM set_config('app.current_user_id', v_user, true);
  PERFORM set_config('app.current_org_id', v_org, true);
  PERFORM set_config('app.is_system_user', v_system, true);
  PERFORM set_config('app.context_token',
    CASE WHEN v_user = '' AND v_org = '' AND v_system = 'false' THEN ''
         ELSE platform_private.context_signature(v_user, v_org, v_system) END, true);
END;
$fn$;
