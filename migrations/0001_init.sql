-- The control plane's core tables: hosts, VMs and VM sizes.
-- This file runs unchanged on SQLite and PostgreSQL: ids are TEXT made in C,
-- times are BIGINT unix milliseconds, booleans are INTEGER 0/1, and every
-- arch column is constrained to the canonical names.

CREATE TABLE host (
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
    arch                   TEXT CHECK (arch IN ('x64', 'arm64')),  -- NULL until learned
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
    last_seen_at           BIGINT
);

-- Foreign arches a host is opted in to run under TCG (`loam host set
-- --emulate arm64`).
CREATE TABLE host_emulation (
    host_id TEXT NOT NULL REFERENCES host (id) ON DELETE CASCADE,
    arch    TEXT NOT NULL CHECK (arch IN ('x64', 'arm64')),
    PRIMARY KEY (host_id, arch)
);

CREATE TABLE size (
    arch        TEXT NOT NULL CHECK (arch IN ('x64', 'arm64')),
    name        TEXT NOT NULL,
    vcpus       INTEGER NOT NULL CHECK (vcpus > 0),
    memory_gib  INTEGER NOT NULL CHECK (memory_gib > 0),
    storage_gib INTEGER NOT NULL CHECK (storage_gib > 0),
    PRIMARY KEY (arch, name)
);

CREATE TABLE vm (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    arch           TEXT NOT NULL CHECK (arch IN ('x64', 'arm64')),
    size           TEXT NOT NULL,
    vcpus          INTEGER NOT NULL,
    cores          INTEGER NOT NULL DEFAULT 0,  -- host cores taken, set at allocation
    memory_gib     INTEGER NOT NULL,
    storage_gib    INTEGER NOT NULL,
    hugepages      INTEGER NOT NULL DEFAULT 0,  -- memory taken from 1 GiB hugepages
    location       TEXT NOT NULL DEFAULT 'default',
    boot_image     TEXT,
    host_id        TEXT REFERENCES host (id),
    state          TEXT NOT NULL DEFAULT 'creating',
    state_reason   TEXT,
    guest_machine  TEXT,
    created_at     BIGINT NOT NULL,
    allocated_at   BIGINT,
    provisioned_at BIGINT,
    FOREIGN KEY (arch, size) REFERENCES size (arch, name)
);

CREATE INDEX vm_host ON vm (host_id);
CREATE INDEX host_place ON host (location, arch, allocation_state);
