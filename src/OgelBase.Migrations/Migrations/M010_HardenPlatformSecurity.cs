using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// Issue #9: closes the security holes that versions 1–6 and 8 left in the <c>platform</c> schema as built
/// (spec §12 items 1–4, 6, 7, 9, 12) and repairs two defects with wrong results (§12.22, §12.23). Versions 1–6
/// stay as production built them; production gets these fixes only through this forward migration, so it has to
/// work on a database built by our migrations and on one adopted with <c>baseline</c>, with or without 7.
/// <para>
/// Everything is decided from the live catalog, not assumed: a function is pinned only when it has no
/// search_path yet, an ACL is changed only when PUBLIC really holds the privilege, 7's functions are touched only
/// if they exist. Before changing an object the Up records its previous state (ACL, function definition,
/// view definition and options, trigger definition, RLS flag) in <see cref="SavedStateTable"/>, and the Down
/// puts exactly that back, so <c>rollback 8</c> restores the catalog of version 8 including the order of ACL
/// entries. Docs: docs/security.md.
/// </para>
/// </summary>
[Migration(10, "harden platform security (search_path, grants, invoker views, RLS on databases, two fixes)")]
public sealed class M010_HardenPlatformSecurity : Migration
{
    /// <summary>What the Up changed and how it was before; read and dropped by the Down. Outside platform on purpose.</summary>
    public const string SavedStateTable = VersionTable.Schema + ".m010_saved_state";

    /// <summary>The trigger function that replaces update_updated_at_column on platform.user_sessions (§12.22).</summary>
    public const string SessionActivityFunction = "platform.update_last_activity_at_column()";

    public const string SessionTrigger = "update_user_sessions_activity";

    /// <summary>
    /// Functions that read secrets, delete data, write on someone's behalf or set the acting identity. PUBLIC loses
    /// EXECUTE on each one that exists, whether or not it is SECURITY DEFINER; the database owner role gets it.
    /// The last six are 7's context setters, present only where 7 was applied.
    /// </summary>
    public static readonly IReadOnlyList<string> RestrictedFunctions =
    [
        "platform.decrypt_database_connection_string(uuid)",
        "platform.clean_old_audit_logs(integer)",
        "platform.clean_old_metrics(integer)",
        "platform.update_database_health(uuid, text, text)",
        "platform.set_user_active_org(uuid, uuid)",
        "platform.log_audit_event(uuid, text, text, text, jsonb, inet, text)",
        "platform.set_user_context(uuid, uuid)",
        "platform.set_user_id(uuid)",
        "platform.set_org_id(uuid)",
        "platform.clear_user_context()",
        "platform.set_system_user()",
        "platform.log_context_change(text, uuid, uuid)",
    ];

    /// <summary>
    /// 7's read-only policy helpers. RLS policies call them with the privileges of whoever runs the query, so they
    /// must stay executable by PUBLIC or every role that does not bypass RLS would fail on every platform table.
    /// They only answer questions about the caller's own context. They still get a pinned search_path.
    /// </summary>
    public static readonly IReadOnlyList<string> PolicyHelpers =
    [
        "platform.current_user_id()",
        "platform.current_org_id()",
        "platform.user_is_org_member(uuid)",
        "platform.user_has_org_role(uuid, text)",
        "platform.is_system_user()",
    ];

    /// <summary>Relations that version 1 or 6 let PUBLIC read although they hold secrets or every tenant's data (§12.6, §12.12).</summary>
    public static readonly IReadOnlyList<string> SecretRelations =
    [
        "platform.credentials",
        "platform.projects",
        "platform.projects_with_credentials",
        "platform.databases_safe",
    ];

    /// <summary>The one column of platform.projects PUBLIC may no longer read; it keeps SELECT on every other column.</summary>
    public const string ProjectSecretColumn = "database_password";

    /// <summary>Every view of 1–6 (§10). Owned by the migration role, they bypassed RLS and table privileges (§12.7).</summary>
    public static readonly IReadOnlyList<string> Views =
    [
        "platform.projects_with_credentials",
        "platform.organizations_with_stats",
        "platform.subscriptions_with_orgs",
        "platform.organization_billing_overview",
        "platform.project_resources",
        "platform.databases_with_connection_strings",
        "platform.databases_safe",
    ];

