/*
 * System facts: the OS name from os-release, the KVM probe that the arch's
 * kvm_usable() judges, and the size of the VM storage directory.
 *
 * The module behind /dev/kvm is not linked from its misc device, so it is
 * read from /sys/module: a vendor module is named kvm_<vendor> (kvm_intel,
 * kvm_amd, kvm_pvm). When kvm_pvm is there it is the one serving /dev/kvm
 * on this project's machines, and it is a software hypervisor.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "host/learn.h"
#include "lib/cleanup.h"
#include "lib/fs.h"

#define GIB (1024ull * 1024 * 1024)

/* Unquotes an os-release value: "..." with \ escapes, '...', or bare. */
static char *os_release_value(const char *v, size_t n)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	char quote = n && (v[0] == '"' || v[0] == '\'') ? v[0] : 0;
	for (size_t i = quote ? 1 : 0; i < n; i++) {
		if (quote && v[i] == quote)
			break;
		if (quote == '"' && v[i] == '\\' && i + 1 < n)
			i++;
		out[o++] = v[i];
	}
	out[o] = '\0';
	return out;
}

static const char *find_key(const char *buf, const char *key, size_t *vlen)
{
	size_t n = strlen(key);
	for (const char *line = buf; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len > n && strncmp(line, key, n) == 0 && line[n] == '=') {
			*vlen = len - n - 1;
			return line + n + 1;
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

int learn_os_release_pretty(const char *buf, char **out, loam_err *err)
{
	size_t n = 0;
	const char *v = find_key(buf, "PRETTY_NAME", &n);
	if (!v)
		v = find_key(buf, "NAME", &n);
	if (!v)
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "os-release has neither PRETTY_NAME nor NAME");
	if (!(*out = os_release_value(v, n)))
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	return 0;
}

struct module_scan {
	bool pvm;
	char vendor[64];
};

static int note_module(const char *name, void *ctx)
{
	struct module_scan *s = ctx;
	if (strcmp(name, "kvm_pvm") == 0)
		s->pvm = true;
	if (!s->vendor[0] || strcmp(name, s->vendor) < 0)
		snprintf(s->vendor, sizeof(s->vendor), "%s", name);
	return 0;
}

static void find_kvm_module(const struct learn_root *root, char *module, size_t len)
{
	struct module_scan scan = {0};
	cleanup_err loam_err err = NULL;
	learn_each_dir(root, "sys/module", "kvm_", true, note_module, &scan, &err);
	cleanup_close int kvm = learn_openat(root, "sys/module/kvm", O_RDONLY | O_DIRECTORY);
	const char *name = scan.pvm	    ? "kvm_pvm"
			   : scan.vendor[0] ? scan.vendor
			   : kvm >= 0	    ? "kvm"
					    : "";
	snprintf(module, len, "%s", name);
}

void learn_kvm_probe(const struct learn_root *root, const char *cpu_flags,
		     struct loam_kvm_probe *probe, char *module, size_t module_len)
{
	find_kvm_module(root, module, module_len);
	*probe = (struct loam_kvm_probe){
	    .kvm_api_version = -1,
	    .cpu_flags = cpu_flags ? cpu_flags : "",
	    .kvm_module = module,
	};
	cleanup_close int fd = learn_openat(root, "dev/kvm", O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
		return;
	probe->dev_kvm_opens = true;
	probe->kvm_api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
	cleanup_close int vm = probe->kvm_api_version >= 0 ? ioctl(fd, KVM_CREATE_VM, 0) : -1;
	probe->kvm_vm_creates = vm >= 0;
}

int learn_storage(const char *dir, uint64_t *total_gib, uint64_t *avail_gib, loam_err *err)
{
	if (loam_mkdir_p(dir, 0755, err) < 0)
		return loam_err_wrap(err, "storage dir");
	struct statvfs vfs;
	if (statvfs(dir, &vfs) < 0)
		return loam_fail_errno(err, "statvfs %s", dir);
	*total_gib = (uint64_t)vfs.f_blocks * vfs.f_frsize / GIB;
	*avail_gib = (uint64_t)vfs.f_bavail * vfs.f_frsize / GIB;
	return 0;
}
