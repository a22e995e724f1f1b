DROP TRIGGER update_user_sessions_activity ON platform.user_sessions;
DO $m010$
DECLARE
  v_definition text;
BEGIN
  FOR v_definition IN
    SELECT s.value FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'trigger_definition' AND s.object = 'platform.user_sessions' ORDER BY s.detail
  LOOP
    EXECUTE v_definition;
  END LOOP;
  IF EXISTS (SELECT 1 FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'function_created' AND s.object = 'platform.update_last_activity_at_column()') THEN
    DROP FUNCTION platform.update_last_activity_at_column();
  END IF;
END
$m010$;
