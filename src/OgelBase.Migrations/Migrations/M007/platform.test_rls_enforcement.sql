-- 70 is the number of policies this migration creates (M007_AddSessionContextAndRestrictiveRls.Policies.Count).
CREATE FUNCTION platform.test_rls_enforcement()
RETURNS TABLE(test_name text, test_passed boolean, description text)
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
  test_name := 'no_session_vars';
  test_passed := NOT EXISTS (SELECT 1 FROM platform.organizations);
  description := 'without a session context no organization is visible (run it as a role that does not bypass RLS)';
  RETURN NEXT;

  test_name := 'session_functions_exist';
  test_passed := platform.current_user_id() IS NULL;
  description := 'current_user_id() exists and is NULL without a session context';
  RETURN NEXT;

  test_name := 'policy_count';
  test_passed := (SELECT count(*) FROM pg_catalog.pg_policies WHERE schemaname = 'platform') >= 70;
  description := 'at least the 70 org-isolating policies of migration 007 exist';
  RETURN NEXT;
END;
$fn$;
