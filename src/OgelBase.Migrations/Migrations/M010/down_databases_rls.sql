DO $m010$
DECLARE
  v_policy text;
BEGIN
  FOR v_policy IN SELECT s.detail FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'policy' AND s.object = 'platform.databases' ORDER BY s.detail LOOP
    EXECUTE format('DROP POLICY %I ON platform.databases', v_policy);
  END LOOP;
  IF EXISTS (SELECT 1 FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'rls_enabled' AND s.object = 'platform.databases') THEN
    ALTER TABLE platform.databases DISABLE ROW LEVEL SECURITY;
  END IF;
END
$m010$;
