/*
 * VM ids, user names, paths and the spec (vm.json): everything a VM verb
 * validates before it touches the host, so bad input changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "lib/topology.h"
#include "lib/valid.h"
#include "host/vm.h"
#include "proto/agent.h"

#define VM_USER_PREFIX	  LOAM_LAYOUT_VM_USER_PREFIX
#define VM_MAX_VCPUS	  4096
#define VM_MAX_MEMORY_MIB (16u << 20)
#define VM_MAX_DISK_GIB	  65536
#define VM_SEED_MAX	  262144u

int vm_user_name(const char *id, char out[VM_USER_MAX + 1], loam_err *err)
{
	if (loam_valid_id("VM id", id, err) < 0)
		return -1;
	size_t room = VM_USER_MAX - strlen(VM_USER_PREFIX);
	if (strlen(id) <= room) {
		snprintf(out, VM_USER_MAX + 1, VM_USER_PREFIX "%s", id);
		return 0;
	}
	char hex[LOAM_SHA256_HEX_LEN + 1];
	if (loam_sha256_buf(id, strlen(id), hex, err) < 0)
		return -1;
	snprintf(out, VM_USER_MAX + 1, VM_USER_PREFIX "%.*s%.8s", (int)(room - 8), id, hex);
	return 0;
}

int vm_path_join(char out[VM_PATH_MAX], const char *dir, const char *file, loam_err *err)
{
	if ((size_t)snprintf(out, VM_PATH_MAX, "%s/%s", dir, file) >= VM_PATH_MAX)
		return loam_fail(err, LOAM_E_INVALID, "path %s/%s is too long", dir, file);
	return 0;
}

int vm_paths_init(const char *state_dir, const char *id, struct vm_paths *p, loam_err *err)
{
	memset(p, 0, sizeof(*p));
	if (loam_valid_abs_path("--state-dir", state_dir, err) < 0 ||
	    vm_user_name(id, p->user, err) < 0)
		return -1;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (vm_path_join(p->vms, state_dir, LOAM_LAYOUT_VMS, err) < 0 ||
	    vm_path_join(p->dir, p->vms, id, err) < 0 ||
	    vm_path_join(p->spec, p->dir, LOAM_LAYOUT_VM_SPEC, err) < 0 ||
	    vm_path_join(p->disk, p->dir, LOAM_LAYOUT_VM_DISK, err) < 0 ||
	    vm_path_join(p->vars, p->dir, LOAM_LAYOUT_VM_VARS, err) < 0 ||
	    vm_path_join(p->seed, p->dir, LOAM_LAYOUT_VM_SEED, err) < 0 ||
	    vm_path_join(p->serial, p->dir, LOAM_LAYOUT_VM_SERIAL, err) < 0 ||
	    vm_path_join(p->console, p->dir, LOAM_LAYOUT_VM_CONSOLE, err) < 0 ||
	    vm_path_join(p->qmp, p->dir, LOAM_LAYOUT_VM_QMP, err) < 0 ||
	    vm_path_join(p->run, p->dir, LOAM_LAYOUT_VM_RUN, err) < 0 ||
	    vm_path_join(p->pid, p->run, LOAM_LAYOUT_VM_PIDFILE, err) < 0 ||
	    vm_path_join(p->disk_sock, p->run, LOAM_LAYOUT_VM_DISK_SOCK, err) < 0 ||
	    vm_path_join(p->ref_pid, p->dir, LOAM_LAYOUT_VM_REF_PIDFILE, err) < 0)
		return -1;
	if (strlen(p->qmp) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strlen(p->disk_sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return loam_fail(err, LOAM_E_INVALID,
				 "--state-dir %s is too long: the socket path %s must stay "
				 "under 108 bytes",
				 state_dir, p->disk_sock);
	return 0;
}

static int want_file(const char *what, const char *path, loam_err *err)
{
	if (loam_valid_abs_path(what, path, err) < 0)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return loam_fail(err, LOAM_E_INVALID, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return loam_fail(err, LOAM_E_INVALID, "%s %s is not a regular file", what, path);
	return 0;
}

static int want_dir(const char *what, const char *path, loam_err *err)
{
	if (loam_valid_abs_path(what, path, err) < 0)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return loam_fail(err, LOAM_E_INVALID, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return loam_fail(err, LOAM_E_INVALID, "%s %s is not a directory", what, path);
	return 0;
}

static int get_uint(const json_t *j, const char *key, unsigned min, unsigned max, unsigned *out,
		    bool required, loam_err *err)
{
	int64_t v = -1;
	if ((required ? loam_json_get_int(j, key, &v, err) : loam_json_opt_int(j, key, &v, err)) <
	    0)
		return -1;
	if (!required && v == -1)
		return 0;
	if (v < min || v > max)
		return loam_fail(err, LOAM_E_INVALID, "field '%s' must be %u..%u", key, min, max);
	*out = (unsigned)v;
	return 0;
}

static int parse_topology(const json_t *j, struct vm_spec *s, loam_err *err)
{
	const json_t *t = json_object_get(j, LOAM_KEY_TOPOLOGY);
	if (!t || json_is_null(t)) { /* no host shape sent: one package of plain cores */
		s->topo = (struct loam_topology){1, 1, s->vcpus, 1};
		return 0;
	}
	if (!json_is_object(t))
		return loam_fail(err, LOAM_E_INVALID, "field 'topology' must be an object");
	if (get_uint(t, LOAM_KEY_PACKAGES, 1, VM_MAX_VCPUS, &s->topo.packages, true, err) < 0 ||
	    get_uint(t, LOAM_KEY_DIES, 1, VM_MAX_VCPUS, &s->topo.dies, true, err) < 0 ||
	    get_uint(t, LOAM_KEY_CORES, 1, VM_MAX_VCPUS, &s->topo.cores, true, err) < 0 ||
	    get_uint(t, LOAM_KEY_THREADS, 1, VM_MAX_VCPUS, &s->topo.threads, true, err) < 0)
		return loam_err_wrap(err, "topology");
	if (!loam_topology_valid(&s->topo, s->vcpus))
		return loam_fail(
		    err, LOAM_E_INVALID, "topology %ux%ux%ux%u does not multiply to %u vCPUs",
		    s->topo.packages, s->topo.dies, s->topo.cores, s->topo.threads, s->vcpus);
	return 0;
}

