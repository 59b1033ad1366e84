-- Arch names in one table, and host and VM states checked by the schema.
--
-- `arch` holds the canonical arch names. loamd seeds it from the arch
-- registry at every start, with the sizes (loam_db_sync_sizes), so
-- adding an arch (src/arch/<arch>/) needs no schema change: every arch
-- column references arch (name) in place of a CHECK list. This migration
-- seeds it only from the names the existing rows use.
--
-- SQLite cannot change a table's constraints, so the six tables that
-- listed arches are rebuilt, the same way on both backends and keeping
-- their rows, indexes and foreign keys:
--  1. new tables *_new, referencing each other, are filled from the old;
--  2. the old tables are dropped children first, so no ON DELETE CASCADE
--     (SQLite's DROP TABLE deletes the rows first) reaches a row in use;
--  3. the new tables take the old names; renaming rewrites the references
--     (SQLite >= 3.26 edits the REFERENCES clauses, PostgreSQL keeps them
--     by table oid), then the indexes are made again.
-- On PostgreSQL, the constraints keep the names they got at CREATE
-- (host_new_pkey, ...); nothing refers to them by name.

CREATE TABLE arch (
    name TEXT NOT NULL PRIMARY KEY
);

INSERT INTO arch (name)
    SELECT arch FROM size
    UNION SELECT arch FROM host WHERE arch IS NOT NULL
    UNION SELECT arch FROM host_emulation
    UNION SELECT arch FROM vm
    UNION SELECT arch FROM host_artifact
    UNION SELECT arch FROM vm_artifact;

CREATE TABLE host_new (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL UNIQUE,
    transport              TEXT NOT NULL CHECK (transport IN ('local', 'ssh')),
    address                TEXT,
    ssh_port               INTEGER NOT NULL DEFAULT 22,
    ssh_user               TEXT NOT NULL DEFAULT 'root',
    ssh_key_file           TEXT,
    host_key               TEXT,            -- pinned on first contact
    state_dir              TEXT NOT NULL DEFAULT '/var/lib/loam',  -- agent's data dir there
    location               TEXT NOT NULL DEFAULT 'default',
    arch                   TEXT REFERENCES arch (name),  -- NULL until learned
    allocation_state       TEXT NOT NULL DEFAULT 'unprepared'
        CHECK (allocation_state IN ('unprepared', 'accepting', 'draining', 'unreachable', 'failed')),
    -- learned facts (loam-host learn); `facts` keeps the whole JSON
    cpus                   INTEGER NOT NULL DEFAULT 0,
    total_cores            INTEGER NOT NULL DEFAULT 0,
    sockets                INTEGER NOT NULL DEFAULT 0,
    dies                   INTEGER NOT NULL DEFAULT 0,
    threads_per_core       INTEGER NOT NULL DEFAULT 1,
    numa_nodes             INTEGER NOT NULL DEFAULT 0,
    total_mem_gib          INTEGER NOT NULL DEFAULT 0,
    total_hugepages_1g     INTEGER NOT NULL DEFAULT 0,
    total_storage_gib      INTEGER NOT NULL DEFAULT 0,
    available_storage_gib  INTEGER NOT NULL DEFAULT 0,
    kvm                    INTEGER NOT NULL DEFAULT 0,
    cpu_model              TEXT,
    os                     TEXT,
    kernel                 TEXT,
    facts                  TEXT,
    agent_path             TEXT,
    agent_sha256           TEXT,
    -- how guests of the host's own arch run: 'kvm' when learned usable,
    -- 'tcg' when the operator allowed emulation, else 'none' (no VMs)
    accel                  TEXT NOT NULL DEFAULT 'none' CHECK (accel IN ('kvm', 'tcg', 'none')),
    allow_tcg              INTEGER NOT NULL DEFAULT 0,
    cpu_overcommit         REAL NOT NULL DEFAULT 1.0 CHECK (cpu_overcommit >= 1.0),
    used_cores             INTEGER NOT NULL DEFAULT 0 CHECK (used_cores >= 0),
    used_memory_gib        INTEGER NOT NULL DEFAULT 0 CHECK (used_memory_gib >= 0),
    used_hugepages_1g      INTEGER NOT NULL DEFAULT 0 CHECK (used_hugepages_1g >= 0),
    generation             INTEGER NOT NULL DEFAULT 0,
    created_at             BIGINT NOT NULL,
    last_seen_at           BIGINT,
    -- why a host is 'failed' or 'unreachable', and the state the heartbeat
    -- restores when an unreachable host answers again
    state_reason           TEXT,
    state_before_unreachable TEXT
        CHECK (state_before_unreachable IN ('unprepared', 'accepting', 'draining', 'unreachable', 'failed'))
);

INSERT INTO host_new (id, name, transport, address, ssh_port, ssh_user, ssh_key_file, host_key,
    state_dir, location, arch, allocation_state, cpus, total_cores, sockets, dies,
    threads_per_core, numa_nodes, total_mem_gib, total_hugepages_1g, total_storage_gib,
    available_storage_gib, kvm, cpu_model, os, kernel, facts, agent_path, agent_sha256, accel,
    allow_tcg, cpu_overcommit, used_cores, used_memory_gib, used_hugepages_1g, generation,
    created_at, last_seen_at, state_reason, state_before_unreachable)
SELECT id, name, transport, address, ssh_port, ssh_user, ssh_key_file, host_key,
    state_dir, location, arch, allocation_state, cpus, total_cores, sockets, dies,
    threads_per_core, numa_nodes, total_mem_gib, total_hugepages_1g, total_storage_gib,
    available_storage_gib, kvm, cpu_model, os, kernel, facts, agent_path, agent_sha256, accel,
    allow_tcg, cpu_overcommit, used_cores, used_memory_gib, used_hugepages_1g, generation,
    created_at, last_seen_at, state_reason, state_before_unreachable
FROM host;

-- Foreign arches a host is opted in to run under TCG (`loam host set
-- --emulate arm64`).
CREATE TABLE host_emulation_new (
    host_id TEXT NOT NULL REFERENCES host_new (id) ON DELETE CASCADE,
    arch    TEXT NOT NULL REFERENCES arch (name),
    PRIMARY KEY (host_id, arch)
);

INSERT INTO host_emulation_new (host_id, arch) SELECT host_id, arch FROM host_emulation;

CREATE TABLE size_new (
    arch        TEXT NOT NULL REFERENCES arch (name),
    name        TEXT NOT NULL,
    vcpus       INTEGER NOT NULL CHECK (vcpus > 0),
    memory_gib  INTEGER NOT NULL CHECK (memory_gib > 0),
    storage_gib INTEGER NOT NULL CHECK (storage_gib > 0),
    PRIMARY KEY (arch, name)
);

INSERT INTO size_new (arch, name, vcpus, memory_gib, storage_gib)
SELECT arch, name, vcpus, memory_gib, storage_gib FROM size;

CREATE TABLE vm_new (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    arch           TEXT NOT NULL REFERENCES arch (name),
    size           TEXT NOT NULL,
    vcpus          INTEGER NOT NULL,
    cores          INTEGER NOT NULL DEFAULT 0,  -- host cores taken, set at allocation
    memory_gib     INTEGER NOT NULL,
    storage_gib    INTEGER NOT NULL,
    hugepages      INTEGER NOT NULL DEFAULT 0,  -- memory taken from 1 GiB hugepages
    location       TEXT NOT NULL DEFAULT 'default',
    boot_image     TEXT,
    host_id        TEXT REFERENCES host_new (id),
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
    FOREIGN KEY (arch, size) REFERENCES size_new (arch, name)
);

INSERT INTO vm_new (id, name, arch, size, vcpus, cores, memory_gib, storage_gib, hugepages,
    location, boot_image, host_id, state, state_reason, guest_machine, created_at,
    allocated_at, provisioned_at, state_before_unavailable)
SELECT id, name, arch, size, vcpus, cores, memory_gib, storage_gib, hugepages,
    location, boot_image, host_id, state, state_reason, guest_machine, created_at,
    allocated_at, provisioned_at, state_before_unavailable
FROM vm;

CREATE TABLE host_artifact_new (
    host_id      TEXT NOT NULL REFERENCES host_new (id) ON DELETE CASCADE,
    component    TEXT NOT NULL CHECK (component IN ('vmm', 'firmware', 'image', 'storage')),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    arch         TEXT NOT NULL REFERENCES arch (name),
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'tarball', 'debian-package')),
    path         TEXT,
    sha256       TEXT,
    state        TEXT NOT NULL
        CHECK (state IN ('installing', 'installed', 'failed', 'unavailable')),
    error        TEXT,
    installed_at BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (host_id, component, name, version, arch)
);

INSERT INTO host_artifact_new (host_id, component, name, version, arch, kind, path, sha256,
    state, error, installed_at, updated_at)
SELECT host_id, component, name, version, arch, kind, path, sha256,
    state, error, installed_at, updated_at
FROM host_artifact;

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
DROP TABLE host_artifact;
DROP TABLE host_emulation;
DROP TABLE vm;
DROP TABLE size;
DROP TABLE host;

ALTER TABLE host_new RENAME TO host;
ALTER TABLE host_emulation_new RENAME TO host_emulation;
ALTER TABLE size_new RENAME TO size;
ALTER TABLE vm_new RENAME TO vm;
ALTER TABLE host_artifact_new RENAME TO host_artifact;
ALTER TABLE vm_artifact_new RENAME TO vm_artifact;

CREATE INDEX vm_host ON vm (host_id);
CREATE INDEX host_place ON host (location, arch, allocation_state);
CREATE INDEX vm_artifact_version ON vm_artifact (component, name, version, arch);
