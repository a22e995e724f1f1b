DO $m010$
BEGIN
  IF to_regclass('ogelbase_migrations.m010_saved_state') IS NULL THEN
    RAISE EXCEPTION 'cannot roll back migration 10: ogelbase_migrations.m010_saved_state (the grants and definitions it replaced) is missing, so the previous state is unknown. Nothing was changed.';
  END IF;
END
$m010$;
