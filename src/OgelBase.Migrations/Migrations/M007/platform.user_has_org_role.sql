-- Lower rank = more power. An unknown role name admits nobody (the original returned NULL).
CREATE FUNCTION platform.user_has_org_role(org_id uuid, required_role text)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
DECLARE
  v_user uuid := platform.current_user_id();
  v_required integer;
  v_actual integer;
BEGIN
  v_required := CASE required_role
    WHEN 'owner' THEN 1 WHEN 'admin' THEN 2 WHEN 'billing_admin' THEN 3 WHEN 'developer' THEN 4 WHEN 'member' THEN 5 END;
  IF v_user IS NULL OR v_required IS NULL OR user_has_org_role.org_id IS NULL THEN
    RETURN false;
  END IF;
  SELECT CASE m.role
           WHEN 'owner' THEN 1 WHEN 'admin' THEN 2 WHEN 'billing_admin' THEN 3 WHEN 'developer' THEN 4 WHEN 'member' THEN 5 END
    INTO v_actual
  FROM platform.organization_members m
  WHERE m.organization_id = user_has_org_role.org_id AND m.user_id = v_user;
  RETURN coalesce(v_actual <= v_required, false);
END;
$fn$;
