-- Studio writes audit entries in 005's shape (entity_type, entity_id, action, changes) and never sets 003's
-- event_type, which is NOT NULL with the format '<noun>.<verb>'. This fills it from what the app did send:
-- the action when it already has that format ('addon.add'), else '<entity_type>.<action>' ('project.update').
-- Characters outside [a-z_] become '_' so the existing CHECK audit_logs_event_type_format keeps holding.
-- An event_type given by the caller is kept as it is.
CREATE OR REPLACE FUNCTION platform.fill_audit_log_event_type()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
  IF NEW.event_type IS NULL THEN
    IF NEW.action ~ '^[a-z_]+\.[a-z_]+$' THEN
      NEW.event_type := NEW.action;
    ELSE
      NEW.event_type :=
        coalesce(nullif(regexp_replace(lower(coalesce(NEW.entity_type, '')), '[^a-z_]', '_', 'g'), ''), 'unknown')
        || '.' ||
        coalesce(nullif(regexp_replace(lower(coalesce(NEW.action, '')), '[^a-z_]', '_', 'g'), ''), 'unknown');
    END IF;
  END IF;
  RETURN NEW;
END;
$function$