    /// <summary>The columns of platform.databases that databases_safe reads (spec §6.A): none of username, password, the connection strings, health_check_error.</summary>
    public static readonly IReadOnlyList<string> SafeDatabaseColumns =
    [
        "id", "project_id", "name", "type", "host", "port", "database", "ssl_enabled", "config", "metadata", "status",
        "health_check_status", "last_health_check_at", "created_at", "updated_at",
    ];

    public const string BillingOverview = "platform.organization_billing_overview";

    private const string Saved = SavedStateTable;

    // Deparsing (pg_get_viewdef, pg_get_triggerdef, format_type) qualifies names by the search_path in force; with
    // only pg_catalog on it every platform name comes out qualified, so saved text means the same whatever the
    // session's search_path is when the Down runs.
    private const string QualifyAll = "PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);";
    private const string RestoreSearchPath = "PERFORM pg_catalog.set_config('search_path', v_search_path, true);";

    public override void Up()
    {
        Execute.Sql(PreconditionsSql);
        Execute.Sql(CreateSavedStateSql);
        Execute.Sql(HardenFunctionsSql);
        Execute.Sql(RestrictRelationsSql);
        Execute.Sql(SaveViewOptionsSql);
        Execute.Sql(FixBillingOverviewSql);
        Execute.Sql(InvokerViewsSql);
        Execute.Sql(FixSessionTriggerSql);
        Execute.Sql(DatabasesRlsSql);
        Execute.Sql(VerifySql);
    }

    public override void Down()
    {
        Execute.Sql(DownPreconditionsSql);
        Execute.Sql(DownDatabasesRlsSql);
        Execute.Sql(DownSessionTriggerSql);
        Execute.Sql(DownViewsSql);
        Execute.Sql(DownRelationsSql);
        Execute.Sql(DownFunctionsSql);
        Execute.Sql($"DROP TABLE {Saved};");
    }

    private static string SqlArray(IEnumerable<string> values) =>
        "ARRAY[" + string.Join(", ", values.Select(v => "'" + v.Replace("'", "''", StringComparison.Ordinal) + "'")) + "]::text[]";

    private const string DatabaseOwnerSql = """
        SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO STRICT v_owner
        FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
        """;

    private const string PreconditionsSql = $$"""
        DO $m010$
        BEGIN
          IF to_regclass('platform.databases') IS NULL OR to_regclass('platform.user_sessions') IS NULL
             OR to_regclass('{{BillingOverview}}') IS NULL OR to_regclass('platform.credentials') IS NULL THEN
            RAISE EXCEPTION 'migration 10 hardens the objects of versions 1 to 6: platform.credentials, platform.user_sessions, platform.databases or {{BillingOverview}} is missing';
          END IF;
          IF to_regclass('{{Saved}}') IS NOT NULL THEN
            RAISE EXCEPTION '{{Saved}} already exists: it holds the state an earlier run of migration 10 replaced. Roll back 10 first (or, if 10 is not applied, inspect and drop that table).';
          END IF;
        END
        $m010$;
        """;

    // kind/object/detail identify what was changed; value is how it was before (NULL = it was NULL).
    private const string CreateSavedStateSql = $"""
        CREATE TABLE {Saved} (
          kind text NOT NULL,
          object text NOT NULL,
          detail text NOT NULL DEFAULT '',
          value text,
          PRIMARY KEY (kind, object, detail)
        );
        COMMENT ON TABLE {Saved} IS 'Grants, definitions and settings migration 10 replaced, as they were before it; its rollback restores them and drops this table.';
        """;

