CREATE FUNCTION platform.current_user_id()
RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  RETURN (SELECT c.user_id FROM platform_private.verified_context() c);
END;
$fn$;
