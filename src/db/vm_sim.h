/*
 * Simulated hosts that VMs can be placed on, for the VM prog's unit test
 * and the 200-VM benchmark, which stand a scripted agent in for loam-host
 * (tests/progs/scripted_agent.c): a host row as cloudify leaves it
 * (accepting, x64, learned shape, TCG allowed) and its installed image,
 * firmware, VMM and storage rows, without any host being cloudified.
 */
#ifndef LOAM_DB_VM_SIM_H
#define LOAM_DB_VM_SIM_H

#include "db/db.h"
#include "lib/err.h"

struct loam_vm_sim_host {
	const char *name;	/* also its id */
	const char *state_dir;	/* the agent's --state-dir; artifacts "installed" under it */
	const char *agent_path; /* the scripted agent */
	int cores;		/* SMT 2: a standard-2 VM takes 1 */
	int memory_gib;
};

int loam_vm_sim_host_add(struct loam_db *db, const struct loam_vm_sim_host *h, loam_err *err);

#endif