    /// <summary>
    /// §12.1–12.5. Every SECURITY DEFINER function without a search_path gets one; PUBLIC loses EXECUTE on every
    /// restricted function and every other SECURITY DEFINER function except the policy helpers.
    /// </summary>
    private static readonly string HardenFunctionsSql = $$"""
        DO $m010$
        DECLARE
          v_owner name;
          v_path text := 'pg_catalog, platform';
          v_schema name;
          v_restricted oid[];
          v_helpers oid[];
          v_search_path text := pg_catalog.current_setting('search_path');
          r record;
          v_public boolean;
          v_pin boolean;
          v_revoke boolean;
        BEGIN
          {{DatabaseOwnerSql}}

          -- The encryption functions call pgcrypto unqualified; its schema (and uuid-ossp's) must stay resolvable.
          FOR v_schema IN
            SELECT DISTINCT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname IN ('pgcrypto', 'uuid-ossp') AND n.nspname NOT IN ('pg_catalog', 'platform')
            ORDER BY 1
          LOOP
            v_path := v_path || ', ' || pg_catalog.quote_ident(v_schema);
            IF pg_catalog.has_schema_privilege('public', v_schema, 'CREATE') THEN
              RAISE WARNING 'schema % (extensions) is writable by PUBLIC; SECURITY DEFINER functions resolve names in it. Run REVOKE CREATE ON SCHEMA % FROM PUBLIC.', v_schema, v_schema;
            END IF;
          END LOOP;
          -- Last, so a caller's temporary objects can never shadow anything (it is searched first when not listed).
          v_path := v_path || ', pg_temp';

          -- Only the ones that exist: 7's functions are absent unless it was applied.
          SELECT coalesce(array_agg(f) FILTER (WHERE f IS NOT NULL), '{}') INTO v_restricted
          FROM unnest({{SqlArray(RestrictedFunctions)}}) s, to_regprocedure(s) f;
          SELECT coalesce(array_agg(f) FILTER (WHERE f IS NOT NULL), '{}') INTO v_helpers
          FROM unnest({{SqlArray(PolicyHelpers)}}) s, to_regprocedure(s) f;

          {{QualifyAll}}
          FOR r IN
            SELECT p.oid, format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) AS signature,
                   p.proacl, p.proowner, p.prosecdef, p.proconfig
            FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'platform' AND p.prokind = 'f' AND (p.prosecdef OR p.oid = ANY (v_restricted))
            ORDER BY 2
          LOOP
            v_public := EXISTS (
              SELECT 1 FROM pg_catalog.aclexplode(coalesce(r.proacl, pg_catalog.acldefault('f', r.proowner))) a
              WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');
            v_pin := r.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(r.proconfig) c WHERE c LIKE 'search_path=%');
            v_revoke := v_public AND (r.oid = ANY (v_restricted) OR (r.prosecdef AND NOT r.oid = ANY (v_helpers)));

            IF v_revoke THEN
              INSERT INTO {{Saved}} (kind, object, value) VALUES ('function_acl', r.signature, r.proacl::text);
              IF r.proacl IS NULL THEN
                -- A NULL ACL (the default) cannot be written back with GRANT; the Down recreates the function instead.
                INSERT INTO {{Saved}} (kind, object, value) VALUES
                  ('function_definition', r.signature, pg_catalog.pg_get_functiondef(r.oid)),
                  ('function_comment', r.signature, pg_catalog.obj_description(r.oid, 'pg_proc')),
                  ('function_owner', r.signature, pg_catalog.pg_get_userbyid(r.proowner));
              END IF;
            END IF;

            IF v_pin THEN
              INSERT INTO {{Saved}} (kind, object) VALUES ('function_search_path', r.signature);
              EXECUTE format('ALTER FUNCTION %s SET search_path = %s', r.signature, v_path);
            END IF;

            IF v_revoke THEN
              EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', r.signature);
              EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.signature, v_owner);
            END IF;
          END LOOP;
          {{RestoreSearchPath}}
        END
        $m010$;
        """;

