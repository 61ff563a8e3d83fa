/* SPDX-License-Identifier: MIT */
/*
 * The environment every sendpath program starts from: it builds the DPDK EAL
 * arguments (hugepages or --no-huge, a private file prefix, --single-file-segments
 * where memory is handed to a vhost-user peer, the lcore pinned through libnuma),
 * says in one line what it chose, and turns an EAL failure into a clear message
 * instead of an abort.
 */
#ifndef SP_ENV_H
#define SP_ENV_H

#include <stdbool.h>
#include <stdio.h>

#define SP_ENV_MAX_VDEVS 8

struct sp_env_cfg {
	const char *name;       /* role of the program, part of the file prefix ("bench", "vhost") */
	int cpu;                /* CPU for the main lcore; -1 takes $SP_CPU, else CPU 0 */
	bool shares_memory;     /* memory goes to a vhost-user backend: needs fd-backed segments */
	unsigned int mem_mb;    /* memory to reserve; 0 means 256 */
	const char *vdevs[SP_ENV_MAX_VDEVS]; /* --vdev arguments, unused slots NULL */
	bool pci;               /* scan the PCI bus (vfio-pci devices); off by default */
	bool quiet;             /* no "env:" line on stderr */
	int extra_argc;         /* further EAL arguments from the user */
	char **extra_argv;
};

struct sp_env_info {
	bool hugepages;         /* false: --no-huge, 4 KiB fd-backed pages */
	char why_no_huge[128];  /* why there are no hugepages, when there are none */
	char prefix[64];        /* DPDK --file-prefix, unique per process */
	int cpu;
	int numa_node;
	unsigned int mem_mb;
};

/*
 * Starts EAL and checks that every vdev of cfg was taken by a driver.
 * Returns 0, or -1 after exactly one line on stderr saying why (bad CPU or
 * $SP_CPU, an EAL argument EAL refuses, a device that did not probe).
 * EAL's own output during the start is captured: replayed on success, boiled
 * down to its cause on failure (all of it too when $SP_LOG_LEVEL is set).
 * With --no-huge, DPDK 22.11 backs memory with one memfd mapped MAP_SHARED, so
 * vhost-user backends can map it: no hugepages are needed for shares_memory.
 */
int sp_env_init(const struct sp_env_cfg *cfg);

/* What sp_env_init chose; valid after it returned 0. */
const struct sp_env_info *sp_env_info(void);

/* One line describing the choice: "hugepages 2MiB, prefix sp-bench-123, cpu 1 (node 0)". */
void sp_env_describe(FILE *f);

/* Releases EAL and the runtime dir of this process (/var/run/dpdk/PREFIX). */
void sp_env_fini(void);

/*
 * Directory for vhost-user sockets, created mode 0700 ($SP_RUN_DIR, else
 * /run/sendpath for root, /tmp/sendpath-UID otherwise); an existing one is
 * tightened to 0700, one owned by another user refused. Returns the path;
 * fills buf with dir/name when name != NULL. NULL on error.
 */
const char *sp_env_run_path(const char *name, char *buf, size_t len);

/* Removes a socket file left by a crashed run: unlinked only if nobody accepts on it. */
int sp_env_clear_stale_socket(const char *path);

#endif
