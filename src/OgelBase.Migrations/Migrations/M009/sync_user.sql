-- gotrue_apply_user, made safe for GoTrue: any error rolls back only this user's mirror and is recorded in
-- platform.auth_user_sync_failures with its reason; success clears the user's earlier failure. Never raises
-- for a bad user, so no auth.users write fails because of the mirror.
CREATE OR REPLACE FUNCTION platform.gotrue_sync_user(
  p_id uuid, p_email text, p_email_confirmed_at timestamptz, p_last_sign_in_at timestamptz, p_created_at timestamptz,
  p_metadata jsonb, p_banned_until timestamptz, p_deleted_at timestamptz, p_removed boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $function$
DECLARE
  v_outcome text;
  v_state text;
  v_message text;
BEGIN
  BEGIN
    v_outcome := platform.gotrue_apply_user(p_id, p_email, p_email_confirmed_at, p_last_sign_in_at, p_created_at,
                                            p_metadata, p_banned_until, p_deleted_at, p_removed);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
    IF v_state = 'OG002' THEN
      -- The other fields were written before the address failed; write them again outside the rolled-back block.
      PERFORM platform.gotrue_apply_user(p_id, (SELECT u.email FROM platform.users u WHERE u.id = p_id), p_email_confirmed_at,
                                         p_last_sign_in_at, p_created_at, p_metadata, p_banned_until, p_deleted_at, p_removed);
    END IF;
    INSERT INTO platform.auth_user_sync_failures AS f (user_id, email, reason, sqlstate)
    VALUES (p_id, p_email, v_message, v_state)
    ON CONFLICT (user_id) DO UPDATE
      SET email = EXCLUDED.email, reason = EXCLUDED.reason, sqlstate = EXCLUDED.sqlstate,
          last_failed_at = pg_catalog.now(), attempts = f.attempts + 1;
    RETURN 'failed';
  END;
  DELETE FROM platform.auth_user_sync_failures f WHERE f.user_id = p_id;
  RETURN v_outcome;
END
$function$;