    /// <summary>
    /// §12.6 and §12.12. PUBLIC keeps SELECT on every column of platform.projects but the password (column grants),
    /// so reads of names, refs and status by other roles keep working; it loses credentials, the joined view and
    /// the cross-tenant registry listing. The database owner role gets table-level SELECT on each.
    /// </summary>
    private static readonly string RestrictRelationsSql = $$"""
        DO $m010$
        DECLARE
          v_owner name;
          v_relation text;
          v_oid oid;
          v_columns text;
        BEGIN
          {{DatabaseOwnerSql}}
          FOREACH v_relation IN ARRAY {{SqlArray(SecretRelations)}} LOOP
            v_oid := to_regclass(v_relation);
            CONTINUE WHEN v_oid IS NULL;
            CONTINUE WHEN NOT EXISTS (
              SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
              WHERE c.oid = v_oid AND a.grantee = 0 AND a.privilege_type = 'SELECT');

            INSERT INTO {{Saved}} (kind, object, value)
            SELECT 'relation_acl', v_relation, c.relacl::text FROM pg_catalog.pg_class c WHERE c.oid = v_oid;
            IF v_relation = 'platform.projects' THEN
              INSERT INTO {{Saved}} (kind, object, detail, value)
              SELECT 'column_acl', v_relation, a.attname, a.attacl::text
              FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_oid AND a.attnum > 0 AND NOT a.attisdropped;
            END IF;

            EXECUTE format('REVOKE SELECT ON TABLE %s FROM PUBLIC', v_relation);
            EXECUTE format('GRANT SELECT ON TABLE %s TO %I', v_relation, v_owner);

            IF v_relation = 'platform.projects' THEN
              SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
              FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = v_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> '{{ProjectSecretColumn}}';
              EXECUTE format('GRANT SELECT (%s) ON TABLE platform.projects TO PUBLIC', v_columns);
            END IF;
          END LOOP;
        END
        $m010$;
        """;

    private static readonly string SaveViewOptionsSql = $"""
        INSERT INTO {Saved} (kind, object, value)
        SELECT 'view_options', v, c.reloptions::text
        FROM unnest({SqlArray(Views)}) v JOIN pg_catalog.pg_class c ON c.oid = to_regclass(v);
        """;

    /// <summary>
    /// §12.23: the original joined projects and invoices in one GROUP BY, so every open invoice was summed once per
    /// project. Each figure is now its own subquery per organization. Same columns, names and types.
    /// </summary>
    private const string FixBillingOverviewSql = $$"""
        DO $m010$
        DECLARE
          v_search_path text := pg_catalog.current_setting('search_path');
        BEGIN
          {{QualifyAll}}
          INSERT INTO {{Saved}} (kind, object, value)
          VALUES ('view_definition', '{{BillingOverview}}', pg_catalog.pg_get_viewdef('{{BillingOverview}}'::regclass));
          {{RestoreSearchPath}}
        END
        $m010$;

        CREATE OR REPLACE VIEW {{BillingOverview}} AS
        SELECT o.id AS organization_id, o.name AS organization_name, o.slug AS organization_slug,
               s.plan_id, s.plan_name, s.status AS subscription_status, s.customer_balance,
               (SELECT count(*) FROM platform.projects p WHERE p.organization_id = o.id) AS project_count,
               (SELECT count(*) FROM platform.invoices i WHERE i.organization_id = o.id AND i.status = 'open') AS open_invoices,
               coalesce((SELECT sum(i.amount_due) FROM platform.invoices i WHERE i.organization_id = o.id AND i.status = 'open'), 0) AS outstanding_balance,
               platform.get_available_credits(o.id) AS available_credits
        FROM platform.organizations o
        LEFT JOIN platform.subscriptions s ON s.organization_id = o.id;
        """;

    /// <summary>
    /// §12.7: a view runs with its owner's rights unless it is security_invoker (PostgreSQL 15+), so every caller
    /// granted a view read the tables below it past their grants and RLS policies.
    /// </summary>
    /// <remarks>
    /// A security_invoker view reads its tables with the caller's rights. databases_safe exists to show the registry
    /// without credentials, so the database owner role (when it does not own platform.databases) gets SELECT on exactly
    /// the columns that view reads, not on the table: it keeps what it could read before, and the secret columns stay closed.
    /// </remarks>
    private static readonly string InvokerViewsSql = $$"""
        DO $m010$
        DECLARE
          v_owner name;
          v_view text;
          v_columns text;
        BEGIN
          IF pg_catalog.current_setting('server_version_num')::int < 150000 THEN
            RAISE WARNING 'PostgreSQL % has no security_invoker views; the platform views still run with their owner''s rights (only the grants above restrict them)', pg_catalog.current_setting('server_version');
            RETURN;
          END IF;
          FOREACH v_view IN ARRAY {{SqlArray(Views)}} LOOP
            CONTINUE WHEN to_regclass(v_view) IS NULL;
            EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', v_view);
          END LOOP;

          {{DatabaseOwnerSql}}
          IF to_regclass('platform.databases_safe') IS NOT NULL AND NOT pg_catalog.has_table_privilege(v_owner, 'platform.databases', 'SELECT') THEN
            INSERT INTO {{Saved}} (kind, object, detail, value)
            SELECT 'column_acl', 'platform.databases', a.attname, a.attacl::text
            FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'platform.databases'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
            SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = 'platform.databases'::regclass AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attname = ANY ({{SqlArray(SafeDatabaseColumns)}});
            EXECUTE format('GRANT SELECT (%s) ON TABLE platform.databases TO %I', v_columns, v_owner);
          END IF;
        END
        $m010$;
        """;

