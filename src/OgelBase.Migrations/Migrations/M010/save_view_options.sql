-- The options of every view of 1-6 (spec 10) as they are before invoker_views.sql sets security_invoker.
INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, value)
SELECT 'view_options', v, c.reloptions::text
FROM unnest(ARRAY[
      'platform.projects_with_credentials',
      'platform.organizations_with_stats',
      'platform.subscriptions_with_orgs',
      'platform.organization_billing_overview',
      'platform.project_resources',
      'platform.databases_with_connection_strings',
      'platform.databases_safe'
    ]::text[]) v JOIN pg_catalog.pg_class c ON c.oid = to_regclass(v);
