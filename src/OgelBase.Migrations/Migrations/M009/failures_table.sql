CREATE TABLE IF NOT EXISTS platform.auth_user_sync_failures (
  user_id uuid PRIMARY KEY,
  email text,
  reason text NOT NULL,
  sqlstate text,
  first_failed_at timestamptz NOT NULL DEFAULT now(),
  last_failed_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 1
);
COMMENT ON TABLE platform.auth_user_sync_failures IS
  'GoTrue users (auth.users) that migration 9 could not mirror into platform.users, with the reason. The GoTrue write itself succeeded. A row goes away when a later write of that auth.users row mirrors it (or the row is deleted). See docs/gotrue-sync.md.';