    /// <summary>
    /// §12.22: the trigger called update_updated_at_column on a table without updated_at, so every UPDATE of a
    /// session failed. Same trigger name and timing, now stamping last_activity_at, which is what its name promised.
    /// </summary>
    private const string FixSessionTriggerSql = $$"""
        DO $m010$
        DECLARE
          v_search_path text := pg_catalog.current_setting('search_path');
        BEGIN
          {{QualifyAll}}
          INSERT INTO {{Saved}} (kind, object, detail, value)
          SELECT 'trigger_definition', 'platform.user_sessions', t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
          FROM pg_catalog.pg_trigger t
          WHERE t.tgrelid = 'platform.user_sessions'::regclass AND t.tgname = '{{SessionTrigger}}' AND NOT t.tgisinternal;
          {{RestoreSearchPath}}
        END
        $m010$;

        DROP TRIGGER IF EXISTS {{SessionTrigger}} ON platform.user_sessions;

        -- An UPDATE that sets last_activity_at itself keeps its value; any other change of the session counts as activity.
        CREATE FUNCTION {{SessionActivityFunction}} RETURNS trigger
        LANGUAGE plpgsql
        AS $fn$
        BEGIN
          IF NEW.last_activity_at IS NOT DISTINCT FROM OLD.last_activity_at THEN
            NEW.last_activity_at := now();
          END IF;
          RETURN NEW;
        END;
        $fn$;
        COMMENT ON FUNCTION {{SessionActivityFunction}} IS 'Trigger for platform.user_sessions: stamps last_activity_at with now() on every update that does not set it itself.';
        INSERT INTO {{Saved}} (kind, object) VALUES ('function_created', '{{SessionActivityFunction}}');

        CREATE TRIGGER {{SessionTrigger}}
          BEFORE UPDATE ON platform.user_sessions
          FOR EACH ROW EXECUTE FUNCTION {{SessionActivityFunction}};
        """;

    /// <summary>
    /// §12.9: platform.databases was left out of 006's RLS. With 006's allow-all policies in force it gets the same
    /// allow-all policy (the owner-role app keeps working; grants are what restrict). Where 7's org-isolating
    /// policies are in force it gets policies like its closest sibling, credentials: admins of the project's
    /// organization read, owners change, and the system identity passes where 7 defines one.
    /// </summary>
    private const string DatabasesRlsSql = $$"""
        DO $m010$
        DECLARE
          v_isolating boolean;
          v_via_project text := 'EXISTS (SELECT 1 FROM platform.projects p WHERE p.id = databases.project_id AND platform.user_has_org_role(p.organization_id, %L))';
        BEGIN
          IF NOT (SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = 'platform.databases'::regclass) THEN
            ALTER TABLE platform.databases ENABLE ROW LEVEL SECURITY;
            INSERT INTO {{Saved}} (kind, object) VALUES ('rls_enabled', 'platform.databases');
          END IF;

          v_isolating := to_regprocedure('platform.user_has_org_role(uuid,text)') IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.credentials'::regclass AND polname = 'permissive_all_credentials');

          IF NOT v_isolating THEN
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'permissive_all_databases') THEN
              CREATE POLICY permissive_all_databases ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
              INSERT INTO {{Saved}} (kind, object, detail) VALUES ('policy', 'platform.databases', 'permissive_all_databases');
            END IF;
            RETURN;
          END IF;

          IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'databases_admin_select') THEN
            EXECUTE format('CREATE POLICY databases_admin_select ON platform.databases AS PERMISSIVE FOR SELECT TO PUBLIC USING (%s)',
                           format(v_via_project, 'admin'));
            INSERT INTO {{Saved}} (kind, object, detail) VALUES ('policy', 'platform.databases', 'databases_admin_select');
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'databases_owner_manage') THEN
            EXECUTE format('CREATE POLICY databases_owner_manage ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                           format(v_via_project, 'owner'), format(v_via_project, 'owner'));
            INSERT INTO {{Saved}} (kind, object, detail) VALUES ('policy', 'platform.databases', 'databases_owner_manage');
          END IF;
          IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.credentials'::regclass AND polname = 'system_user_all')
             AND to_regprocedure('platform.is_system_user()') IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = 'platform.databases'::regclass AND polname = 'system_user_all') THEN
            CREATE POLICY system_user_all ON platform.databases AS PERMISSIVE FOR ALL TO PUBLIC
              USING ((SELECT platform.is_system_user())) WITH CHECK ((SELECT platform.is_system_user()));
            INSERT INTO {{Saved}} (kind, object, detail) VALUES ('policy', 'platform.databases', 'system_user_all');
          END IF;
        END
        $m010$;
        """;

