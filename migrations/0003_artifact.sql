-- Artifacts installed on each host and pinned by each VM (docs/artifacts.md).
-- host_artifact: one row per component/name/version/arch a host was asked to
-- install; state goes installing -> installed | failed | unavailable (a
-- debian-package on a host without dpkg). vm_artifact: the exact versions a
-- VM was started with, so that GC never removes one in use.

CREATE TABLE host_artifact (
    host_id      TEXT NOT NULL REFERENCES host (id) ON DELETE CASCADE,
    component    TEXT NOT NULL CHECK (component IN ('vmm', 'firmware', 'image', 'storage')),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    arch         TEXT NOT NULL CHECK (arch IN ('x64', 'arm64')),
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

CREATE TABLE vm_artifact (
    vm_id     TEXT NOT NULL REFERENCES vm (id) ON DELETE CASCADE,
    component TEXT NOT NULL CHECK (component IN ('vmm', 'firmware', 'image', 'storage')),
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    arch      TEXT NOT NULL CHECK (arch IN ('x64', 'arm64')),
    PRIMARY KEY (vm_id, component)
);

CREATE INDEX vm_artifact_version ON vm_artifact (component, name, version, arch);
