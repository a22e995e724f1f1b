-- Spec 12.9: platform.databases was left out of 006's RLS. With 006's allow-all policies in force it gets the same
-- allow-all policy (the owner-role app keeps working; grants are what restrict). Where 7's org-isolating policies
-- are in force it gets policies like its closest sibling, credentials: admins of the project's organization read,
-- owners change, and the system identity passes where 7 defines one.
DO $m010$
DECLARE
  v_isolating boolean;
  v_via_project text := 'EXISTS (SELECT 1 FROM platform.projects p WHERE p.id = databases.project_id AND platform.user_has_org_role(p.organization_id, %L))';
BEGIN
  IF NOT (SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = 'platform.databases'::regclass) THEN
    ALTER TABLE platform.databases ENABLE ROW LEVEL SECURITY;
    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object) VALUES ('rls_enabled', 'platform.databases');
  END IF;

  v_isolating := to_regprocedure('platform.user_has_org_role(uuid,text)') IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.credentials'::regclass AND polname = 'permissive_all_credentials');

  IF NOT v_isolating THEN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'permissive_all_databases') THEN
      CREATE POLICY permissive_all_databases ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
      INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail) VALUES ('policy', 'platform.databases', 'permissive_all_databases');
    END IF;
    RETURN;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'databases_admin_select') THEN
    EXECUTE format('CREATE POLICY databases_admin_select ON platform.databases AS PERMISSIVE FOR SELECT TO PUBLIC USING (%s)',
                   format(v_via_project, 'admin'));
    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail) VALUES ('policy', 'platform.databases', 'databases_admin_select');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'databases_owner_manage') THEN
    EXECUTE format('CREATE POLICY databases_owner_manage ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                   format(v_via_project, 'owner'), format(v_via_project, 'owner'));
    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail) VALUES ('policy', 'platform.databases', 'databases_owner_manage');
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.credentials'::regclass AND polname = 'system_user_all')
     AND to_regprocedure('platform.is_system_user()') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'system_user_all') THEN
    CREATE POLICY system_user_all ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC
      USING ((SELECT platform.is_system_user())) WITH CHECK ((SELECT platform.is_system_user()));
    INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, detail) VALUES ('policy', 'platform.databases', 'system_user_all');
  END IF;
END
$m010$;
