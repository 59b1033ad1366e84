-- Side-by-side versions of the VMM and the storage daemon (issue 14 items
-- 3-5, docs/artifacts.md): weights, GC that removes files before rows, the
-- guest arches a bundle serves, the firmware a VMM was tested with, and a
-- VM's pending versions.
--
-- host_artifact is rebuilt (SQLite cannot change a CHECK; the way 0004
-- does it), keeping its rows:
--  - state gains 'removing': GC marks a version, removes its files on the
--    host, then deletes the row, so a crash in between leaves a row that
--    the next GC finishes;
--  - kind loses 'debian-package': the VMM and the storage daemon install as
--    versioned bundles now. Rows of that kind are dropped (a VM pinned to
--    one is told to run `loam vm upgrade` at its next start);
--  - weight: a new VM takes, among the usable versions of a component, the
--    one of the highest weight, then the newest; 0 (`loam artifact drain`)
--    means no new VM takes it. 100 is the default.
-- Nothing references host_artifact, so it is simply copied, dropped and
-- renamed; the two tables that reference it are made afterwards.

CREATE TABLE host_artifact_new (
    host_id      TEXT NOT NULL REFERENCES host (id) ON DELETE CASCADE,
    component    TEXT NOT NULL CHECK (component IN ('vmm', 'firmware', 'image', 'storage')),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    arch         TEXT NOT NULL REFERENCES arch (name),
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'tarball')),
    path         TEXT,
    sha256       TEXT,
    state        TEXT NOT NULL
        CHECK (state IN ('installing', 'installed', 'failed', 'unavailable', 'removing')),
    error        TEXT,
    installed_at BIGINT,
    updated_at   BIGINT NOT NULL,
    weight       INTEGER NOT NULL DEFAULT 100 CHECK (weight >= 0),
    PRIMARY KEY (host_id, component, name, version, arch)
);

INSERT INTO host_artifact_new (host_id, component, name, version, arch, kind, path, sha256,
    state, error, installed_at, updated_at)
SELECT host_id, component, name, version, arch, kind, path, sha256,
    state, error, installed_at, updated_at
FROM host_artifact WHERE kind <> 'debian-package';

DROP TABLE host_artifact;
ALTER TABLE host_artifact_new RENAME TO host_artifact;

-- A bundle's `arch` is the host's (the arch of its binaries); these are
-- the guest arches it serves. Rows without any are guest-arch artifacts
-- (firmware, images), whose `arch` is the guest's.
CREATE TABLE host_artifact_guest_arch (
    host_id    TEXT NOT NULL,
    component  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    arch       TEXT NOT NULL,
    guest_arch TEXT NOT NULL REFERENCES arch (name),
    PRIMARY KEY (host_id, component, name, version, arch, guest_arch),
    FOREIGN KEY (host_id, component, name, version, arch)
        REFERENCES host_artifact (host_id, component, name, version, arch) ON DELETE CASCADE
);

-- The firmware (name, version) a VMM version was tested with: a VM is
-- never pinned to a VMM and a firmware that its VMM's row does not list.
CREATE TABLE host_artifact_firmware (
    host_id          TEXT NOT NULL,
    component        TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    arch             TEXT NOT NULL,
    firmware_name    TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    PRIMARY KEY (host_id, component, name, version, arch, firmware_name, firmware_version),
    FOREIGN KEY (host_id, component, name, version, arch)
        REFERENCES host_artifact (host_id, component, name, version, arch) ON DELETE CASCADE
);

-- `loam vm upgrade` records the versions a VM moves to; its next start
-- (the VM prog's prep) makes them its pins. Until then the VM keeps, and
-- GC keeps, both.
ALTER TABLE vm_artifact ADD COLUMN next_name TEXT;
ALTER TABLE vm_artifact ADD COLUMN next_version TEXT;
ALTER TABLE vm_artifact ADD COLUMN next_arch TEXT REFERENCES arch (name);