static int seed_text(const json_t *seed, const char *key, bool required, const char **out,
		     loam_err *err)
{
	if ((required ? loam_json_get_str(seed, key, out, err)
		      : loam_json_opt_str(seed, key, out, err)) < 0)
		return loam_err_wrap(err, "seed");
	if (*out && strlen(*out) > VM_SEED_MAX)
		return loam_fail(err, LOAM_E_INVALID, "seed: '%s' is over %u bytes", key,
				 VM_SEED_MAX);
	return 0;
}

static int parse_seed(const json_t *j, struct vm_spec *s, loam_err *err)
{
	const json_t *seed = json_object_get(j, LOAM_KEY_SEED);
	if (!seed || json_is_null(seed))
		return 0;
	if (!json_is_object(seed))
		return loam_fail(err, LOAM_E_INVALID, "field 'seed' must be an object or null");
	s->has_seed = true;
	return seed_text(seed, LOAM_KEY_META_DATA, true, &s->meta_data, err) < 0 ||
		       seed_text(seed, LOAM_KEY_USER_DATA, true, &s->user_data, err) < 0 ||
		       seed_text(seed, LOAM_KEY_NETWORK_CONFIG, false, &s->network_config, err) < 0
		   ? -1
		   : 0;
}

static int parse_direct_kernel(const json_t *j, struct vm_spec *s, loam_err *err)
{
	const json_t *dk = json_object_get(j, LOAM_KEY_DIRECT_KERNEL);
	if (!dk || json_is_null(dk))
		return 0;
	if (!json_is_object(dk))
		return loam_fail(err, LOAM_E_INVALID,
				 "field 'direct_kernel' must be an object or null");
	s->kernel_firmware = true;
	if (loam_json_get_str(dk, LOAM_KEY_KERNEL, &s->kernel, err) < 0 ||
	    loam_json_opt_bool(dk, LOAM_KEY_FIRMWARE, &s->kernel_firmware, err) < 0 ||
	    loam_json_opt_str(dk, LOAM_KEY_INITRD, &s->initrd, err) < 0 ||
	    loam_json_opt_str(dk, LOAM_KEY_CMDLINE, &s->cmdline, err) < 0)
		return loam_err_wrap(err, "direct_kernel");
	if (want_file("direct_kernel.kernel", s->kernel, err) < 0 ||
	    (s->initrd && want_file("direct_kernel.initrd", s->initrd, err) < 0))
		return -1;
	if (s->cmdline && (strlen(s->cmdline) > 2048 || loam_has_unsafe_chars(s->cmdline)))
		return loam_fail(err, LOAM_E_INVALID,
				 "direct_kernel.cmdline must be at most 2048 characters without "
				 "control or shell metacharacters");
	return 0;
}

