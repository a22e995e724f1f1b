CREATE FUNCTION platform.require_org_context()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
  IF platform.current_org_id() IS NULL AND NOT platform.is_system_user() THEN
    RAISE EXCEPTION 'no organization context: call platform.set_user_context with an organization in this transaction first'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END;
$fn$;
