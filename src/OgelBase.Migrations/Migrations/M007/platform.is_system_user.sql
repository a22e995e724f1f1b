-- SECURITY DEFINER (the original was invoker) because verifying the token needs the secret.
CREATE FUNCTION platform.is_system_user()
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
BEGIN
  RETURN coalesce((SELECT c.is_system FROM platform_private.verified_context() c), false);
END;
$fn$;
