-- What a VM's guest is given and what it told us (issue 12, docs/vm.md).
--
-- vm_login: the login user cloud-init creates (passwordless sudo, password
-- login off) and the public keys it may log in with, one OpenSSH line per
-- row, in the order given. Written with the VM row, never changed.
-- vm_host_key: the guest's SSH host keys as its console printed them on
-- first boot, so that the user's first connection is already verified.
-- Replaced as a whole when the guest prints them again.
CREATE TABLE vm_login (
    vm_id TEXT PRIMARY KEY REFERENCES vm (id) ON DELETE CASCADE,
    login_user TEXT NOT NULL
);

CREATE TABLE vm_ssh_key (
    vm_id    TEXT NOT NULL REFERENCES vm (id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    key_line TEXT NOT NULL,
    PRIMARY KEY (vm_id, position)
);

CREATE TABLE vm_host_key (
    vm_id       TEXT NOT NULL REFERENCES vm (id) ON DELETE CASCADE,
    key_type    TEXT NOT NULL,
    key_line    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (vm_id, key_type)
);
