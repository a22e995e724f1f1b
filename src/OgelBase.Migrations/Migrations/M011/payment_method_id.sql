-- Studio names the Stripe payment method id payment_method_id; 002 calls it stripe_payment_method_id (NOT NULL,
-- unique). One fact, two names: whichever the writer set is copied to the other, so the app's INSERT gets its
-- NOT NULL and unique column, and rows written the 002 way return the app's name too. Different values are refused.
CREATE OR REPLACE FUNCTION platform.sync_payment_method_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.payment_method_id IS DISTINCT FROM OLD.payment_method_id AND NEW.stripe_payment_method_id IS NOT DISTINCT FROM OLD.stripe_payment_method_id THEN
      NEW.stripe_payment_method_id := NEW.payment_method_id;
    ELSIF NEW.stripe_payment_method_id IS DISTINCT FROM OLD.stripe_payment_method_id AND NEW.payment_method_id IS NOT DISTINCT FROM OLD.payment_method_id THEN
      NEW.payment_method_id := NEW.stripe_payment_method_id;
    END IF;
  END IF;
  NEW.stripe_payment_method_id := coalesce(NEW.stripe_payment_method_id, NEW.payment_method_id);
  NEW.payment_method_id := coalesce(NEW.payment_method_id, NEW.stripe_payment_method_id);
  IF NEW.payment_method_id IS DISTINCT FROM NEW.stripe_payment_method_id THEN
    RAISE EXCEPTION 'payment_methods.payment_method_id (%) and stripe_payment_method_id (%) name the same payment method and must be equal', NEW.payment_method_id, NEW.stripe_payment_method_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$function$
