namespace OgelBase.Migrations.Tests.Support;

/// <summary>One statement the Studio app sends to the platform database, as the route sends it.</summary>
/// <param name="Route">The route or library call that sends it.</param>
/// <param name="Source">file:line in brazley/ogelbase-studio where the SQL text starts.</param>
/// <param name="Parameters">What the route passes, in order, as JavaScript values (sent untyped, see <see cref="PgMetaQuery"/>).</param>
/// <param name="Rows">Rows the statement returns on <see cref="StudioSeed"/>, when that number says something.</param>
/// <param name="Defect">The SQLSTATE of an app defect documented in docs/studio-contract.md: the statement must keep failing with it.</param>
public sealed record AppStatement(string Route, string Source, string Sql, object?[] Parameters, int? Rows, string? Defect = null)
{
    public override string ToString() => $"{Route} ({Source})";
}

/// <summary>
/// Every statement the Studio app sends to the platform database (apps/studio/pages/api/platform/**,
/// apps/studio/lib/api/**, apps/studio/pages/api/setup-lancio.ts and the health check), verbatim. Statements a route
/// assembles at run time appear once per variant the route can build that matters to the schema.
/// docs/studio-contract.md lists the same set with each one's state.
/// </summary>
public static class StudioStatements
{
    public static readonly IReadOnlyList<AppStatement> All =
    [
        new("authenticated user lookup", "apps/studio/lib/api/apiAuthenticate.ts:78",
            """
            SELECT
              id as user_id,
              email,
              first_name,
              last_name,
              username
            FROM platform.users
            WHERE id = $1
              AND deleted_at IS NULL
              AND (banned_until IS NULL OR banned_until < NOW())
            """,
            [StudioSeed.Alice], 1),
        new("session validation by token hash", "apps/studio/lib/api/auth/session.ts:46",
            """
            SELECT
              s.id,
              s.user_id,
              s.token,
              s.expires_at,
              s.last_activity_at,
              s.ip_address,
              s.user_agent,
              s.created_at,
              u.email,
              u.first_name,
              u.last_name,
              u.username,
              u.avatar_url,
              u.banned_until,
              u.deleted_at
            FROM platform.user_sessions s
            JOIN platform.users u ON s.user_id = u.id
            WHERE s.token = $1
              AND s.expires_at > NOW()
              AND u.deleted_at IS NULL
              AND u.banned_until IS NULL
            """,
            [StudioSeed.AliceTokenHash], 1),
        new("session touch", "apps/studio/lib/api/auth/session.ts:86",
            """
            UPDATE platform.user_sessions SET last_activity_at = NOW() WHERE id = $1
            """,
            [StudioSeed.AliceSession], 0),
        new("expired session cleanup", "apps/studio/lib/api/auth/session.ts:124",
            """
            DELETE FROM platform.user_sessions
            WHERE expires_at < NOW()
            RETURNING id
            """,
            [], 1),
        new("idle session cleanup", "apps/studio/lib/api/auth/session.ts:153",
            """
            DELETE FROM platform.user_sessions
            WHERE last_activity_at < NOW() - INTERVAL '30 days'
            RETURNING id
            """,
            [], 1),
        new("active sessions of a user", "apps/studio/lib/api/auth/session.ts:187",
            """
            SELECT
              id,
              user_id,
              token,
              expires_at,
              last_activity_at,
              ip_address,
              user_agent,
              created_at
            FROM platform.user_sessions
            WHERE user_id = $1
              AND expires_at > NOW()
            ORDER BY last_activity_at DESC
            """,
            [StudioSeed.Alice], 2),
        new("session revoke", "apps/studio/lib/api/auth/session.ts:247",
            """
            DELETE FROM platform.user_sessions
            WHERE id = $1
            RETURNING id
            """,
            [StudioSeed.AliceLaptopSession], 1),
        new("revoke other sessions", "apps/studio/lib/api/auth/session.ts:276",
            """
            DELETE FROM platform.user_sessions
            WHERE user_id = $1 AND id != $2
            RETURNING id
            """,
            [StudioSeed.Alice, StudioSeed.AliceSession], 1),
        new("revoke all sessions", "apps/studio/lib/api/auth/session.ts:304",
            """
            DELETE FROM platform.user_sessions
            WHERE user_id = $1
            RETURNING id
            """,
            [StudioSeed.Alice], 2),
        new("session statistics", "apps/studio/lib/api/auth/session.ts:340",
            """
            SELECT
              COUNT(*) as total_active,
              MIN(created_at) as oldest_session,
              MAX(created_at) as newest_session,
              COUNT(DISTINCT user_agent) as devices_count
            FROM platform.user_sessions
            WHERE user_id = $1
              AND expires_at > NOW()
            """,
            [StudioSeed.Alice], 1),
        new("cache warming: recent sessions", "apps/studio/lib/api/cache/warming.ts:71",
            """
            SELECT
              s.id,
              s.user_id,
              s.token,
              s.expires_at,
              s.last_activity_at,
              s.ip_address,
              s.user_agent,
              s.created_at,
              u.email,
              u.first_name,
              u.last_name,
              u.username
            FROM platform.user_sessions s
            JOIN platform.users u ON s.user_id = u.id
            WHERE s.expires_at > NOW()
              AND u.deleted_at IS NULL
              AND u.banned_until IS NULL
              AND s.last_activity_at > NOW() - INTERVAL '24 hours'
            ORDER BY s.last_activity_at DESC
            LIMIT $1
            """,
            [100], 1),
        new("cache warming: recent session count", "apps/studio/lib/api/cache/warming.ts:349",
            """
            SELECT COUNT(*) as count
            FROM platform.user_sessions s
            JOIN platform.users u ON s.user_id = u.id
            WHERE s.expires_at > NOW()
              AND u.deleted_at IS NULL
              AND u.banned_until IS NULL
              AND s.last_activity_at > NOW() - INTERVAL '24 hours'
            """,
            [], 1),
        new("RLS session context", "apps/studio/lib/api/middleware/database-context.ts:94",
            """
            SELECT
              set_config('app.current_user_id', $1, true) as user_id_set,
              set_config('app.current_org_id', $2, true) as org_id_set
            """,
            [StudioSeed.Alice, StudioSeed.Acme], 1),
        new("audit log write", "apps/studio/lib/api/platform/audit.ts:94",
            """
            INSERT INTO platform.audit_logs (
              user_id,
              entity_type,
              entity_id,
              action,
              changes,
              ip_address,
              user_agent
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING id
            """,
            [StudioSeed.Alice, "organization", StudioSeed.Acme.ToString(), "member.add", "{\"role\":\"developer\"}", "203.0.113.7", "Firefox"], 1),
        new("database by id", "apps/studio/lib/api/platform/databases.ts:31",
            """
            SELECT * FROM platform.databases WHERE id = $1
            """,
            [StudioSeed.MongoDb], 1),
        new("databases of a project", "apps/studio/lib/api/platform/databases.ts:51",
            """
            SELECT * FROM platform.databases WHERE project_id = $1 ORDER BY created_at DESC
            """,
            [StudioSeed.Prod], 2),
        new("database registration", "apps/studio/lib/api/platform/databases.ts:81",
            """
            INSERT INTO platform.databases (
              project_id, name, type, connection_string, host, port,
              database, username, password, ssl_enabled, metadata, status
            )
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active')
            RETURNING *
            """,
            [StudioSeed.Prod, "Analytics", "postgresql", "postgresql://app:pw@analytics.internal:5432/analytics", "analytics.internal", 5432, "analytics", "app", "pw", true, "{\"pool\":5}"], 1),
        new("database removal", "apps/studio/lib/api/platform/databases.ts:212",
            """
            DELETE FROM platform.databases WHERE id = $1 RETURNING id
            """,
            [StudioSeed.RedisDb], 1),
        new("MongoDB connection lookup", "apps/studio/lib/api/platform/mongodb-helpers.ts:31",
            """
            SELECT
              d.id,
              d.project_id,
              d.name,
              d.type,
              d.connection_string,
              d.config,
              d.status
            FROM platform.databases d
            WHERE d.id = $1
              AND d.type = 'mongodb'
              AND d.status = 'active'
            """,
            [StudioSeed.MongoDb], 1),
        new("MongoDB project access check", "apps/studio/lib/api/platform/mongodb-helpers.ts:61",
            """
            SELECT EXISTS (
              SELECT 1
              FROM platform.projects p
              WHERE p.id = $1
            ) as has_access
            """,
            [StudioSeed.Prod], 1),
        new("organization membership check", "apps/studio/lib/api/platform/org-access-control.ts:36",
            """
            SELECT
              om.role,
              om.user_id,
              o.id as org_id,
              o.name as org_name,
              o.slug as org_slug
            FROM platform.organization_members om
            INNER JOIN platform.organizations o ON om.organization_id = o.id
            WHERE o.slug = $1 AND om.user_id = $2
            """,
            ["acme", StudioSeed.Alice], 1),
        new("organization existence check", "apps/studio/lib/api/platform/org-access-control.ts:69",
            """
            SELECT id FROM platform.organizations WHERE slug = $1
            """,
            ["acme"], 1),
        new("project access check", "apps/studio/lib/api/platform/project-access.ts:54",
            """
            SELECT
              p.*,
              COALESCE(pm.role, om.role) as user_role,
              CASE
                WHEN pm.user_id IS NOT NULL THEN 'direct'
                WHEN om.user_id IS NOT NULL THEN 'via_org'
                ELSE NULL
              END as access_type
            FROM platform.projects p
            LEFT JOIN platform.project_members pm
              ON p.id = pm.project_id AND pm.user_id = $2
            LEFT JOIN platform.organization_members om
              ON p.organization_id = om.organization_id AND om.user_id = $2
            WHERE p.ref = $1
              AND (pm.user_id = $2 OR om.user_id = $2)
            """,
            [StudioSeed.ProdRef, StudioSeed.Alice], 1),
        new("project existence check", "apps/studio/lib/api/platform/project-access.ts:161",
            """
            SELECT id FROM platform.projects WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("project audit log write", "apps/studio/lib/api/platform/project-access.ts:198",
            """
            INSERT INTO platform.audit_logs (
              user_id,
              entity_type,
              entity_id,
              action,
              changes,
              ip_address,
              user_agent,
              created_at
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, NOW())
            """,
            [StudioSeed.Alice, "project", StudioSeed.Prod.ToString(), "compute.update", "{\"instance_size\":\"small\"}", "203.0.113.7", null], 0),
        new("GET organizations/[slug]/billing/plans", "apps/studio/pages/api/platform/organizations/[slug]/billing/plans.ts:123",
            """
            SELECT * FROM platform.billing_plans WHERE active = true ORDER BY price ASC
            """,
            [], 4),
        new("GET organizations/[slug]/billing/subscription", "apps/studio/pages/api/platform/organizations/[slug]/billing/subscription.ts:83",
            """
            SELECT
              s.billing_cycle_anchor,
              s.current_period_end,
              s.current_period_start,
              s.next_invoice_at,
              s.usage_billing_enabled,
              s.plan_id,
              s.plan_name,
              s.payment_method_type,
              s.billing_via_partner,
              s.billing_partner,
              s.customer_balance,
              s.cached_egress_enabled
            FROM platform.subscriptions s
            JOIN platform.organizations o ON o.id = s.organization_id
            WHERE o.slug = $1
            """,
            ["acme"], 1),
        new("GET organizations/[slug]/free-project-limit", "apps/studio/pages/api/platform/organizations/[slug]/free-project-limit.ts:55",
            """
            SELECT COUNT(*)::int as count
            FROM platform.projects p
            JOIN platform.organizations o ON o.id = p.organization_id
            WHERE o.slug = $1
            """,
            ["acme"], 1),
        new("GET organizations/[slug]", "apps/studio/pages/api/platform/organizations/[slug]/index.ts:46",
            """
            SELECT * FROM platform.organizations WHERE slug = $1
            """,
            ["acme"], 1),
        new("GET organizations/[slug]/members", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:56",
            """
            SELECT
              om.id,
              om.user_id,
              om.organization_id,
              om.role,
              om.invited_at,
              om.accepted_at,
              u.email,
              u.first_name,
              u.last_name,
              u.username
            FROM platform.organization_members om
            INNER JOIN platform.users u ON om.user_id = u.id
            WHERE om.organization_id = $1
            ORDER BY
              CASE om.role
                WHEN 'owner' THEN 1
                WHEN 'admin' THEN 2
                WHEN 'developer' THEN 3
                WHEN 'read_only' THEN 4
              END,
              om.invited_at ASC
            """,
            [StudioSeed.Acme], 3),
        new("POST organizations/[slug]/members: user by email", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:134",
            """
            SELECT id FROM platform.users WHERE email = $1 AND deleted_at IS NULL
            """,
            [StudioSeed.CarolEmail], 1),
        new("POST organizations/[slug]/members: existing membership", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:153",
            """
            SELECT id FROM platform.organization_members WHERE organization_id = $1 AND user_id = $2
            """,
            [StudioSeed.Acme, StudioSeed.Carol], 0),
        new("POST organizations/[slug]/members: insert", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:166",
            """
            INSERT INTO platform.organization_members (organization_id, user_id, role, invited_at, accepted_at)
            VALUES ($1, $2, $3, NOW(), NOW())
            RETURNING *
            """,
            [StudioSeed.Acme, StudioSeed.Carol, "developer"], 1),
        new("PATCH organizations/[slug]/members: member lookup", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:219",
            """
            SELECT role, user_id FROM platform.organization_members WHERE id = $1 AND organization_id = $2
            """,
            [StudioSeed.BobMembership, StudioSeed.Acme], 1),
        new("PATCH organizations/[slug]/members: role update", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:254",
            """
            UPDATE platform.organization_members SET role = $1 WHERE id = $2
            """,
            ["admin", StudioSeed.BobMembership], 0),
        new("DELETE organizations/[slug]/members: member lookup", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:295",
            """
            SELECT role, user_id FROM platform.organization_members WHERE id = $1 AND organization_id = $2
            """,
            [StudioSeed.DaveMembership, StudioSeed.Acme], 1),
        new("DELETE organizations/[slug]/members: delete", "apps/studio/pages/api/platform/organizations/[slug]/members.ts:325",
            """
            DELETE FROM platform.organization_members WHERE id = $1
            """,
            [StudioSeed.DaveMembership], 0),
        new("GET organizations/[slug]/payments", "apps/studio/pages/api/platform/organizations/[slug]/payments.ts:75",
            """
            SELECT pm.* FROM platform.payment_methods pm
            JOIN platform.organizations o ON o.id = pm.organization_id
            WHERE o.slug = $1
            ORDER BY pm.is_default DESC, pm.created_at DESC
            """,
            ["acme"], 2),
        new("POST organizations/[slug]/payments", "apps/studio/pages/api/platform/organizations/[slug]/payments.ts:151",
            """
            INSERT INTO platform.payment_methods (organization_id, payment_method_id, is_default)
            SELECT o.id, $2, $3 FROM platform.organizations o WHERE o.slug = $1
            RETURNING *
            """,
            ["acme", "pm_1PqNewCard", false], 1),
        new("PUT organizations/[slug]/payments: set default", "apps/studio/pages/api/platform/organizations/[slug]/payments.ts:196",
            """
            WITH org AS (
              SELECT id FROM platform.organizations WHERE slug = $1
            )
            UPDATE platform.payment_methods
            SET is_default = CASE WHEN id = $2 THEN true ELSE false END
            WHERE organization_id = (SELECT id FROM org)
            """,
            ["acme", StudioSeed.OldCard], 0),
        new("DELETE organizations/[slug]/payments", "apps/studio/pages/api/platform/organizations/[slug]/payments.ts:244",
            """
            DELETE FROM platform.payment_methods
            WHERE id = $2
            AND organization_id = (SELECT id FROM platform.organizations WHERE slug = $1)
            """,
            ["acme", StudioSeed.OldCard], 0),
        new("GET organizations/[slug]/tax-ids", "apps/studio/pages/api/platform/organizations/[slug]/tax-ids.ts:59",
            """
            SELECT t.* FROM platform.tax_ids t
            JOIN platform.organizations o ON o.id = t.organization_id
            WHERE o.slug = $1
            ORDER BY t.created_at DESC
            """,
            ["acme"], 1),
        new("POST organizations/[slug]/tax-ids", "apps/studio/pages/api/platform/organizations/[slug]/tax-ids.ts:112",
            """
            INSERT INTO platform.tax_ids (organization_id, type, value, country)
            SELECT o.id, $2, $3, $4 FROM platform.organizations o WHERE o.slug = $1
            RETURNING *
            """,
            ["acme", "gb_vat", "GB999999973", "GB"], 1),
        new("DELETE organizations/[slug]/tax-ids", "apps/studio/pages/api/platform/organizations/[slug]/tax-ids.ts:157",
            """
            DELETE FROM platform.tax_ids
            WHERE id = $2
            AND organization_id = (SELECT id FROM platform.organizations WHERE slug = $1)
            """,
            ["acme", StudioSeed.VatId], 0),
        new("GET organizations/[slug]/usage", "apps/studio/pages/api/platform/organizations/[slug]/usage.ts:67",
            """
            SELECT
              COALESCE(SUM(p.db_size_bytes), 0) as db_size_bytes,
              COALESCE(SUM(p.db_size_bytes) / 1073741824.0, 0) as db_size_gb,
              COALESCE(SUM(p.storage_size_bytes), 0) as storage_size_bytes,
              COALESCE(SUM(p.storage_size_bytes) / 1073741824.0, 0) as storage_size_gb,
              COALESCE(SUM(p.egress_bytes), 0) as egress_bytes,
              COALESCE(SUM(p.egress_bytes) / 1073741824.0, 0) as egress_gb,
              COALESCE(SUM(p.monthly_active_users), 0) as monthly_active_users,
              COUNT(p.id) as total_projects,
              (SELECT COUNT(*) FROM platform.organization_members om WHERE om.organization_id = o.id) as total_members
            FROM platform.organizations o
            LEFT JOIN platform.projects p ON p.organization_id = o.id
            WHERE o.slug = $1
            GROUP BY o.id
            """,
            ["acme"], 1),
        new("GET organizations", "apps/studio/pages/api/platform/organizations/index.ts:34",
            """
            SELECT
              o.*,
              om.role,
              om.id as member_id
            FROM platform.organizations o
            INNER JOIN platform.organization_members om ON om.organization_id = o.id
            WHERE om.user_id = $1
            ORDER BY o.name
            """,
            [StudioSeed.Alice], 1),
        new("POST pg-meta/[ref]/query: meta URL", "apps/studio/pages/api/platform/pg-meta/[ref]/query/index.ts:31",
            """
            SELECT postgres_meta_url FROM platform.projects WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("GET profile: user by session", "apps/studio/pages/api/platform/profile/index.ts:64",
            """
            SELECT u.id, u.email, u.username, u.first_name, u.last_name
            FROM platform.users u
            JOIN platform.user_sessions s ON s.user_id = u.id
            WHERE s.token = $1 AND s.expires_at > NOW()
            """,
            [StudioSeed.AliceTokenHash], 1),
        new("GET profile: organizations", "apps/studio/pages/api/platform/profile/index.ts:94",
            """
            SELECT DISTINCT o.*
            FROM platform.organizations o
            INNER JOIN platform.organization_members om ON o.id = om.organization_id
            WHERE om.user_id = $1
            ORDER BY o.created_at ASC
            """,
            [StudioSeed.Alice], 1),
        new("GET profile: projects", "apps/studio/pages/api/platform/profile/index.ts:116",
            """
            SELECT DISTINCT p.*
            FROM platform.projects p
            LEFT JOIN platform.project_members pm ON p.id = pm.project_id
            LEFT JOIN platform.organization_members om ON p.organization_id = om.organization_id
            WHERE pm.user_id = $1 OR om.user_id = $1
            ORDER BY p.created_at ASC
            """,
            [StudioSeed.Bob], 3),
        new("GET projects/[ref]/billing/addons", "apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:95",
            """
            SELECT
              pa.addon_id as id,
              a.name,
              a.description,
              a.price,
              a.interval
            FROM platform.project_addons pa
            JOIN platform.addons a ON a.id = pa.addon_id
            WHERE pa.project_id = (SELECT id FROM platform.projects WHERE ref = $1)
            """,
            [StudioSeed.ProdRef], null, Defect: "42883"),
        new("POST projects/[ref]/billing/addons: existing add-on", "apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:157",
            """
            SELECT id FROM platform.project_addons
            WHERE project_id = $1 AND addon_type = $2
            """,
            [StudioSeed.Prod, "pitr"], 1),
        new("POST projects/[ref]/billing/addons: insert", "apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:172",
            """
            INSERT INTO platform.project_addons (project_id, addon_type, addon_variant, created_at)
            VALUES ($1, $2, $3, NOW())
            RETURNING *
            """,
            [StudioSeed.Prod, "custom_domain", "cd_default"], 1),
        new("DELETE projects/[ref]/billing/addons", "apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:217",
            """
            DELETE FROM platform.project_addons
            WHERE project_id = $1 AND addon_type = $2
            """,
            [StudioSeed.Prod, "pitr"], 0),
        new("GET projects/[ref]/compute", "apps/studio/pages/api/platform/projects/[ref]/compute.ts:66",
            """
            SELECT COALESCE(instance_size, 'micro') as instance_size
            FROM platform.projects
            WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("POST projects/[ref]/compute", "apps/studio/pages/api/platform/projects/[ref]/compute.ts:124",
            """
            UPDATE platform.projects
            SET instance_size = $2,
                updated_at = NOW()
            WHERE id = $1
            RETURNING instance_size
            """,
            [StudioSeed.Prod, "small"], 1),
        new("GET projects/[ref]/disk", "apps/studio/pages/api/platform/projects/[ref]/disk.ts:51",
            """
            SELECT
              COALESCE(disk_size_gb, 8) as size_gb,
              COALESCE(disk_io_budget, 2400) as io_budget,
              'active' as status
            FROM platform.projects
            WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("POST projects/[ref]/disk", "apps/studio/pages/api/platform/projects/[ref]/disk.ts:99",
            """
            UPDATE platform.projects
            SET disk_size_gb = $2,
                disk_io_budget = $2 * 300,
                updated_at = NOW()
            WHERE id = $1
            RETURNING
              disk_size_gb as size_gb,
              disk_io_budget as io_budget,
              'modifying' as status
            """,
            [StudioSeed.Prod, 16], 1),
        new("GET projects/[ref]/disk/custom-config", "apps/studio/pages/api/platform/projects/[ref]/disk/custom-config.ts:47",
            """
            SELECT
              COALESCE(disk_auto_scale_enabled, false) as enabled,
              COALESCE(disk_auto_scale_limit_gb, disk_size_gb, 8) as limit_gb
            FROM platform.projects
            WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("GET projects/[ref]/disk/util", "apps/studio/pages/api/platform/projects/[ref]/disk/util.ts:47",
            """
            SELECT
              COALESCE(db_size_bytes / 1073741824.0, 0.5) as used_gb,
              COALESCE(disk_size_gb, 8) as total_gb,
              COALESCE((db_size_bytes / 1073741824.0) / NULLIF(disk_size_gb, 0) * 100, 6.25) as percent
            FROM platform.projects
            WHERE ref = $1
            """,
            [StudioSeed.ProdRef], 1),
        new("DELETE projects/[ref] (soft delete)", "apps/studio/pages/api/platform/projects/[ref]/index.ts:134",
            """
            UPDATE platform.projects
            SET status = 'deleted', updated_at = NOW()
            WHERE id = $1
            """,
            [StudioSeed.Scratch], 0),
        new("GET projects/[ref]/infra-monitoring", "apps/studio/pages/api/platform/projects/[ref]/infra-monitoring.ts:64",
            """
            SELECT
              EXTRACT(EPOCH FROM timestamp)::bigint * 1000 as timestamp,
              cpu_usage,
              memory_usage,
              disk_io_budget
            FROM platform.project_metrics
            WHERE project_id = $1
              AND timestamp > NOW() - INTERVAL '24 hours'
            ORDER BY timestamp DESC
            """,
            [StudioSeed.Prod], 1),
        new("POST projects/create: organization check", "apps/studio/pages/api/platform/projects/create.ts:186",
            """
            SELECT id FROM platform.organizations WHERE id = $1
            """,
            [StudioSeed.Acme], 1),
        new("POST projects/create: ref check", "apps/studio/pages/api/platform/projects/create.ts:208",
            """
            SELECT ref FROM platform.projects WHERE ref = $1
            """,
            ["acme-new"], 0),
        new("POST projects/create: insert project", "apps/studio/pages/api/platform/projects/create.ts:233",
            """
            INSERT INTO platform.projects (
              organization_id,
              name,
              slug,
              ref,
              database_host,
              database_port,
              database_name,
              database_user,
              database_password,
              postgres_meta_url,
              supabase_url,
              status
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            RETURNING *
            """,
            [StudioSeed.Acme, "New project", "new-project", "acme-new", "new.db.internal", 5432, "postgres", "postgres", "pw-new", "http://meta.new", "https://new.acme.example", "COMING_UP"], 1),
        new("POST projects/create: insert credentials", "apps/studio/pages/api/platform/projects/create.ts:279",
            """
            INSERT INTO platform.credentials (
              project_id,
              anon_key,
              service_role_key,
              jwt_secret
            ) VALUES ($1, $2, $3, $4)
            RETURNING *
            """,
            [StudioSeed.Staging, "anon-staging", "service-staging", "jwt-staging"], 1),
        new("POST projects/create: undo on failure", "apps/studio/pages/api/platform/projects/create.ts:299",
            """
            DELETE FROM platform.projects WHERE id = $1
            """,
            [StudioSeed.Scratch], 0),
        new("POST setup-lancio: organization", "apps/studio/pages/api/setup-lancio.ts:12",
            """
            INSERT INTO platform.organizations (name, slug, billing_email, created_at, updated_at)
            VALUES ('Lancio', 'lancio', 'nik@lancio.ai', NOW(), NOW())
            ON CONFLICT (slug) DO UPDATE
            SET name = EXCLUDED.name, billing_email = EXCLUDED.billing_email, updated_at = NOW()
            RETURNING id, name, slug
            """,
            [], 1),
        new("POST setup-lancio: BlackWhale project", "apps/studio/pages/api/setup-lancio.ts:31",
            """
            INSERT INTO platform.projects (
              name,
              organization_id,
              region,
              database_url,
              created_at,
              updated_at
            )
            VALUES (
              'BlackWhale',
              $1,
              'us-east-1',
              'postgresql://postgres:sl2i90d6w7lzgejxxqwh3tiwuqxhtl64@postgres.railway.internal:5432/postgres',
              NOW(),
              NOW()
            )
            ON CONFLICT (name, organization_id) DO NOTHING
            RETURNING id, name, organization_id
            """,
            [StudioSeed.Acme], null, Defect: "42703"),
        new("POST setup-lancio: owner membership", "apps/studio/pages/api/setup-lancio.ts:63",
            """
            INSERT INTO platform.organization_members (organization_id, user_id, role, created_at)
            VALUES ($1, $2, 'owner', NOW())
            ON CONFLICT (organization_id, user_id) DO NOTHING
            """,
            [StudioSeed.Acme, StudioSeed.Carol], 0),

        // ---- built at run time by the route: each variant as the route assembles it
        new("audit log count, no filter", "apps/studio/lib/api/platform/audit.ts:309",
            """
            SELECT COUNT(*) as count
            FROM platform.audit_logs
            """,
            [], 1),
        new("audit log count, every filter", "apps/studio/lib/api/platform/audit.ts:309",
            """
            SELECT COUNT(*) as count
            FROM platform.audit_logs
            WHERE entity_type = $1 AND entity_id = $2 AND action = $3 AND user_id = $4 AND created_at >= $5 AND created_at <= $6
            """,
            ["project", StudioSeed.Prod.ToString(), "create", StudioSeed.Alice, "2020-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z"], 1),
        new("audit log page, no filter", "apps/studio/lib/api/platform/audit.ts:326",
            """
            SELECT
              id,
              user_id,
              entity_type,
              entity_id,
              action,
              changes,
              ip_address,
              user_agent,
              created_at
            FROM platform.audit_logs

            ORDER BY created_at DESC
            LIMIT $1
            OFFSET $2
            """,
            [50, 0], 1),
        new("audit log page, entity filter", "apps/studio/lib/api/platform/audit.ts:326",
            """
            SELECT
              id,
              user_id,
              entity_type,
              entity_id,
              action,
              changes,
              ip_address,
              user_agent,
              created_at
            FROM platform.audit_logs
            WHERE entity_type = $1 AND entity_id = $2
            ORDER BY created_at DESC
            LIMIT $3
            OFFSET $4
            """,
            ["project", StudioSeed.Prod.ToString(), 50, 0], null),
        new("database update, every field", "apps/studio/lib/api/platform/databases.ts:187",
            """
            UPDATE platform.databases
            SET name = $1, connection_string = $2, host = $3, port = $4, database = $5, username = $6, password = $7, ssl_enabled = $8, status = $9, metadata = $10, updated_at = NOW()
            WHERE id = $11
            RETURNING *
            """,
            ["Sessions", "mongodb://mongo:pw2@mongo2.internal:27018/admin", "mongo2.internal", 27018, "admin", "mongo", "pw2", true, "active", "{\"replica_set\":\"rs0\"}", StudioSeed.MongoDb], 1),
        new("POST projects/[ref]/disk/custom-config, enabled only", "apps/studio/pages/api/platform/projects/[ref]/disk/custom-config.ts:103",
            """
            UPDATE platform.projects
            SET disk_auto_scale_enabled = $2,
                updated_at = NOW()
            WHERE ref = $1
            RETURNING
              disk_auto_scale_enabled as enabled,
              disk_auto_scale_limit_gb as limit_gb
            """,
            [StudioSeed.ProdRef, true], 1),
        new("POST projects/[ref]/disk/custom-config, enabled and limit", "apps/studio/pages/api/platform/projects/[ref]/disk/custom-config.ts:103",
            """
            UPDATE platform.projects
            SET disk_auto_scale_enabled = $2, disk_auto_scale_limit_gb = $3,
                updated_at = NOW()
            WHERE ref = $1
            RETURNING
              disk_auto_scale_enabled as enabled,
              disk_auto_scale_limit_gb as limit_gb
            """,
            [StudioSeed.ProdRef, true, 64], 1),
        new("PATCH projects/[ref], name and status", "apps/studio/pages/api/platform/projects/[ref]/index.ts:97",
            """
            UPDATE platform.projects
            SET name = $1, status = $2, updated_at = NOW()
            WHERE id = $3
            RETURNING *
            """,
            ["Production EU", "PAUSED", StudioSeed.Prod], 1),
        new("PATCH projects/[ref], name only", "apps/studio/pages/api/platform/projects/[ref]/index.ts:97",
            """
            UPDATE platform.projects
            SET name = $1, updated_at = NOW()
            WHERE id = $2
            RETURNING *
            """,
            ["Production EU", StudioSeed.Prod], 1),
        new("GET organizations/[slug]/projects: count", "apps/studio/pages/api/platform/organizations/[slug]/projects.ts:87",
            """
            SELECT COUNT(*) as count
            FROM platform.projects p
            WHERE p.organization_id = $1
            """,
            [StudioSeed.Acme], 1),
        new("GET organizations/[slug]/projects: count, search and statuses", "apps/studio/pages/api/platform/organizations/[slug]/projects.ts:87",
            """
            SELECT COUNT(*) as count
            FROM platform.projects p
            WHERE p.organization_id = $1 AND p.name ILIKE $2 AND p.status = ANY($3)
            """,
            [StudioSeed.Acme, "%a%", new[] { "ACTIVE_HEALTHY", "PAUSED" }], 1),
        new("GET organizations/[slug]/projects: page", "apps/studio/pages/api/platform/organizations/[slug]/projects.ts:122",
            ProjectsPage("p.organization_id = $1", "p.name ASC", 2),
            [StudioSeed.Acme, 96, 0], 3),
        new("GET organizations/[slug]/projects: page, search and statuses", "apps/studio/pages/api/platform/organizations/[slug]/projects.ts:122",
            ProjectsPage("p.organization_id = $1 AND p.name ILIKE $2 AND p.status = ANY($3)", "p.created_at DESC", 4),
            [StudioSeed.Acme, "%a%", new[] { "ACTIVE_HEALTHY", "PAUSED" }, 96, 0], 1),
        new("GET platform/health", "apps/studio/pages/api/platform/health/index.ts:58",
            "SELECT 1 as health_check",
            [], 1),
    ];

    /// <summary>The project list's page query as projects.ts assembles it (WHERE, ORDER BY and the LIMIT/OFFSET parameter numbers vary).</summary>
    private static string ProjectsPage(string where, string orderBy, int paramIndex) => $"""
        SELECT
          p.id,
          p.ref,
          p.name,
          p.organization_id,
          p.cloud_provider,
          p.status,
          p.region,
          p.created_at,
          p.infra_compute_size,
          p.db_dns,
          p.restUrl as rest_url,
          p.connectionString as connection_string,
          COALESCE(
            json_agg(
              json_build_object(
                'id', d.id,
                'identifier', d.identifier,
                'region', d.region,
                'infra_compute_size', d.infra_compute_size,
                'host', d.host,
                'port', d.port,
                'database', d.database,
                'user', d.user
              )
            ) FILTER (WHERE d.id IS NOT NULL),
            '[]'::json
          ) as databases
        FROM platform.projects p
        LEFT JOIN platform.databases d ON d.project_id = p.id
        WHERE {where}
        GROUP BY p.id
        ORDER BY {orderBy}
        LIMIT ${paramIndex} OFFSET ${paramIndex + 1}
        """;
}
