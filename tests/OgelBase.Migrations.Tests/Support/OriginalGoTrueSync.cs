namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// The original 009 as production may carry it, applied by hand (docs/schema-facts.md §9), written here from its description: two
/// SECURITY DEFINER trigger functions created without a schema (so in public) and without a search_path, a trigger
/// on auth.users and one on platform.users that gives every new platform user an organization, and a backfill.
/// Its defects are kept on purpose (§12.35): the slug builder replaces capitals before lowercasing them.
/// </summary>
public static class OriginalGoTrueSync
{
    public const string Sql = """
        SET search_path = public;

        CREATE OR REPLACE FUNCTION sync_auth_user_to_platform() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $body$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO platform.users AS pu (id, email, email_confirmed_at, last_sign_in_at, created_at, updated_at, metadata)
            SELECT NEW.id, NEW.email, NEW.confirmed_at, NEW.last_sign_in_at, coalesce(NEW.created_at, now()), now(), coalesce(NEW.raw_user_meta_data, '{}')
            ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, email_confirmed_at = EXCLUDED.email_confirmed_at,
                                           last_sign_in_at = EXCLUDED.last_sign_in_at, updated_at = now();
            RETURN NEW;
          ELSIF TG_OP = 'UPDATE' THEN
            UPDATE platform.users SET email = NEW.email, email_confirmed_at = NEW.confirmed_at, last_sign_in_at = NEW.last_sign_in_at,
                   banned_until = NEW.banned_until, updated_at = now(), metadata = coalesce(NEW.raw_user_meta_data, metadata)
            WHERE id = NEW.id;
            IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
              UPDATE platform.users SET deleted_at = NEW.deleted_at WHERE id = NEW.id;
            END IF;
            RETURN NEW;
          ELSE
            UPDATE platform.users SET deleted_at = now(), updated_at = now() WHERE id = OLD.id;
            RETURN OLD;
          END IF;
        END
        $body$;

        CREATE TRIGGER on_auth_user_change AFTER INSERT OR UPDATE OR DELETE ON auth.users
          FOR EACH ROW EXECUTE FUNCTION sync_auth_user_to_platform();

        CREATE OR REPLACE FUNCTION create_default_org_for_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $body$
        DECLARE
          v_local text := split_part(NEW.email, '@', 1);
          v_slug text;
          v_name text;
          v_org uuid;
        BEGIN
          v_slug := lower(regexp_replace(v_local, '[^a-z0-9]', '-', 'g'));
          v_slug := trim(both '-' from regexp_replace(v_slug, '-+', '-', 'g')) || '-' || substr(NEW.id::text, 1, 8);
          v_name := coalesce(NEW.first_name || '''s Organization', initcap(v_local) || '''s Organization');
          BEGIN
            INSERT INTO platform.organizations (name, slug, billing_email) VALUES (v_name, v_slug, NEW.email) RETURNING id INTO v_org;
          EXCEPTION WHEN unique_violation THEN
            INSERT INTO platform.organizations (name, slug, billing_email)
            VALUES (v_name, v_slug || '-' || substr(NEW.id::text, 10, 4), NEW.email) RETURNING id INTO v_org;
          END;
          INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES (v_org, NEW.id, 'owner');
          RETURN NEW;
        EXCEPTION WHEN OTHERS THEN
          RAISE WARNING 'no default organization for %: %', NEW.id, SQLERRM;
          RETURN NEW;
        END
        $body$;

        CREATE TRIGGER on_platform_user_created AFTER INSERT ON platform.users
          FOR EACH ROW EXECUTE FUNCTION create_default_org_for_user();

        INSERT INTO platform.users (id, email, email_confirmed_at, last_sign_in_at, created_at, updated_at, metadata)
        SELECT id, email, confirmed_at, last_sign_in_at, coalesce(created_at, now()), now(), coalesce(raw_user_meta_data, '{}')
        FROM auth.users WHERE deleted_at IS NULL
        ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, email_confirmed_at = EXCLUDED.email_confirmed_at,
                                       last_sign_in_at = EXCLUDED.last_sign_in_at, updated_at = now();
        RESET search_path;
        """;
}
