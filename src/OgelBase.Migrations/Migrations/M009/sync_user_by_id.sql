-- The backfill's entry point: mirrors one GoTrue user from the auth.users row as committed now. Reading the row
-- only after taking the per-user lock matters: a trigger that mirrored a newer version of the row (a ban, say)
-- holds that lock until GoTrue commits, so the backfill can never write back an older version over it.
CREATE OR REPLACE FUNCTION platform.gotrue_sync_user_by_id(p_id uuid)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $function$
DECLARE
  r record;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ogelbase gotrue mirror ' || p_id::text, 0));
  SELECT a.id, a.email, a.email_confirmed_at, a.last_sign_in_at, a.created_at, a.raw_user_meta_data, a.banned_until, a.deleted_at
  INTO r FROM auth.users a WHERE a.id = p_id;
  IF NOT FOUND THEN
    RETURN 'skipped';  -- deleted since the batch was read; the trigger has mirrored that
  END IF;
  RETURN platform.gotrue_sync_user(r.id, r.email, r.email_confirmed_at, r.last_sign_in_at, r.created_at,
                                   r.raw_user_meta_data, r.banned_until, r.deleted_at, false);
END
$function$;
