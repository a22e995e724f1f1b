namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// A small, realistic platform: one organization with three members, three projects, credentials, a registered
/// database, billing rows (subscription, two payment methods, a tax id), an add-on, metrics, sessions and an audit
/// entry. Fixed keys, so the app's statements can be given the parameters a real request would carry.
/// Written with the columns 1–10 have (as the app and older tools wrote them before 11), except where noted.
/// </summary>
public static class StudioSeed
{
    public static readonly Guid Acme = new("0a000000-0000-4000-8000-000000000001");
    public static readonly Guid Alice = new("0b000000-0000-4000-8000-000000000001");
    public static readonly Guid Bob = new("0b000000-0000-4000-8000-000000000002");
    public static readonly Guid Carol = new("0b000000-0000-4000-8000-000000000003");
    public static readonly Guid Dave = new("0b000000-0000-4000-8000-000000000004");
    public static readonly Guid AliceMembership = new("0c000000-0000-4000-8000-000000000001");
    public static readonly Guid BobMembership = new("0c000000-0000-4000-8000-000000000002");
    public static readonly Guid DaveMembership = new("0c000000-0000-4000-8000-000000000004");
    public static readonly Guid Prod = new("0d000000-0000-4000-8000-000000000001");
    public static readonly Guid Staging = new("0d000000-0000-4000-8000-000000000002");
    public static readonly Guid Scratch = new("0d000000-0000-4000-8000-000000000003");
    public static readonly Guid MongoDb = new("0e000000-0000-4000-8000-000000000001");
    public static readonly Guid RedisDb = new("0e000000-0000-4000-8000-000000000002");
    public static readonly Guid AliceSession = new("0f000000-0000-4000-8000-000000000001");
    public static readonly Guid AliceLaptopSession = new("0f000000-0000-4000-8000-000000000002");
    public static readonly Guid DefaultCard = new("1a000000-0000-4000-8000-000000000001");
    public static readonly Guid OldCard = new("1a000000-0000-4000-8000-000000000002");
    public static readonly Guid VatId = new("1b000000-0000-4000-8000-000000000001");

    public const string AliceEmail = "alice@acme.example";
    public const string CarolEmail = "carol@acme.example";
    public const string AliceTokenHash = "sha256-alice-browser";
    public const string ProdRef = "acme-prod";
    public const string StagingRef = "acme-staging";
    public const string ScratchRef = "acme-scratch";

