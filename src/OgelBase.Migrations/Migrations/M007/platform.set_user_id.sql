-- A specific user acting ends any system identity; the org is kept.
CREATE FUNCTION platform.set_user_id(p_user_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  PERFORM platform_private.write_context(p_user_id, (SELECT c.org_id FROM platform_private.verified_context() c), false);
END;
$fn$;
