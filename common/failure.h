/*
 * The protocol's failure reasons (pixcache_batch_v1.failure) and the
 * errnos the libraries speak: one table for both directions, so the server
 * and the client cannot drift apart. tests/failure-check.py holds it
 * against the XML.
 */

#ifndef PIXCACHE_FAILURE_H
#define PIXCACHE_FAILURE_H

#include <stddef.h>
#include <stdint.h>

/* A row of the table: a failure reason, its name in the XML, its errno. */
struct pxc_failure_row {
	uint32_t failure;
	const char *name;
	int err;			/* positive */
};

/*
 * The table: every failure of the XML once, in the order of its values,
 * then errnos the server meets that mean one of them (aliases: their
 * failure's first row holds its errno). Reasons that share an errno are
 * told apart by the caller only through the protocol.
 */
extern const struct pxc_failure_row pxc_failure_table[];
extern const size_t pxc_failure_table_size;

/** The negative errno of a failure reason; -ENOMEM for one not known. */
int pxc_failure_errno(uint32_t failure);

/**
 * The failure reason of a negative errno, from the core or the system:
 * the first row with that errno; memory for an errno of no row.
 */
uint32_t pxc_failure_of(int err);

#endif
