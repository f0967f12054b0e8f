#include <errno.h>
#include <string.h>

#include "core-model.h"
#include "test-runner.h"

void
model_init(struct model *m, uint64_t budget, uint32_t capacity,
	uint32_t first_generation)
{
	assert(capacity <= MODEL_CAPACITY);
	memset(m, 0, sizeof(*m));
	m->budget = budget;
	m->capacity = capacity;
	m->first_generation = first_generation;
	m->stats.budget = budget;
}

int
model_add_realm(struct model *m, uint64_t quota)
{
	struct model_realm *r = &m->realms[m->nrealms];

	assert(m->nrealms < MODEL_REALMS);
	memset(r, 0, sizeof(*r));
	r->quota = quota ? quota : UINT64_MAX;
	for (uint32_t i = 0; i < MODEL_CAPACITY; i++) {
		r->gens[i] = m->first_generation;
		r->slot_entry[i] = -1;
	}
	m->stats.realms++;
	return m->nrealms++;
}

static uint64_t
usage(const struct model_realm *r)
{
	return r->indexed_bytes + r->held_bytes;
}

static uint64_t
total(const struct model *m)
{
	return m->stats.indexed_bytes + m->stats.held_only_bytes;
}

static int
lookup(const struct model *m, int realm, const char *name)
{
	for (int i = 0; i < MODEL_ENTRIES; i++) {
		const struct model_entry *e = &m->entries[i];

		if (e->used && e->indexed && e->realm == realm &&
				e->name[0] != '\0' && strcmp(e->name, name) == 0) {
			return i;
		}
	}
	return -1;
}

static void
drop(struct model *m, int entry)
{
	memset(&m->entries[entry], 0, sizeof(m->entries[entry]));
}

/* The entry leaves the index: generation up, slot freed or retired. */
static void
leave(struct model *m, int entry, enum pxc_leave_reason reason)
{
	struct model_entry *e = &m->entries[entry];
	struct model_realm *r = &m->realms[e->realm];

	r->n--;
	r->slot_entry[e->slot] = -1;
	if (++r->gens[e->slot] == PXC_GENERATION_RETIRED) {
		r->retired++;
		m->stats.retired_slots++;
	} else {
		r->free_stack[r->nfree++] = e->slot;
	}
	r->indexed_bytes -= e->cost;
	m->stats.entries--;
	m->stats.indexed_bytes -= e->cost;
	if (reason == PXC_LEAVE_EVICTED) {
		m->stats.evictions++;
	}
	e->indexed = false;
	if (e->holds == 0) {
		drop(m, entry);
		return;
	}
	r->held_entries++;
	r->held_bytes += e->cost;
	m->stats.held_only_entries++;
	m->stats.held_only_bytes += e->cost;
}

static uint32_t
next_slot(const struct model_realm *r, uint32_t slot)
{
	return (slot + 1) % r->slots_used;
}

static bool
evict_one(struct model *m, int realm)
{
	struct model_realm *r = &m->realms[realm];
	uint32_t slot = r->hand;

	if (r->n == 0) {
		return false;
	}
	for (uint32_t step = 0; step < 2 * r->slots_used;
			step++, slot = next_slot(r, slot)) {
		int entry = r->slot_entry[slot];
		struct model_entry *e;

		if (entry < 0 || m->entries[entry].holds > 0) {
			continue;
		}
		e = &m->entries[entry];
		if (!e->referenced) {
			r->hand = next_slot(r, slot);
			leave(m, entry, PXC_LEAVE_EVICTED);
			return true;
		}
		e->referenced = false;
	}
	return false;
}

static bool
slot_ready(const struct model *m, const struct model_realm *r)
{
	return r->nfree > 0 || r->slots_used < m->capacity;
}

