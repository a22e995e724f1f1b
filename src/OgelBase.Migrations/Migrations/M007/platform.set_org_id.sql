CREATE FUNCTION platform.set_org_id(p_org_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
DECLARE
  v_context record;
BEGIN
  SELECT * INTO v_context FROM platform_private.verified_context();
  PERFORM platform_private.write_context(v_context.user_id, p_org_id, v_context.is_system);
END;
$fn$;
