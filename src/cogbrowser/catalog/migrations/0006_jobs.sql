-- Background jobs (uploads being ingested) as the API shows them: they live here, not in a server's
-- memory, so they survive restarts and every server process sharing the catalog sees them. The queue
-- itself (which job runs next, on which worker, its heartbeat) is procrastinate's tables
-- (cogbrowser/jobs.py applies its schema); `queue_id` is the job's row there.
CREATE TABLE jobs (
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    filename     text NOT NULL,
    size_bytes   bigint NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',      -- what the work needs to run (again, after a crash)
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    stage        text,
    progress     integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    outcome      jsonb,                             -- {result, image_id, message} once succeeded
    error        jsonb,                             -- the problem document once failed or cancelled
    queue_id     bigint
);
CREATE INDEX jobs_created_at ON jobs (created_at DESC);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'running');
