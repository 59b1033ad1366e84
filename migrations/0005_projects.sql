-- Projects, their API tokens and per-arch quotas (issue 16), and the
-- project each VM belongs to. Runs unchanged on SQLite and PostgreSQL.
--
-- A project owns VMs; VM names are unique per project, so that a project
-- learns nothing from a name another project took. VMs that exist already,
-- and VMs the operator creates without naming a project, belong to the
-- project 'default' (its id is fixed, so code can name it).
--
-- api_token holds only the SHA-256 of each token (hex), never the token:
-- loamd prints a token once, when it is made. scope 'project' tokens act
-- on their project's VMs; 'metrics' tokens read /metrics only. The
-- operator's token stays the file STATE_DIR/token.
--
-- project_quota caps, per project and arch, the sum over the project's VMs
-- of vCPUs, memory (GiB) or the VM count; a missing row is no limit.
--
-- vm changes its constraints (UNIQUE (project_id, name) instead of UNIQUE
-- (name), project_id NOT NULL with a default), which SQLite can only do by
-- rebuilding the table, as 0004 does; vm_artifact, which references vm, is
-- rebuilt with it so that dropping the old vm cascades into nothing. A
-- migration before this one that adds columns to vm, or a table that
-- references vm, must be named in the rebuild below too.

CREATE TABLE project (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

INSERT INTO project (id, name, created_at) VALUES ('0000000000000000000default', 'default', 0);

CREATE TABLE api_token (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL CHECK (scope IN ('project', 'metrics')),
    project_id TEXT REFERENCES project (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the whole token
    hint       TEXT NOT NULL,              -- its first characters, to tell tokens apart
    created_at BIGINT NOT NULL,
    CHECK ((scope = 'project' AND project_id IS NOT NULL) OR
           (scope = 'metrics' AND project_id IS NULL))
);

CREATE TABLE project_quota (
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    arch       TEXT NOT NULL REFERENCES arch (name),
    resource   TEXT NOT NULL CHECK (resource IN ('vcpus', 'memory_gib', 'vms')),
    max_value  BIGINT NOT NULL CHECK (max_value >= 0),
    PRIMARY KEY (project_id, arch, resource)
);

CREATE TABLE vm_new (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL DEFAULT '0000000000000000000default' REFERENCES project (id),
    name           TEXT NOT NULL,
    arch           TEXT NOT NULL REFERENCES arch (name),
    size           TEXT NOT NULL,
    vcpus          INTEGER NOT NULL,
    cores          INTEGER NOT NULL DEFAULT 0,  -- host cores taken, set at allocation
    memory_gib     INTEGER NOT NULL,
    storage_gib    INTEGER NOT NULL,
    hugepages      INTEGER NOT NULL DEFAULT 0,  -- memory taken from 1 GiB hugepages
    location       TEXT NOT NULL DEFAULT 'default',
    boot_image     TEXT,
    host_id        TEXT REFERENCES host (id),
    state          TEXT NOT NULL DEFAULT 'creating'
        CHECK (state IN ('creating', 'waiting', 'allocated', 'preparing', 'booting', 'running',
                         'stopped', 'starting', 'rebooting', 'failed', 'destroying',
                         'unavailable')),
    state_reason   TEXT,
    guest_machine  TEXT,
    created_at     BIGINT NOT NULL,
    allocated_at   BIGINT,
    provisioned_at BIGINT,
    -- the state an 'unavailable' VM had, restored when its host answers again
    state_before_unavailable TEXT
        CHECK (state_before_unavailable IN ('creating', 'waiting', 'allocated', 'preparing',
                                            'booting', 'running', 'stopped', 'starting',
                                            'rebooting', 'failed', 'destroying')),
    FOREIGN KEY (arch, size) REFERENCES size (arch, name),
    UNIQUE (project_id, name)
);

INSERT INTO vm_new (id, name, arch, size, vcpus, cores, memory_gib, storage_gib, hugepages,
    location, boot_image, host_id, state, state_reason, guest_machine, created_at,
    allocated_at, provisioned_at, state_before_unavailable)
SELECT id, name, arch, size, vcpus, cores, memory_gib, storage_gib, hugepages,
    location, boot_image, host_id, state, state_reason, guest_machine, created_at,
    allocated_at, provisioned_at, state_before_unavailable
FROM vm;

CREATE TABLE vm_artifact_new (
    vm_id     TEXT NOT NULL REFERENCES vm_new (id) ON DELETE CASCADE,
    component TEXT NOT NULL CHECK (component IN ('vmm', 'firmware', 'image', 'storage')),
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    arch      TEXT NOT NULL REFERENCES arch (name),
    PRIMARY KEY (vm_id, component)
);

INSERT INTO vm_artifact_new (vm_id, component, name, version, arch)
SELECT vm_id, component, name, version, arch FROM vm_artifact;

DROP TABLE vm_artifact;
DROP TABLE vm;

ALTER TABLE vm_new RENAME TO vm;
ALTER TABLE vm_artifact_new RENAME TO vm_artifact;

CREATE INDEX vm_host ON vm (host_id);
CREATE INDEX vm_project ON vm (project_id, arch);
CREATE INDEX vm_artifact_version ON vm_artifact (component, name, version, arch);
CREATE INDEX api_token_project ON api_token (project_id);