static int parse_arch(const json_t *j, struct vm_spec *s, loam_err *err)
{
	const char *arch = NULL;
	if (loam_json_get_str(j, LOAM_KEY_ARCH, &arch, err) < 0)
		return -1;
	s->arch = loam_arch_by_name(arch);
	if (!s->arch)
		return loam_fail(err, LOAM_E_INVALID,
				 "arch '%.32s' is not a canonical arch; use "
				 "one of: %s",
				 loam_has_unsafe_chars(arch) ? "?" : arch,
				 loam_arch_supported_list());
	return 0;
}

/* The pinned bundles must be there, with the binaries the VM runs. */
static int parse_bundles(const struct vm_spec *s, loam_err *err)
{
	char binary[VM_PATH_MAX], data[VM_PATH_MAX], modules[VM_PATH_MAX], img[VM_PATH_MAX];
	if (s->vmm_dir && (want_dir("vmm_dir", s->vmm_dir, err) < 0 ||
			   vm_spec_vmm_paths(s, binary, data, modules, err) < 0 ||
			   want_file("the pinned VMM", binary, err) < 0))
		return -1;
	if (s->storage_dir &&
	    (want_dir("storage_dir", s->storage_dir, err) < 0 ||
	     vm_spec_qemu_img(s, img, err) < 0 || want_file("the pinned qemu-img", img, err) < 0 ||
	     vm_spec_storage_daemon(s, img, err) < 0 ||
	     want_file("the pinned qemu-storage-daemon", img, err) < 0))
		return -1;
	return 0;
}

static int parse_files(const json_t *j, struct vm_spec *s, loam_err *err)
{
	s->image_format = "raw";
	if (loam_json_get_str(j, LOAM_KEY_IMAGE, &s->image, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_IMAGE_FORMAT, &s->image_format, err) < 0 ||
	    loam_json_get_str(j, LOAM_KEY_FW_CODE, &s->fw_code, err) < 0 ||
	    loam_json_get_str(j, LOAM_KEY_FW_VARS, &s->fw_vars, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_QEMU, &s->qemu, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_HUGEPAGE_DIR, &s->hugepage_dir, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_VMM_DIR, &s->vmm_dir, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_STORAGE_DIR, &s->storage_dir, err) < 0)
		return -1;
	if (strcmp(s->image_format, "raw") != 0 && strcmp(s->image_format, "qcow2") != 0)
		return loam_fail(err, LOAM_E_INVALID, "image_format must be raw or qcow2");
	if (want_file("image", s->image, err) < 0 || want_file("fw_code", s->fw_code, err) < 0 ||
	    want_file("fw_vars", s->fw_vars, err) < 0)
		return -1;
	if (s->qemu && loam_valid_abs_path("qemu", s->qemu, err) < 0)
		return -1;
	if (s->hugepage_dir && loam_valid_abs_path("hugepage_dir", s->hugepage_dir, err) < 0)
		return -1;
	return parse_bundles(s, err);
}

