CREATE FUNCTION platform.require_user_context()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
  IF platform.current_user_id() IS NULL AND NOT platform.is_system_user() THEN
    RAISE EXCEPTION 'no user context: call platform.set_user_context in this transaction first'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END;
$fn$;
