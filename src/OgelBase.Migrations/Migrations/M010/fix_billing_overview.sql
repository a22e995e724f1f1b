-- Spec 12.23: the original joined projects and invoices in one GROUP BY, so every open invoice was summed once per
-- project. Each figure is now its own subquery per organization. Same columns, names and types.
DO $m010$
DECLARE
  v_search_path text := pg_catalog.current_setting('search_path');
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
  INSERT INTO ogelbase_migrations.m010_saved_state (kind, object, value)
  VALUES ('view_definition', 'platform.organization_billing_overview', pg_catalog.pg_get_viewdef('platform.organization_billing_overview'::regclass));
  PERFORM pg_catalog.set_config('search_path', v_search_path, true);
END
$m010$;

CREATE OR REPLACE VIEW platform.organization_billing_overview AS
SELECT o.id AS organization_id, o.name AS organization_name, o.slug AS organization_slug,
       s.plan_id, s.plan_name, s.status AS subscription_status, s.customer_balance,
       (SELECT count(*) FROM platform.projects p WHERE p.organization_id = o.id) AS project_count,
       (SELECT count(*) FROM platform.invoices i WHERE i.organization_id = o.id AND i.status = 'open') AS open_invoices,
       coalesce((SELECT sum(i.amount_due) FROM platform.invoices i WHERE i.organization_id = o.id AND i.status = 'open'), 0) AS outstanding_balance,
       platform.get_available_credits(o.id) AS available_credits
FROM platform.organizations o
LEFT JOIN platform.subscriptions s ON s.organization_id = o.id;
