-- VM networking (issue 13, docs/network.md).
--
-- host: each host has an IPv4 pool (its network and broadcast addresses
-- are never handed out: every VM's namespace uses the network address as
-- its DHCP context), an IPv6 prefix (NULL: a ULA /48 derived from the
-- host's id; its /64 number 0 is the host's own, VM n gets /64 number n)
-- and egress (off: no guest traffic leaves the host). ipv4_total is how
-- many VMs the pool and the prefix hold together; ipv4_used counts the
-- VMs placed on the host, taken and given back by the allocator in the
-- same guarded UPDATE as cores and memory, so an exhausted pool is a
-- placement constraint like any other.
ALTER TABLE host ADD COLUMN ipv4_pool TEXT NOT NULL DEFAULT '10.200.0.0/16';
ALTER TABLE host ADD COLUMN ipv6_prefix TEXT;
ALTER TABLE host ADD COLUMN egress INTEGER NOT NULL DEFAULT 0;
ALTER TABLE host ADD COLUMN ipv4_total INTEGER NOT NULL DEFAULT 65534 CHECK (ipv4_total >= 0);
ALTER TABLE host ADD COLUMN ipv4_used INTEGER NOT NULL DEFAULT 0 CHECK (ipv4_used >= 0);

UPDATE host SET ipv4_used = (SELECT count(*) FROM vm WHERE vm.host_id = host.id);

-- The addresses of a placed VM: slot n of its host's pool and prefix,
-- assigned when it is prepared, deleted in the transaction that releases
-- it from its host (so exactly once).
CREATE TABLE vm_net (
    vm_id       TEXT PRIMARY KEY REFERENCES vm (id) ON DELETE CASCADE,
    host_id     TEXT NOT NULL REFERENCES host (id),
    slot        INTEGER NOT NULL CHECK (slot >= 1),
    mac         TEXT NOT NULL,
    ipv4        TEXT NOT NULL,
    ipv6        TEXT NOT NULL,
    ipv6_prefix TEXT NOT NULL,
    UNIQUE (host_id, slot)
);

-- Inbound ports a VM's user opened (22/tcp is always open). source ''
-- is any address outside the host's VMs; a CIDR lets that prefix in,
-- other VMs included.
CREATE TABLE vm_port (
    vm_id  TEXT NOT NULL REFERENCES vm (id) ON DELETE CASCADE,
    port   INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    proto  TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (vm_id, port, proto, source)
);
