/*
 * The protocol's failure reasons (pixcache_batch_v1.failure) and the
 * errnos the libraries speak: one table for both directions, so the server
 * and the client cannot drift apart. tests/failure-check.py holds it
 * against the XML.
 */

#ifndef PIXCACHE_FAILURE_H
#define PIXCACHE_FAILURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A row of the table: a failure reason, its name in the XML, its errno,
 * and whether the server finds the reason in an errno (of the core or the
 * system). Reasons the server decides itself (busy, uploads, leases,
 * fd_limit, timeout, no_device) are never read from an errno: an EBUSY
 * from a seal is no other client's upload, an ENODEV from an ioctl no
 * missing device.
 */
struct pxc_failure_row {
	uint32_t failure;
	const char *name;
	int err;			/* positive */
	bool from_errno;
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
 * the first row read from errnos with that errno; memory for any other.
 */
uint32_t pxc_failure_of(int err);

#endif
