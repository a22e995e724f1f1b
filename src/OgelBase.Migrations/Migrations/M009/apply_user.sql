-- One GoTrue user's state applied to platform.users. Raises when the user cannot be mirrored; the caller
-- (gotrue_sync_user) catches that and records the reason. Never matches an existing platform user by e-mail:
-- only the same id is the same person.
CREATE OR REPLACE FUNCTION platform.gotrue_apply_user(
  p_id uuid, p_email text, p_email_confirmed_at timestamptz, p_last_sign_in_at timestamptz, p_created_at timestamptz,
  p_metadata jsonb, p_banned_until timestamptz, p_deleted_at timestamptz, p_removed boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $function$
DECLARE
  v_email text := nullif(pg_catalog.btrim(p_email), '');
  v_current_email text;
  v_exists boolean;
  v_tombstone text := 'deleted-' || pg_catalog.replace(p_id::text, '-', '') || '@deleted.invalid';
  v_first text;
  v_last text;
  v_org uuid;
  v_slug text;
  v_other uuid;
BEGIN
  -- The trigger and the backfill may reach the same user at once; one at a time per user, so neither creates
  -- a second organization for it.
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ogelbase gotrue mirror ' || p_id::text, 0));

  SELECT u.email INTO v_current_email FROM platform.users u WHERE u.id = p_id;
  v_exists := FOUND;

  -- Deleted in GoTrue (soft: deleted_at set; hard: the row is gone): soft-delete the platform user and drop the
  -- address, so it neither outlives GoTrue's scrambling nor blocks whoever registers it next.
  IF p_removed OR p_deleted_at IS NOT NULL THEN
    IF NOT v_exists THEN
      RETURN 'skipped';
    END IF;
    UPDATE platform.users u
    SET deleted_at = coalesce(u.deleted_at, p_deleted_at, pg_catalog.now()), email = v_tombstone, updated_at = pg_catalog.now()
    WHERE u.id = p_id AND (u.deleted_at IS NULL OR u.email IS DISTINCT FROM v_tombstone);
    RETURN CASE WHEN FOUND THEN 'deleted' ELSE 'unchanged' END;
  END IF;

  IF v_exists THEN
    -- Everything but the address first: a ban must reach Studio even when the address cannot.
    UPDATE platform.users u
    SET email_confirmed_at = p_email_confirmed_at, last_sign_in_at = p_last_sign_in_at, banned_until = p_banned_until,
        metadata = coalesce(p_metadata, u.metadata), updated_at = pg_catalog.now()
    WHERE u.id = p_id
      AND (u.email_confirmed_at, u.last_sign_in_at, u.banned_until, u.metadata)
          IS DISTINCT FROM (p_email_confirmed_at, p_last_sign_in_at, p_banned_until, coalesce(p_metadata, u.metadata));
    IF v_email IS NOT DISTINCT FROM v_current_email THEN
      RETURN CASE WHEN FOUND THEN 'updated' ELSE 'unchanged' END;
    END IF;
    IF v_email IS NULL THEN
      RAISE EXCEPTION 'no e-mail address in auth.users; the platform user keeps its previous one'
        USING ERRCODE = 'OG001';
    END IF;
    BEGIN
      UPDATE platform.users u SET email = v_email, updated_at = pg_catalog.now() WHERE u.id = p_id;
    EXCEPTION WHEN unique_violation OR check_violation THEN
      -- Keep the other fields just written; report the address alone.
      RAISE EXCEPTION USING ERRCODE = 'OG002', MESSAGE = SQLERRM || ' (the new address was not mirrored; other fields were)';
    END;
    RETURN 'updated';
  END IF;

  IF v_email IS NULL THEN
    RAISE EXCEPTION 'no e-mail address (phone or anonymous sign-up); mirrored once auth.users has one'
      USING ERRCODE = 'OG001';
  END IF;
  SELECT u.id INTO v_other FROM platform.users u WHERE u.email = v_email;
  IF FOUND THEN
    RAISE EXCEPTION 'e-mail address already belongs to platform user %; not attached to it by address alone', v_other
      USING ERRCODE = 'OG003';
  END IF;

  v_first := nullif(pg_catalog.btrim(CASE WHEN pg_catalog.jsonb_typeof(p_metadata) = 'object' THEN p_metadata ->> 'first_name' END), '');
  v_last := nullif(pg_catalog.btrim(CASE WHEN pg_catalog.jsonb_typeof(p_metadata) = 'object' THEN p_metadata ->> 'last_name' END), '');

  INSERT INTO platform.users (id, email, first_name, last_name, email_confirmed_at, last_sign_in_at, banned_until, metadata, created_at, updated_at)
  VALUES (p_id, v_email, v_first, v_last, p_email_confirmed_at, p_last_sign_in_at, p_banned_until, coalesce(p_metadata, '{}'::jsonb),
          coalesce(p_created_at, pg_catalog.now()), pg_catalog.now());

  -- Exactly one default organization, owned by the new user and active for them (008). A taken slug is retried
  -- with another suffix; if all attempts are taken the whole mirror of this user fails and is recorded.
  FOR v_attempt IN 0..9 LOOP
    v_slug := platform.gotrue_org_slug(v_email, p_id, v_attempt);
    INSERT INTO platform.organizations (name, slug, billing_email)
    VALUES (pg_catalog.left(coalesce(v_first, pg_catalog.split_part(v_email, '@', 1)) || '''s Organization', 255), v_slug, v_email)
    ON CONFLICT (slug) DO NOTHING
    RETURNING id INTO v_org;
    EXIT WHEN v_org IS NOT NULL;
  END LOOP;
  IF v_org IS NULL THEN
    RAISE EXCEPTION 'no free organization slug after 10 attempts (last %)', v_slug USING ERRCODE = 'OG004';
  END IF;

  INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at) VALUES (v_org, p_id, 'owner', pg_catalog.now());
  UPDATE platform.users u SET active_org_id = v_org WHERE u.id = p_id;
  RETURN 'created';
END
$function$;
