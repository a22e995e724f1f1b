CREATE FUNCTION platform.test_session_helpers()
RETURNS TABLE(test_name text, test_passed boolean, description text)
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
  v_user uuid := gen_random_uuid();
  v_org uuid := gen_random_uuid();
BEGIN
  PERFORM platform.set_user_context(v_user, v_org);
  test_name := 'set_and_get_context';
  test_passed := platform.get_current_user_id() IS NOT DISTINCT FROM v_user
                 AND platform.get_current_org_id() IS NOT DISTINCT FROM v_org
                 AND NOT platform.is_system_user();
  description := 'set_user_context is read back by get_current_user_id and get_current_org_id';
  RETURN NEXT;

  PERFORM platform.set_system_user();
  test_name := 'system_user';
  test_passed := platform.is_system_user();
  description := 'set_system_user makes is_system_user true';
  RETURN NEXT;

  PERFORM platform.clear_user_context();
  test_name := 'clear_context';
  test_passed := platform.get_current_user_id() IS NULL
                 AND platform.get_current_org_id() IS NULL
                 AND NOT platform.is_system_user();
  description := 'clear_user_context removes user, organization and system identity';
  RETURN NEXT;
END;
$fn$;
