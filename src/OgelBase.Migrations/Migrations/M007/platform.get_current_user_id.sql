CREATE FUNCTION platform.get_current_user_id()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
  RETURN platform.current_user_id();
END;
$fn$;
