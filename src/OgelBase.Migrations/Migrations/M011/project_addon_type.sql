-- Studio names an add-on's kind addon_type (005's spelling); the live table (003) calls it addon_id, NOT NULL and
-- unique per project. The two are one fact: whichever the writer set is copied to the other, so the app's INSERT
-- (addon_type only) gets its addon_id and the uniqueness of (project_id, addon_id), and rows written the 003 way
-- show up in the app's WHERE addon_type = $2. Setting both to different values is refused.
CREATE OR REPLACE FUNCTION platform.sync_project_addon_type()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.addon_type IS DISTINCT FROM OLD.addon_type AND NEW.addon_id IS NOT DISTINCT FROM OLD.addon_id THEN
      NEW.addon_id := NEW.addon_type;
    ELSIF NEW.addon_id IS DISTINCT FROM OLD.addon_id AND NEW.addon_type IS NOT DISTINCT FROM OLD.addon_type THEN
      NEW.addon_type := NEW.addon_id;
    END IF;
  END IF;
  NEW.addon_id := coalesce(NEW.addon_id, NEW.addon_type);
  NEW.addon_type := coalesce(NEW.addon_type, NEW.addon_id);
  IF NEW.addon_type IS DISTINCT FROM NEW.addon_id THEN
    RAISE EXCEPTION 'project_addons.addon_type (%) and addon_id (%) name the same add-on and must be equal', NEW.addon_type, NEW.addon_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$function$
