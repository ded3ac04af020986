/*
 * test_tenants.c - tenants are separate agents: two agents on one node,
 * each admitting only its tenant (one by uid, one by group), each with its
 * own arena.  A client of one tenant is refused by the other's agent, so
 * it never maps the other's arena: no byte of one tenant can be read or
 * written by the other.  This is how systemd/mmc-agent@.service runs
 * tenants (docs/hardening.md, "Tenants").
 *
 *   two_tenants   uid 65533 belongs to A (allow_uids), uid 65532 to B
 *                 (allow_gids, by its group): each is served byte-exact by
 *                 its own agent and refused (-EACCES, counted) by the
 *                 other; each arena holds only its tenant's key
 *
 * Real agents, real uids (root only, else skipped).  The uid clients are
 * forked before this process connects anything.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

#define UID_A 65533u
#define GID_B 65532u

/* A tenant's agent admitting only what access says. */
static void tenant_start(struct agent_proc *a, const char *access)
{
	char conf[96];
	FILE *f;

	snprintf(conf, sizeof(conf), "/tmp/mmc-tenant-%d-%u.conf", (int)getpid(),
		 (unsigned)rand());
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[agent]\nsocket_mode = 0666\n[access]\n%s\n", access);
	ck_assert_int_eq(fclose(f), 0);
	agent_start(a, "32M", "--config", conf, NULL);
	unlink(conf);
	ck_assert_int_eq(chmod(a->dir, 0755), 0);   /* other uids reach the socket */
}

/* Root's view of one tenant's arena: has mine (the owner's bytes, byte for
 * byte), not theirs; and the agent refused exactly one client. */
static void holds_only(const struct agent_proc *a, const char *mine, uid_t owner,
		       const char *theirs)
{
	mmc_client *c = NULL;
	uint8_t v[4096];
	size_t got = 0;
	struct mmc_stats st;

	ck_assert_int_eq(mmc_connect(a->sock, &c), 0);
	ck_assert_int_eq(mmc_get(c, mine, strlen(mine), v, sizeof(v), &got), 0);
	ck_assert_uint_eq(got, sizeof(v));
	ck_assert_int_eq(pattern_check(v, sizeof(v), owner), 0);
	ck_assert_int_eq(mmc_exists(c, theirs, strlen(theirs)), 0);
	st = stats_ok(c);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.clients_rejected, 1);
	mmc_disconnect(c);
}

START_TEST(two_tenants)
{
	struct agent_proc ta, tb;
	int rc;

	require_root("switches uids");
	tenant_start(&ta, "allow_uids = 65533");
	tenant_start(&tb, "allow_gids = 65532");
	rc = as_uid(ta.sock, UID_A, "a-prefix", 0);
	ck_assert_msg(rc == 0, "uid %u on its own agent: child status %d", UID_A, rc);
	rc = as_uid(tb.sock, UID_A, "a-prefix", -EACCES);
	ck_assert_msg(rc == 0, "uid %u on the other agent: child status %d", UID_A, rc);
	rc = as_uid(tb.sock, GID_B, "b-prefix", 0);
	ck_assert_msg(rc == 0, "gid %u on its own agent: child status %d", GID_B, rc);
	rc = as_uid(ta.sock, GID_B, "b-prefix", -EACCES);
	ck_assert_msg(rc == 0, "gid %u on the other agent: child status %d", GID_B, rc);
	holds_only(&ta, "a-prefix", UID_A, "b-prefix");
	holds_only(&tb, "b-prefix", GID_B, "a-prefix");
	agent_stop_ok(&ta);
	agent_stop_ok(&tb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tenants");
	TCase *tc = add_tcase(s, "tenants", 60);

	tcase_add_test(tc, two_tenants);
	return run_suite(s);
}
