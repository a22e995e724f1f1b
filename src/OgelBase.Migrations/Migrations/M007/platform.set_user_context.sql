CREATE FUNCTION platform.set_user_context(p_user_id uuid, p_org_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  PERFORM platform_private.write_context(p_user_id, p_org_id, false);
  RAISE DEBUG 'session context: user %, org %', p_user_id, p_org_id;
END;
$fn$;
