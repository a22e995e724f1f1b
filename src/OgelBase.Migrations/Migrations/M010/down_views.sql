-- Saved definitions are fully qualified (deparsed with only pg_catalog on the search_path), so they are executed
-- under the same search_path.
DO $m010$
DECLARE
  v_search_path text := pg_catalog.current_setting('search_path');
  r record;
  v_current text[];
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
  FOR r IN SELECT s.object, s.value FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'view_definition' ORDER BY s.object LOOP
    EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', r.object, r.value);
  END LOOP;
  PERFORM pg_catalog.set_config('search_path', v_search_path, true);

  -- Options as they were: every current one reset, then the saved ones set in their original order.
  FOR r IN SELECT s.object, s.value FROM ogelbase_migrations.m010_saved_state s WHERE s.kind = 'view_options' ORDER BY s.object LOOP
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