    /// <summary>The Up refuses to finish unless the invariants docs/security.md promises hold.</summary>
    private static readonly string VerifySql = $$"""
        DO $m010$
        DECLARE
          v_problems text;
        BEGIN
          SELECT string_agg(format('%s.%s(%s): %s', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes), problem), '; ')
          INTO v_problems
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          CROSS JOIN LATERAL (
            SELECT 'SECURITY DEFINER without a pinned search_path' AS problem
            WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
            UNION ALL
            SELECT 'still executable by PUBLIC'
            WHERE (p.oid IN (SELECT to_regprocedure(s) FROM unnest({{SqlArray(RestrictedFunctions)}}) s)
                   OR (p.prosecdef AND p.oid NOT IN (SELECT to_regprocedure(s) FROM unnest({{SqlArray(PolicyHelpers)}}) s WHERE to_regprocedure(s) IS NOT NULL)))
              AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                          WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
          ) x
          WHERE n.nspname = 'platform';
          IF v_problems IS NOT NULL THEN
            RAISE EXCEPTION 'migration 10 left functions unprotected: %', v_problems;
          END IF;
        END
        $m010$;
        """;

    private const string DownPreconditionsSql = $$"""
        DO $m010$
        BEGIN
          IF to_regclass('{{Saved}}') IS NULL THEN
            RAISE EXCEPTION 'cannot roll back migration 10: {{Saved}} (the grants and definitions it replaced) is missing, so the previous state is unknown. Nothing was changed.';
          END IF;
        END
        $m010$;
        """;

    private const string DownDatabasesRlsSql = $$"""
        DO $m010$
        DECLARE
          v_policy text;
        BEGIN
          FOR v_policy IN SELECT s.detail FROM {{Saved}} s WHERE s.kind = 'policy' AND s.object = 'platform.databases' ORDER BY s.detail LOOP
            EXECUTE format('DROP POLICY %I ON platform.databases', v_policy);
          END LOOP;
          IF EXISTS (SELECT 1 FROM {{Saved}} s WHERE s.kind = 'rls_enabled' AND s.object = 'platform.databases') THEN
            ALTER TABLE platform.databases DISABLE ROW LEVEL SECURITY;
          END IF;
        END
        $m010$;
        """;

    private const string DownSessionTriggerSql = $$"""
        DROP TRIGGER {{SessionTrigger}} ON platform.user_sessions;
        DO $m010$
        DECLARE
          v_definition text;
        BEGIN
          FOR v_definition IN
            SELECT s.value FROM {{Saved}} s WHERE s.kind = 'trigger_definition' AND s.object = 'platform.user_sessions' ORDER BY s.detail
          LOOP
            EXECUTE v_definition;
          END LOOP;
          IF EXISTS (SELECT 1 FROM {{Saved}} s WHERE s.kind = 'function_created' AND s.object = '{{SessionActivityFunction}}') THEN
            DROP FUNCTION {{SessionActivityFunction}};
          END IF;
        END
        $m010$;
        """;