    public static string Sql => $"""
        INSERT INTO platform.organizations (id, name, slug, billing_email)
        VALUES ('{Acme}', 'Acme Inc', 'acme', 'billing@acme.example');

        INSERT INTO platform.users (id, email, username, first_name, last_name) VALUES
          ('{Alice}', '{AliceEmail}', 'alice', 'Alice', 'Anders'),
          ('{Bob}', 'bob@acme.example', 'bob', 'Bob', 'Berg'),
          ('{Carol}', '{CarolEmail}', 'carol', 'Carol', 'Cruz'),
          ('{Dave}', 'dave@acme.example', 'dave', 'Dave', 'Dietz');

        INSERT INTO platform.organization_members (id, organization_id, user_id, role, invited_at, joined_at) VALUES
          ('{AliceMembership}', '{Acme}', '{Alice}', 'owner', NULL, '2024-01-01T00:00:00Z'),
          ('{BobMembership}', '{Acme}', '{Bob}', 'developer', '2024-02-01T00:00:00Z', '2024-02-02T00:00:00Z'),
          ('{DaveMembership}', '{Acme}', '{Dave}', 'developer', '2024-03-01T00:00:00Z', '2024-03-01T12:00:00Z');

        INSERT INTO platform.projects (id, organization_id, name, slug, ref, database_host, database_name, database_user,
                                       database_password, postgres_meta_url, supabase_url, status, created_at) VALUES
          ('{Prod}', '{Acme}', 'Production', 'production', '{ProdRef}', 'prod.db.internal', 'postgres', 'postgres', 'pw-prod', 'http://meta.prod', 'https://prod.acme.example', 'ACTIVE_HEALTHY', '2024-01-02T00:00:00Z'),
          ('{Staging}', '{Acme}', 'Staging', 'staging', '{StagingRef}', 'staging.db.internal', 'postgres', 'postgres', 'pw-staging', 'http://meta.staging', 'https://staging.acme.example', 'PAUSED', '2024-01-03T00:00:00Z'),
          ('{Scratch}', '{Acme}', 'Scratch', 'scratch', '{ScratchRef}', 'scratch.db.internal', 'postgres', 'postgres', 'pw-scratch', 'http://meta.scratch', 'https://scratch.acme.example', 'INACTIVE', '2024-01-04T00:00:00Z');

        INSERT INTO platform.project_members (project_id, user_id, role) VALUES ('{Staging}', '{Bob}', 'developer');

        INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret)
        VALUES ('{Prod}', 'anon-prod', 'service-prod', 'jwt-secret-prod');

        INSERT INTO platform.databases (id, project_id, name, type, host, port, database, username, password, connection_string, status) VALUES
          ('{MongoDb}', '{Prod}', 'Sessions store', 'mongodb', 'mongo.internal', 27017, 'admin', 'mongo', 'pw-mongo', 'mongodb://mongo:pw-mongo@mongo.internal:27017/admin', 'active'),
          ('{RedisDb}', '{Prod}', 'Cache', 'redis', 'redis.internal', 6379, '0', NULL, 'pw-redis', 'redis://:pw-redis@redis.internal:6379/0', 'active');

        INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, billing_cycle_anchor, current_period_start, current_period_end, next_invoice_at)
        VALUES ('{Acme}', 'tier_pro', 'Pro', 1704067200, 1717200000, 1719792000, 1719792000);

        INSERT INTO platform.payment_methods (id, organization_id, stripe_payment_method_id, type, is_default, card_brand, card_last4, card_exp_month, card_exp_year, created_at) VALUES
          ('{DefaultCard}', '{Acme}', 'pm_seed_default', 'card', true, 'visa', '4242', 12, 2030, '2024-01-05T00:00:00Z'),
          ('{OldCard}', '{Acme}', 'pm_seed_old', 'card', false, 'mastercard', '4444', 1, 2026, '2024-01-01T00:00:00Z');

        INSERT INTO platform.tax_ids (id, organization_id, type, value, country) VALUES ('{VatId}', '{Acme}', 'eu_vat', 'DE123456789', 'DE');

        INSERT INTO platform.project_addons (project_id, addon_id, addon_variant) VALUES ('{Prod}', 'pitr', 'pitr_7');

        INSERT INTO platform.project_metrics (project_id, "timestamp", cpu_usage, memory_usage, disk_io_budget)
        VALUES ('{Prod}', now() - interval '1 hour', 12.5, 40.25, 2400), ('{Prod}', now() - interval '2 days', 90, 90, 100);

        INSERT INTO platform.user_sessions (id, user_id, token, expires_at, user_agent, ip_address, last_activity_at) VALUES
          ('{AliceSession}', '{Alice}', '{AliceTokenHash}', now() + interval '7 days', 'Firefox', '203.0.113.7', now() - interval '1 hour'),
          ('{AliceLaptopSession}', '{Alice}', 'sha256-alice-laptop', now() + interval '7 days', 'Safari', '203.0.113.8', now() - interval '40 days');
        INSERT INTO platform.user_sessions (user_id, token, expires_at, created_at) VALUES
          ('{Bob}', 'sha256-bob-expired', now() - interval '1 day', now() - interval '2 days');

        INSERT INTO platform.audit_logs (organization_id, project_id, user_id, event_type, resource_type, resource_id, action)
        VALUES ('{Acme}', '{Prod}', '{Alice}', 'project.created', 'project', '{Prod}', 'create');
        """;
}
