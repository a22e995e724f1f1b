CREATE FUNCTION platform.get_current_org_id()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
  RETURN platform.current_org_id();
END;
$fn$;