    // Saved definitions are fully qualified (see QualifyAll), so they are executed under the same search_path.
    private const string DownViewsSql = $$"""
        DO $m010$
        DECLARE
          v_search_path text := pg_catalog.current_setting('search_path');
          r record;
          v_current text[];
        BEGIN
          {{QualifyAll}}
          FOR r IN SELECT s.object, s.value FROM {{Saved}} s WHERE s.kind = 'view_definition' ORDER BY s.object LOOP
            EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', r.object, r.value);
          END LOOP;
          {{RestoreSearchPath}}

          -- Options as they were: every current one reset, then the saved ones set in their original order.
          FOR r IN SELECT s.object, s.value FROM {{Saved}} s WHERE s.kind = 'view_options' ORDER BY s.object LOOP
            SELECT c.reloptions INTO v_current FROM pg_catalog.pg_class c WHERE c.oid = r.object::regclass;
            CONTINUE WHEN v_current::text IS NOT DISTINCT FROM r.value;
            IF v_current IS NOT NULL THEN
              EXECUTE format('ALTER VIEW %s RESET (%s)', r.object,
                             (SELECT string_agg(split_part(o, '=', 1), ', ') FROM unnest(v_current) o));
            END IF;
            IF r.value IS NOT NULL THEN
              EXECUTE format('ALTER VIEW %s SET (%s)', r.object, array_to_string(r.value::text[], ', '));
            END IF;
          END LOOP;
        END
        $m010$;
        """;

    /// <summary>
    /// PL/pgSQL that makes the ACL of <c>v_target</c> (with column suffix <c>v_columns</c>) exactly <c>v_saved</c>:
    /// every current grantee loses everything, then each saved entry is granted again in its original order
    /// (GRANT appends a new grantee at the end, so restoring only what the Up revoked would reorder the ACL).
    /// </summary>
    private const string RebuildAclPlpgsql = """
          IF v_current::text IS DISTINCT FROM v_saved::text THEN
            FOR v_grantee IN
              SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
              FROM pg_catalog.aclexplode(coalesce(v_current, '{}'::aclitem[])) a
            LOOP
              EXECUTE format('REVOKE ALL%s ON %s FROM %s CASCADE', v_columns, v_target, v_grantee);
            END LOOP;
            FOR v_item IN SELECT u.item FROM unnest(v_saved) WITH ORDINALITY u(item, n) ORDER BY u.n LOOP
              SELECT CASE WHEN (array_agg(a.grantee))[1] = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid((array_agg(a.grantee))[1])) END,
                     string_agg(a.privilege_type || v_columns, ', ') FILTER (WHERE NOT a.is_grantable),
                     string_agg(a.privilege_type || v_columns, ', ') FILTER (WHERE a.is_grantable)
              INTO v_grantee, v_plain, v_grantable
              FROM pg_catalog.aclexplode(ARRAY[v_item]) a;
              IF v_plain IS NOT NULL THEN
                EXECUTE format('GRANT %s ON %s TO %s', v_plain, v_target, v_grantee);
              END IF;
              IF v_grantable IS NOT NULL THEN
                EXECUTE format('GRANT %s ON %s TO %s WITH GRANT OPTION', v_grantable, v_target, v_grantee);
              END IF;
            END LOOP;
          END IF;
        """;

    private const string RebuildAclDeclarations = """
          v_target text;
          v_columns text;
          v_current aclitem[];
          v_saved aclitem[];
          v_item aclitem;
          v_grantee text;
          v_plain text;
          v_grantable text;
        """;

    // Table-level first: revoking a table privilege also revokes it on every column, so columns come after.
    private const string DownRelationsSql = $$"""
        DO $m010$
        DECLARE
          {{RebuildAclDeclarations}}
          r record;
        BEGIN
          FOR r IN SELECT s.object, s.value FROM {{Saved}} s WHERE s.kind = 'relation_acl' ORDER BY s.object LOOP
            v_target := 'TABLE ' || r.object;
            v_columns := '';
            SELECT c.relacl INTO v_current FROM pg_catalog.pg_class c WHERE c.oid = r.object::regclass;
            v_saved := r.value::aclitem[];
            IF v_saved IS NULL THEN
              SELECT pg_catalog.acldefault('r', c.relowner) INTO v_saved FROM pg_catalog.pg_class c WHERE c.oid = r.object::regclass;
            END IF;
        {{RebuildAclPlpgsql}}
          END LOOP;

          FOR r IN SELECT s.object, s.detail, s.value FROM {{Saved}} s WHERE s.kind = 'column_acl' ORDER BY s.object, s.detail LOOP
            v_target := 'TABLE ' || r.object;
            v_columns := ' (' || pg_catalog.quote_ident(r.detail) || ')';
            SELECT a.attacl INTO v_current FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.object::regclass AND a.attname = r.detail;
            -- An empty column ACL is stored as NULL by the server, so revoking everything restores a NULL one.
            v_saved := coalesce(r.value::aclitem[], '{}'::aclitem[]);
            v_current := coalesce(v_current, '{}'::aclitem[]);
        {{RebuildAclPlpgsql}}
          END LOOP;
        END
        $m010$;
        """;

