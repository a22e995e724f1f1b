-- The system identity is no row of platform.users, so it is recorded as NULL plus the metadata, not as an FK.
CREATE FUNCTION platform.log_context_change(p_action text, p_user_id uuid DEFAULT NULL, p_org_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, platform, pg_temp
AS $fn$
DECLARE
  v_user uuid := coalesce(p_user_id, platform.current_user_id());
  v_org uuid := coalesce(p_org_id, platform.current_org_id());
BEGIN
  INSERT INTO platform.audit_logs (user_id, organization_id, event_type, action, metadata, severity)
  VALUES (
    nullif(v_user, '00000000-0000-0000-0000-000000000000'::uuid),
    v_org,
    'session.context_change',
    p_action,
    jsonb_build_object('user_id', v_user, 'org_id', v_org, 'is_system_user', platform.is_system_user(), 'timestamp', now()),
    'info');
END;
$fn$;
