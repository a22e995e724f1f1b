-- The trigger on auth.users. SECURITY DEFINER because it runs in GoTrue's session, whose role has no rights on
-- schema platform; search_path pinned so nothing GoTrue's session sets can redirect it. The outer handler is
-- the last line of defence: whatever happens (even the failure table missing), GoTrue's write goes through.
CREATE OR REPLACE FUNCTION platform.gotrue_sync_trigger()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $function$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM platform.gotrue_sync_user(OLD.id, OLD.email, OLD.email_confirmed_at, OLD.last_sign_in_at, OLD.created_at,
                                      OLD.raw_user_meta_data, OLD.banned_until, OLD.deleted_at, true);
  ELSE
    PERFORM platform.gotrue_sync_user(NEW.id, NEW.email, NEW.email_confirmed_at, NEW.last_sign_in_at, NEW.created_at,
                                      NEW.raw_user_meta_data, NEW.banned_until, NEW.deleted_at, false);
  END IF;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'platform mirror of auth.users row % skipped: % (SQLSTATE %)',
    CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, SQLERRM, SQLSTATE;
  RETURN NULL;
END
$function$;
