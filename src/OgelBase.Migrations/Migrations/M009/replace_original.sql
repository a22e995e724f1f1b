-- 009: the original's two triggers go in the same transaction as ours arrives, so no GoTrue write is mirrored twice
-- (two organizations) or not at all. Its functions are found through its triggers, wherever they were created, and
-- by their known names; they go too, without CASCADE: one still used by anything else makes this fail loudly.
DO $m009$
DECLARE
  v_functions regprocedure[];
  v_function regprocedure;
BEGIN
  SELECT coalesce(array_agg(DISTINCT t.tgfoid::regprocedure), ARRAY[]::regprocedure[]) INTO v_functions
  FROM pg_catalog.pg_trigger t
  WHERE (t.tgrelid = to_regclass('auth.users') AND t.tgname = 'on_auth_user_change')
     OR (t.tgrelid = to_regclass('platform.users') AND t.tgname = 'on_platform_user_created');
  v_functions := v_functions || ARRAY(
    SELECT p FROM unnest(ARRAY[to_regprocedure('public.sync_auth_user_to_platform()'), to_regprocedure('public.create_default_org_for_user()')]) p
    WHERE p IS NOT NULL);

  IF cardinality(v_functions) > 0 THEN
    RAISE NOTICE 'found the original 009 applied by hand (triggers on_auth_user_change, on_platform_user_created); replacing it';
  END IF;

  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('auth.users') AND t.tgname = 'platform_mirror_user' AND NOT t.tgisinternal)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('auth.users') AND t.tgname = 'on_auth_user_change')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('platform.users') AND t.tgname = 'on_platform_user_created') THEN
    RAISE NOTICE 'install trigger platform_mirror_user on auth.users: already in place, skipped';
  ELSE
    DROP TRIGGER IF EXISTS on_auth_user_change ON auth.users;
    DROP TRIGGER IF EXISTS on_platform_user_created ON platform.users;
    CREATE OR REPLACE TRIGGER platform_mirror_user AFTER INSERT OR UPDATE OR DELETE ON auth.users
      FOR EACH ROW EXECUTE FUNCTION platform.gotrue_sync_trigger();
  END IF;

  FOREACH v_function IN ARRAY ARRAY(SELECT DISTINCT f FROM unnest(v_functions) f) LOOP
    EXECUTE format('DROP FUNCTION %s', v_function);
    RAISE NOTICE 'dropped the original''s function %', v_function;
  END LOOP;
END
$m009$