static bool
evict_for_budget(struct model *m, uint64_t extra)
{
	for (int i = 0; i < m->nrealms; i++) {
		m->realms[i].exhausted = false;
	}
	while (total(m) + extra > m->budget) {
		int best = -1;

		for (int i = 0; i < m->nrealms; i++) {
			struct model_realm *r = &m->realms[i];

			if (r->n == 0 || r->exhausted) {
				continue;
			}
			if (best < 0 || usage(r) > usage(&m->realms[best])) {
				best = i;
			}
		}
		if (best < 0) {
			return false;
		}
		if (!evict_one(m, best)) {
			m->realms[best].exhausted = true;
		}
	}
	return true;
}

/* Bytes and slots that evicting every unheld entry (but skip) frees. */
static void
evictable(const struct model *m, int realm, int skip, uint64_t *bytes,
	uint32_t *slots)
{
	*bytes = 0;
	*slots = 0;
	for (int i = 0; i < MODEL_ENTRIES; i++) {
		const struct model_entry *e = &m->entries[i];

		if (!e->used || !e->indexed || i == skip || e->holds > 0 ||
				(realm >= 0 && e->realm != realm)) {
			continue;
		}
		*bytes += e->cost;
		if (m->realms[e->realm].gens[e->slot] + 1 !=
				PXC_GENERATION_RETIRED) {
			(*slots)++;
		}
	}
}

static int
check_room(struct model *m, int realm, int old, uint64_t cost)
{
	struct model_realm *r = &m->realms[realm];
	uint64_t freed_by_old = 0, bytes;
	uint32_t slots;
	bool slot = r->nfree > 0 || r->slots_used < m->capacity;

	if (old >= 0) {
		struct model_entry *o = &m->entries[old];

		freed_by_old = o->holds == 0 ? o->cost : 0;
		slot = slot || r->gens[o->slot] + 1 != PXC_GENERATION_RETIRED;
	}
	if (usage(r) - freed_by_old + cost > r->quota || !slot) {
		evictable(m, realm, old, &bytes, &slots);
		if (usage(r) - freed_by_old + cost - bytes > r->quota ||
				(!slot && slots == 0)) {
			return -EDQUOT;
		}
	}
	if (total(m) - freed_by_old + cost > m->budget) {
		evictable(m, -1, old, &bytes, &slots);
		if (total(m) - freed_by_old + cost - bytes > m->budget) {
			return -ENOSPC;
		}
	}
	return 0;
}

static int
free_cell(const struct model *m)
{
	for (int i = 0; i < MODEL_ENTRIES; i++) {
		if (!m->entries[i].used) {
			return i;
		}
	}
	assert(!"model full");
	return -1;
}

int
model_insert(struct model *m, int realm, const char *name, uint64_t id,
	uint64_t cost, uint64_t owner, uint32_t flags, int *entry_out)
{
	struct model_realm *r = &m->realms[realm];
	int old = name[0] ? lookup(m, realm, name) : -1;
	struct model_entry *e;
	int ret, cell;

	if (old >= 0 && !(flags & PXC_INSERT_REPLACE) &&
			!((flags & PXC_INSERT_REPLACE_OWN) &&
				m->entries[old].owner == owner)) {
		return -EEXIST;
	}
	if (cost > r->quota || cost > m->budget) {
		return -EFBIG;
	}
	ret = check_room(m, realm, old, cost);
	if (ret < 0) {
		return ret;
	}

	if (old >= 0) {
		leave(m, old, PXC_LEAVE_REPLACED);
		m->stats.replacements++;
	}
	while (usage(r) + cost > r->quota || !slot_ready(m, r)) {
		bool evicted = evict_one(m, realm);

		assert(evicted);
	}
	evict_for_budget(m, cost);

	cell = free_cell(m);
	e = &m->entries[cell];
	e->used = true;
	e->indexed = true;
	e->realm = realm;
	strcpy(e->name, name);
	e->cost = cost;
	e->owner = owner;
	e->id = id;
	e->holds = (flags & PXC_INSERT_HOLD) ? 1 : 0;
	e->slot = r->nfree > 0 ? r->free_stack[--r->nfree] : r->slots_used++;
	e->generation = r->gens[e->slot];
	/* Right behind the hand it starts unreferenced; anywhere else, not. */
	e->referenced = e->slot != (r->hand + r->slots_used - 1) % r->slots_used;
	r->slot_entry[e->slot] = cell;
	r->n++;
	r->indexed_bytes += cost;
	m->stats.entries++;
	m->stats.indexed_bytes += cost;
	m->stats.inserts++;
	*entry_out = cell;
	return 0;
}

