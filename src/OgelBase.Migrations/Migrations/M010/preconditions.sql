-- Migration 10 hardens what versions 1-6 built, and refuses to run over the saved state of an earlier run.
DO $m010$
BEGIN
  IF to_regclass('platform.databases') IS NULL OR to_regclass('platform.user_sessions') IS NULL
     OR to_regclass('platform.organization_billing_overview') IS NULL OR to_regclass('platform.credentials') IS NULL THEN
    RAISE EXCEPTION 'migration 10 hardens the objects of versions 1 to 6: platform.credentials, platform.user_sessions, platform.databases or platform.organization_billing_overview is missing';
  END IF;
  IF to_regclass('ogelbase_migrations.m010_saved_state') IS NOT NULL THEN
    RAISE EXCEPTION 'ogelbase_migrations.m010_saved_state already exists: it holds the state an earlier run of migration 10 replaced. Roll back 10 first (or, if 10 is not applied, inspect and drop that table).';
  END IF;
END
$m010$;
