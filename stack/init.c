/* SPDX-License-Identifier: MIT */
/*
 * Bringing the stack up and down, the family table, and sp_poll.
 *
 * The built-in families are referenced weakly (sock.h): a protocol is part of
 * the stack when its file is in stack/meson.build, and nothing here changes.
 */
#define _GNU_SOURCE    /* sendpath.h: struct mmsghdr */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sock.h"
#include "sp_env.h"
#include "virtio_pci.h"

#define SP_MAX_FAMILIES 8

struct family_slot {
	const struct sp_family *f;
	bool active;
};

static struct family_slot families[SP_MAX_FAMILIES];
static unsigned int nr_families;
static bool builtins_listed, stack_up, eal_ours;

static int family_add(const struct sp_family *f, bool active)
{
	unsigned int i;

	for (i = 0; i < nr_families; i++)
		if (families[i].f == f) {
			families[i].active |= active;
			return 0;
		}
	if (nr_families == SP_MAX_FAMILIES)
		return -ENOSPC;
	families[nr_families].f = f;
	families[nr_families].active = active;
	nr_families++;
	return 0;
}

/* Weak references are NULL for families not linked in. */
static void list_builtins(void)
{
	const struct sp_family *builtin[] = { &sp_udp_family, &sp_vsock_family };
	unsigned int i;

	if (builtins_listed)
		return;
	builtins_listed = true;
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (builtin[i])
			family_add(builtin[i], false);
}

int sp_family_register(const struct sp_family *f)
{
	if (!f || !f->create)
		return -EINVAL;
	list_builtins();
	return family_add(f, true);
}

int sp_family_lookup(int domain, int type, const struct sp_family **out)
{
	bool domain_known = false;
	unsigned int i;

	for (i = 0; i < nr_families; i++) {
		if (!families[i].active || families[i].f->domain != domain)
			continue;
		domain_known = true;
		if (families[i].f->type == type) {
			*out = families[i].f;
			return 0;
		}
	}
	return domain_known ? -ESOCKTNOSUPPORT : -EAFNOSUPPORT;
}

static void families_fini(void)
{
	unsigned int i = nr_families;

	while (i--) {
		if (!families[i].active)
			continue;
		if (families[i].f->fini)
			families[i].f->fini();
		families[i].active = false;
	}
}

int sp_init(const struct sp_init_cfg *cfg)
{
	static const struct sp_init_cfg none = { .udp_port = -1, .cpu = -1 };
	unsigned int i;
	int err;

	if (stack_up) {
		errno = EALREADY;
		return -1;
	}
	if (!cfg)
		cfg = &none;
	if (cfg->start_eal) {
		struct sp_env_cfg env = {
			.name = cfg->name ? cfg->name : "sendpath",
			.cpu = cfg->cpu,
			/* virtio-user and vhost-user peers map our memory by fd */
			.shares_memory = true,
			.mem_mb = cfg->mem_mb,
		};

		for (i = 0; i < SP_ENV_MAX_VDEVS && i < 8 && cfg->vdevs[i]; i++)
			env.vdevs[i] = cfg->vdevs[i];
		if (sp_env_init(&env) < 0) {
			errno = ENODEV;
			return -1;
		}
		eal_ours = true;
	}
	/* a vsock device named by a PCI address that is not there: the driver says why, once */
	if (sp_vsock_pci_explain_absent(cfg->vsock_dev)) {
		if (eal_ours)
			sp_env_fini();
		eal_ours = false;
		errno = ENXIO;
		return -1;
	}
	list_builtins();
	for (i = 0; i < nr_families; i++) {
		const struct sp_family *f = families[i].f;

		if (families[i].active)
			continue;
		err = f->init ? f->init(cfg) : 0;
		if (err == -ENODEV)
			continue;       /* not configured: the family stays out */
		if (err) {
			fprintf(stderr, "sendpath: %s did not start: %s\n", f->name, strerror(-err));
			families_fini();
			if (eal_ours)
				sp_env_fini();
			eal_ours = false;
			errno = -err;
			return -1;
		}
		families[i].active = true;
	}
	stack_up = true;
	return 0;
}

void sp_fini(void)
{
	sp_sock_close_all();
	families_fini();
	if (eal_ours)
		sp_env_fini();
	eal_ours = false;
	stack_up = false;
}

int sp_progress(void)
{
	unsigned int i;
	int work = 0;

	for (i = 0; i < nr_families; i++)
		if (families[i].active && families[i].f->progress)
			work += families[i].f->progress();
	return work;
}

int sp_poll(void)
{
	return sp_progress();
}