static void
use(struct model *m, int entry, bool hold)
{
	m->entries[entry].referenced = true;
	if (hold) {
		m->entries[entry].holds++;
	}
	m->stats.hits++;
}

int
model_find(struct model *m, int realm, const char *name, bool hold)
{
	int entry = lookup(m, realm, name);

	if (entry < 0) {
		m->stats.misses++;
		return -1;
	}
	use(m, entry, hold);
	return entry;
}

static int
key_entry(const struct model *m, const struct pxc_key *key, uint64_t instance)
{
	uint32_t realm = key->slot / m->capacity;
	uint32_t slot = key->slot % m->capacity;
	int entry;

	if (key->instance != instance || realm >= (uint32_t)m->nrealms) {
		return -1;
	}
	entry = m->realms[realm].slot_entry[slot];
	if (entry < 0 || m->entries[entry].generation != key->generation ||
			m->entries[entry].tag != key->tag) {
		return -1;
	}
	return entry;
}

int
model_find_key(struct model *m, const struct pxc_key *key, uint64_t instance,
	bool hold)
{
	int entry = key_entry(m, key, instance);

	if (entry < 0) {
		m->stats.misses++;
		return -1;
	}
	use(m, entry, hold);
	return entry;
}

bool
model_remove(struct model *m, int realm, const char *name)
{
	int entry = lookup(m, realm, name);

	if (entry < 0) {
		return false;
	}
	leave(m, entry, PXC_LEAVE_REMOVED);
	m->stats.removals++;
	return true;
}

bool
model_remove_key(struct model *m, const struct pxc_key *key,
	uint64_t instance)
{
	int entry = key_entry(m, key, instance);

	if (entry < 0) {
		return false;
	}
	leave(m, entry, PXC_LEAVE_REMOVED);
	m->stats.removals++;
	return true;
}

void
model_release(struct model *m, int entry)
{
	struct model_entry *e = &m->entries[entry];

	assert(e->used && e->holds > 0);
	if (--e->holds > 0 || e->indexed) {
		return;
	}
	m->realms[e->realm].held_entries--;
	m->realms[e->realm].held_bytes -= e->cost;
	m->stats.held_only_entries--;
	m->stats.held_only_bytes -= e->cost;
	drop(m, entry);
}

void
model_clear(struct model *m)
{
	for (int i = 0; i < m->nrealms; i++) {
		struct model_realm *r = &m->realms[i];

		for (uint32_t slot = 0; slot < r->slots_used; slot++) {
			if (r->slot_entry[slot] >= 0) {
				leave(m, r->slot_entry[slot],
					PXC_LEAVE_CLEARED);
			}
		}
	}
}

void
model_set_budget(struct model *m, uint64_t budget)
{
	m->budget = budget;
	m->stats.budget = budget;
	evict_for_budget(m, 0);
}

void
model_set_quota(struct model *m, int realm, uint64_t quota)
{
	struct model_realm *r = &m->realms[realm];

	r->quota = quota ? quota : UINT64_MAX;
	while (usage(r) > r->quota && evict_one(m, realm)) {
	}
}

struct pxc_key
model_key(const struct model *m, int entry, uint64_t instance)
{
	const struct model_entry *e = &m->entries[entry];

	return (struct pxc_key){
		.instance = instance,
		.slot = (uint32_t)e->realm * m->capacity + e->slot,
		.generation = e->generation,
		.tag = e->tag,
	};
}
