CREATE FUNCTION platform.clear_user_context()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  PERFORM platform_private.write_context(NULL, NULL, false);
END;
$fn$;
