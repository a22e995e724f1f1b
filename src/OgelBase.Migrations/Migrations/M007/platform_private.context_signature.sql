-- Bound to this backend and this transaction's start, so a token is worthless anywhere else.
-- Nested hash so the token does not allow extending the signed text.
CREATE FUNCTION platform_private.context_signature(p_user_id text, p_org_id text, p_is_system text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT encode(sha256(convert_to(k.key || ':' || encode(sha256(convert_to(
           concat_ws('|', k.key, coalesce(p_user_id, ''), coalesce(p_org_id, ''), coalesce(p_is_system, ''),
                     pg_backend_pid()::text, (extract(epoch FROM now()) * 1000000)::bigint::text),
           'UTF8')), 'hex'), 'UTF8')), 'hex')
  FROM platform_private.session_context_key k
$fn$;
