-- 008's Down, before it copies active_org_id away: a trigger that upserts every later change of the column into the
-- side table, so nothing written while the copy runs is lost. Skipped once the column is gone (the trigger is defined
-- on it) or when a killed Down already installed it. SECURITY DEFINER, so the app role whose UPDATE fires it needs no
-- rights on the tool's schema; the trigger exists only for the few seconds of a rollback.
DO $m008$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.users') AND attname = 'active_org_id' AND NOT attisdropped)
     OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('platform.users') AND tgname = 'm008_capture_active_org' AND NOT tgisinternal) THEN
    RAISE NOTICE 'install capture trigger m008_capture_active_org: already in place or not needed, skipped';
    RETURN;
  END IF;

  CREATE OR REPLACE FUNCTION ogelbase_migrations.m008_capture_active_org()
  RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog
  AS $function$
  BEGIN
    INSERT INTO ogelbase_migrations.m008_saved_active_org (user_id, active_org_id, saved_at)
    VALUES (NEW.id, NEW.active_org_id, now())
    ON CONFLICT (user_id) DO UPDATE SET active_org_id = EXCLUDED.active_org_id, saved_at = EXCLUDED.saved_at;
    RETURN NULL;
  END
  $function$;

  REVOKE ALL ON FUNCTION ogelbase_migrations.m008_capture_active_org() FROM PUBLIC;
  CREATE TRIGGER m008_capture_active_org AFTER INSERT OR UPDATE OF active_org_id ON platform.users
    FOR EACH ROW EXECUTE FUNCTION ogelbase_migrations.m008_capture_active_org();
END
$m008$
