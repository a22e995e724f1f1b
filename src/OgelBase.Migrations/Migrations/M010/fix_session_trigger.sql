-- Spec 12.22: the trigger called update_updated_at_column on a table without updated_at, so every UPDATE of a
-- session failed. Same trigger name and timing, now stamping last_activity_at, which is what its name promised.
DO $m010$
DECLARE
  v_search_path text := pg_catalog.current_setting('search_path');
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
  INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail, value)
  SELECT 'trigger_definition', 'platform.user_sessions', t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
  FROM pg_catalog.pg_trigger t
  WHERE t.tgrelid = 'platform.user_sessions'::regclass AND t.tgname = 'update_user_sessions_activity' AND NOT t.tgisinternal;
  PERFORM pg_catalog.set_config('search_path', v_search_path, true);
END
$m010$;

DROP TRIGGER IF EXISTS update_user_sessions_activity ON platform.user_sessions;

-- An UPDATE that sets last_activity_at itself keeps its value; any other change of the session counts as activity.
CREATE FUNCTION platform.update_last_activity_at_column() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
  IF NEW.last_activity_at IS NOT DISTINCT FROM OLD.last_activity_at THEN
    NEW.last_activity_at := now();
  END IF;
  RETURN NEW;
END;
$fn$;
COMMENT ON FUNCTION platform.update_last_activity_at_column() IS 'Trigger for platform.user_sessions: stamps last_activity_at with now() on every update that does not set it itself.';
INSERT INTO ogelbase_migrations.m010_saved_state (kind, object) VALUES ('function_created', 'platform.update_last_activity_at_column()');

CREATE TRIGGER update_user_sessions_activity
  BEFORE UPDATE ON platform.user_sessions
  FOR EACH ROW EXECUTE FUNCTION platform.update_last_activity_at_column();
