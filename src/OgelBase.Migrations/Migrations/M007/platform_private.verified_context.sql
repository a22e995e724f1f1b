-- Settings without a matching token count as no context at all: anyone can write app.* with SET.
CREATE FUNCTION platform_private.verified_context(OUT user_id uuid, OUT org_id uuid, OUT is_system boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_user text := coalesce(current_setting('app.current_user_id', true), '');
  v_org text := coalesce(current_setting('app.current_org_id', true), '');
  v_system text := coalesce(current_setting('app.is_system_user', true), '');
  v_token text := coalesce(current_setting('app.context_token', true), '');
BEGIN
  user_id := NULL;
  org_id := NULL;
  is_system := false;
  IF v_token = '' OR v_token IS DISTINCT FROM platform_private.context_signature(v_user, v_org, v_system) THEN
    RETURN;
  END IF;
  user_id := nullif(v_user, '')::uuid;
  org_id := nullif(v_org, '')::uuid;
  is_system := v_system = 'true';
END;
$fn$;
