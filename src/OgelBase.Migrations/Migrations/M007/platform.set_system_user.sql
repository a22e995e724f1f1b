CREATE FUNCTION platform.set_system_user()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  PERFORM platform_private.write_context('00000000-0000-0000-0000-000000000000'::uuid, (SELECT c.org_id FROM platform_private.verified_context() c), true);
END;
$fn$;
