-- Strands: the durable state machines of the prog engine (src/engine/).
-- Runs unchanged on SQLite and PostgreSQL (TEXT ids, BIGINT ms, INTEGER 0/1).
--
-- `stack` is a JSON array of frames, bottom first; the last one runs:
--   {"prog": "cloudify", "label": "learn", "state": {...},
--    "child_exit": <value popped by a pushed prog, delivered once>,
--    "reap": ["<child strand id>", ...]   -- set by bud until reaped}
-- A push stores the caller's resume label as the caller frame's `label`
-- before adding the child frame, so a pop simply resumes the frame below.
-- `prog` and `label` mirror the top frame for queries and the API.

CREATE TABLE strand (
    id               TEXT PRIMARY KEY,
    prog             TEXT NOT NULL,
    label            TEXT NOT NULL,
    stack            TEXT NOT NULL,
    schedule         BIGINT NOT NULL,        -- due at (unix ms)
    lease_owner      TEXT,                   -- "<process owner>/<worker>"
    lease_token      TEXT,                   -- random per lease taken
    lease_expires_at BIGINT,
    parent_id        TEXT,                   -- set for budded children
    done             INTEGER NOT NULL DEFAULT 0,
    exitval          TEXT,                   -- JSON, once done
    tries            INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    label_since      BIGINT NOT NULL,        -- when the current label became current
    deadline_at      BIGINT,                 -- label_since + the label's deadline_s
    stuck            INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- The dispatcher's query: due, unfinished strands in schedule order.
CREATE INDEX strand_due ON strand (done, schedule);
CREATE INDEX strand_parent ON strand (parent_id);
CREATE INDEX strand_deadline ON strand (stuck, deadline_at);

-- Raised signals ("stop", "destroy"); a label takes one and the engine
-- deletes it in the same transaction that applies the label's outcome.
CREATE TABLE strand_signal (
    strand_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (strand_id, name)
);

-- The heartbeat marks VMs of an unreachable host 'unavailable' and keeps
-- the state they had here, to restore it when the host answers again.
ALTER TABLE vm ADD COLUMN state_before_unavailable TEXT;

-- Why a host is 'failed' or 'unreachable' (e.g. "host key changed"), and
-- the state the heartbeat restores when an unreachable host answers again.
ALTER TABLE host ADD COLUMN state_reason TEXT;
ALTER TABLE host ADD COLUMN state_before_unreachable TEXT;
