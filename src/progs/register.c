/*
 * The list of progs loamd runs. A new prog adds its extern here.
 */
#include "engine/engine.h"
#include "progs/progs.h"

extern const struct loam_prog loam_prog_cloudify;
extern const struct loam_prog loam_prog_vm;

void loam_progs_register_all(void)
{
	loam_engine_register(&loam_prog_cloudify);
	loam_engine_register(&loam_prog_vm);
}