    /// <summary>
    /// A function whose ACL was NULL is dropped and recreated from its saved definition (with comment and owner):
    /// that is the only way back to a NULL ACL. When something depends on it (a view, policy or trigger) it cannot
    /// be dropped without taking that along, so it gets the default privileges written out instead: the same
    /// rights, only the catalog text differs. Every other function gets its search_path reset and its ACL rebuilt.
    /// </summary>
    private const string DownFunctionsSql = $$"""
        DO $m010$
        DECLARE
          {{RebuildAclDeclarations}}
          v_search_path text := pg_catalog.current_setting('search_path');
          v_check_bodies text := pg_catalog.current_setting('check_function_bodies');
          r record;
          v_oid oid;
          v_definition text;
          v_comment text;
          v_owner text;
        BEGIN
          FOR r IN
            SELECT DISTINCT s.object FROM {{Saved}} s WHERE s.kind IN ('function_acl', 'function_search_path') ORDER BY s.object
          LOOP
            v_oid := r.object::regprocedure;
            SELECT s.value INTO v_definition FROM {{Saved}} s WHERE s.kind = 'function_definition' AND s.object = r.object;
            IF v_definition IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM pg_catalog.pg_depend d
                 WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = v_oid AND d.deptype IN ('n', 'a')) THEN
              SELECT s.value INTO v_comment FROM {{Saved}} s WHERE s.kind = 'function_comment' AND s.object = r.object;
              SELECT s.value INTO v_owner FROM {{Saved}} s WHERE s.kind = 'function_owner' AND s.object = r.object;
              EXECUTE format('DROP FUNCTION %s', r.object);
              -- As pg_dump does: the body was valid when it was created, and a SQL body would otherwise be checked
              -- against this transaction's search_path instead of the one the function runs with.
              PERFORM pg_catalog.set_config('check_function_bodies', 'off', true);
              {{QualifyAll}}
              EXECUTE v_definition;
              {{RestoreSearchPath}}
              PERFORM pg_catalog.set_config('check_function_bodies', v_check_bodies, true);
              EXECUTE format('COMMENT ON FUNCTION %s IS %L', r.object, v_comment);
              IF v_owner IS NOT NULL AND v_owner <> current_user THEN
                EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.object, v_owner);
              END IF;
              CONTINUE;
            END IF;

            IF EXISTS (SELECT 1 FROM {{Saved}} s WHERE s.kind = 'function_search_path' AND s.object = r.object) THEN
              EXECUTE format('ALTER FUNCTION %s RESET search_path', r.object);
            END IF;

            IF EXISTS (SELECT 1 FROM {{Saved}} s WHERE s.kind = 'function_acl' AND s.object = r.object) THEN
              v_target := 'FUNCTION ' || r.object;
              v_columns := '';
              SELECT p.proacl INTO v_current FROM pg_catalog.pg_proc p WHERE p.oid = v_oid;
              SELECT s.value::aclitem[] INTO v_saved FROM {{Saved}} s WHERE s.kind = 'function_acl' AND s.object = r.object;
              IF v_saved IS NULL THEN
                RAISE NOTICE 'function % had default privileges and cannot be recreated (other objects depend on it); writing the default privileges out instead', r.object;
                SELECT pg_catalog.acldefault('f', p.proowner) INTO v_saved FROM pg_catalog.pg_proc p WHERE p.oid = v_oid;
              END IF;
        {{RebuildAclPlpgsql}}
            END IF;
          END LOOP;
        END
        $m010$;
        """;
}
