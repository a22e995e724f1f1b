-- The default organization's slug: the lowercased local part of the address, every run of characters outside
-- [a-z0-9] turned into one hyphen, trimmed of hyphens, 'user' when nothing is left, then '-' and 8 characters:
-- the start of the user id on the first attempt, a hash of id and attempt on each retry. It always starts and
-- ends with [a-z0-9], so it satisfies organizations_slug_format whatever the address.
CREATE OR REPLACE FUNCTION platform.gotrue_org_slug(p_email text, p_user_id uuid, p_attempt integer)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $function$
  SELECT pg_catalog.rtrim(pg_catalog.left(coalesce(
           nullif(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.split_part(coalesce(p_email, ''), '@', 1)), '[^a-z0-9]+', '-', 'g'), '-'), ''),
           'user'), 200), '-')
         || '-'
         || CASE WHEN p_attempt = 0 THEN pg_catalog.left(p_user_id::text, 8)
                 ELSE pg_catalog.left(pg_catalog.md5(p_user_id::text || ':' || p_attempt::text), 8) END
$function$;