static int parse_fields(const json_t *j, struct vm_spec *s, loam_err *err)
{
	if (!json_is_object(j))
		return loam_fail(err, LOAM_E_INVALID, "the VM spec must be a JSON object");
	if (loam_json_get_str(j, LOAM_KEY_ID, &s->id, err) < 0 ||
	    loam_valid_id("VM id", s->id, err) < 0)
		return -1;
	if (loam_json_get_str(j, LOAM_KEY_NAME, &s->name, err) < 0 ||
	    loam_valid_name("VM name", s->name, err) < 0)
		return -1;
	if (parse_arch(j, s, err) < 0 ||
	    get_uint(j, LOAM_KEY_VCPUS, 1, VM_MAX_VCPUS, &s->vcpus, true, err) < 0 ||
	    get_uint(j, LOAM_KEY_MEMORY_MIB, 64, VM_MAX_MEMORY_MIB, &s->memory_mib, true, err) <
		0 ||
	    get_uint(j, LOAM_KEY_DISK_GIB, 1, VM_MAX_DISK_GIB, &s->disk_gib, false, err) < 0)
		return -1;
	s->hugepages = s->kvm = false;
	if (loam_json_opt_bool(j, LOAM_KEY_HUGEPAGES, &s->hugepages, err) < 0 ||
	    loam_json_get_bool(j, LOAM_KEY_KVM, &s->kvm, err) < 0)
		return -1;
	if (s->hugepages && s->memory_mib % 1024 != 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "memory_mib must be whole GiB when backed by 1 GiB hugepages");
	return parse_topology(j, s, err) < 0 || parse_files(j, s, err) < 0 ||
		       parse_seed(j, s, err) < 0 || parse_direct_kernel(j, s, err) < 0
		   ? -1
		   : 0;
}

int vm_spec_parse(json_t *j, struct vm_spec *s, loam_err *err)
{
	memset(s, 0, sizeof(*s));
	s->json = json_incref(j);
	if (parse_fields(j, s, err) < 0) {
		vm_spec_free(s);
		return loam_err_wrap(err, "VM spec");
	}
	return 0;
}

void vm_spec_free(struct vm_spec *s)
{
	json_decref(s->json);
	s->json = NULL;
}

int vm_spec_load(const struct vm_paths *p, struct vm_spec *s, loam_err *err)
{
	cleanup_close int fd = open(p->spec, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return loam_fail(err, LOAM_E_NOTFOUND, "VM %s is not prepared (no %s); run vm-prep",
				 p->id, p->spec);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", p->spec);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s is not a regular file owned by root; refusing to use it "
				 "(run vm-prep again)",
				 p->spec);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (loam_read_file(p->spec, 1 << 20, &buf, &len, err) < 0)
		return -1;
	cleanup_json json_t *j = loam_json_parse(buf, len, p->spec, err);
	if (!j || vm_spec_parse(j, s, err) < 0)
		return -1;
	if (strcmp(s->id, p->id) != 0) {
		vm_spec_free(s);
		return loam_fail(err, LOAM_E_CONFLICT, "%s holds VM id %s, not %s", p->spec, s->id,
				 p->id);
	}
	return 0;
}

int vm_spec_vmm_paths(const struct vm_spec *s, char binary[VM_PATH_MAX], char data_dir[VM_PATH_MAX],
		      char module_dir[VM_PATH_MAX], loam_err *err)
{
	data_dir[0] = module_dir[0] = '\0';
	if (!s->vmm_dir) {
		snprintf(binary, VM_PATH_MAX, "%s", s->qemu ? s->qemu : s->arch->qemu_binary);
		return 0;
	}
	char bin[VM_PATH_MAX];
	return vm_path_join(bin, s->vmm_dir, "bin", err) < 0 ||
		       vm_path_join(binary, bin, s->arch->qemu_binary, err) < 0 ||
		       vm_path_join(data_dir, s->vmm_dir, "share/qemu", err) < 0 ||
		       vm_path_join(module_dir, s->vmm_dir, "lib/qemu", err) < 0
		   ? -1
		   : 0;
}

int vm_spec_qemu_img(const struct vm_spec *s, char out[VM_PATH_MAX], loam_err *err)
{
	if (!s->storage_dir) {
		snprintf(out, VM_PATH_MAX, "qemu-img");
		return 0;
	}
	return vm_path_join(out, s->storage_dir, "bin/qemu-img", err);
}

int vm_spec_storage_daemon(const struct vm_spec *s, char out[VM_PATH_MAX], loam_err *err)
{
	char found[PATH_MAX];
	if (s->storage_dir)
		return vm_path_join(out, s->storage_dir, "bin/qemu-storage-daemon", err);
	if (vm_tool("qemu-storage-daemon", found, err) < 0)
		return -1;
	if (strlen(found) >= VM_PATH_MAX)
		return loam_fail(err, LOAM_E_INVALID, "path %s is too long", found);
	snprintf(out, VM_PATH_MAX, "%s", found);
	return 0;
}

bool vm_spec_uses_firmware(const struct vm_spec *s)
{
	return !s->kernel || s->kernel_firmware;
}
