CREATE FUNCTION platform.get_session_context()
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
  RETURN jsonb_build_object(
    'user_id', platform.current_user_id(),
    'org_id', platform.current_org_id(),
    'is_system_user', platform.is_system_user(),
    'session_user', session_user,
    'current_user', current_user);
END;
$fn$;
