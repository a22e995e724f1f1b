-- SECURITY DEFINER so policies can ask about membership even for roles that cannot read organization_members.
CREATE FUNCTION platform.user_is_org_member(org_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
DECLARE
  v_user uuid := platform.current_user_id();
BEGIN
  IF v_user IS NULL OR user_is_org_member.org_id IS NULL THEN
    RETURN false;
  END IF;
  RETURN EXISTS (
    SELECT 1 FROM platform.organization_members m
    WHERE m.organization_id = user_is_org_member.org_id AND m.user_id = v_user);
END;
$fn$;
