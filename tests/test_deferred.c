/*
 * test_deferred.c - requests whose answer comes later, against a real agent.
 *
 * The agent parks a ping that asks for a delay (mmc_ping(c, us), allowed up
 * to [debug] ping_delay_max_ms) on a timer and answers it later, the way it
 * will wait for SSD reads and peers.  Meanwhile:
 *
 *   refused_by_default   with the default config a delay is -EPERM and an
 *                        undelayed ping is answered at once
 *   others_go_on         one thread of a client waits for a 2 s ping while
 *                        another thread of the same client, and a second
 *                        client, do byte-checked puts, gets and removes and
 *                        a short ping: all of it is answered while the long
 *                        ping is still parked, which is answered after it
 *   out_of_order         pings of 1.5 s, 0.6 s and 0 s sent in that order by
 *                        three threads of one client come back shortest
 *                        first (each thread records when it returned)
 *   client_dies_parked   a client killed while its ping is parked: the agent
 *                        drops the request (stats: parked 0), keeps
 *                        serving, and stops cleanly (under ASan: no leak)
 *
 * No sleeps: waits are on the agent's answers; the one poll loop waits for
 * an observable state (stats.parked) with a bound.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmc/mmc.h"
#include "check-main.h"
#include "harness.h"

/* Starts an agent whose [debug] ping_delay_max_ms is max_ms. */
static void start_with_delays(struct agent_proc *a, unsigned max_ms)
{
	char conf[] = "/tmp/mmc-deferred-XXXXXX";
	int fd = mkstemp(conf);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(dprintf(fd, "[debug]\nping_delay_max_ms = %u\n", max_ms), 0);
	close(fd);
	agent_start(a, "64M", "--config", conf, NULL);
	unlink(conf);
}

START_TEST(refused_by_default)
{
	struct agent_proc a;
	mmc_client *c;

	agent_start(&a, "64M", NULL);
	c = connect_ok(NULL);
	ck_assert_int_eq(mmc_ping(c, 0), 0);
	ck_assert_int_eq(mmc_ping(c, 1000), -EPERM);
	ck_assert_int_eq(mmc_ping(c, 0), 0);
	ck_assert_uint_eq(stats_ok(c).parked, 0);
	agent_finish(&a, c);
}
END_TEST

struct pinger {
	mmc_client *c;
	unsigned delay_us;
	int ret;
	double took;                /* seconds */
	_Atomic int done;
	_Atomic int *order;         /* shared return counter */
	int rank;                   /* 1 = returned first */
};

static void *pinger_main(void *arg)
{
	struct pinger *p = arg;
	double t0 = now_s();

	p->ret = mmc_ping(p->c, p->delay_us);
	p->took = now_s() - t0;
	if (p->order)
		p->rank = atomic_fetch_add(p->order, 1) + 1;
	atomic_store(&p->done, 1);
	return NULL;
}

/* Puts, gets back byte for byte and removes n keys of prefix on c. */
static void traffic(mmc_client *c, const char *prefix, int n)
{
	char key[64];

	for (int i = 0; i < n; i++) {
		size_t len = 4096u * (1 + i % 5) - (unsigned)i;

		mkkey(key, sizeof(key), prefix, 4, (unsigned)i);
		put_pat_ok(c, key, len);
		get_pat_ok(c, key, len);
		if (i % 2)
			ck_assert_int_eq(mmc_remove(c, key, strlen(key)), 0);
	}
}

START_TEST(others_go_on)
{
	struct agent_proc a;
	struct pinger p = { .delay_us = 2000000 };
	mmc_client *c, *d;
	pthread_t t;

	start_with_delays(&a, 5000);
	c = connect_ok(NULL);
	d = connect_ok(NULL);
	p.c = c;
	ck_assert_int_eq(pthread_create(&t, NULL, pinger_main, &p), 0);
	/* The same client from another thread, and another client. */
	traffic(c, "same-", 200);
	traffic(d, "other-", 200);
	ck_assert_int_eq(mmc_ping(c, 0), 0);
	ck_assert_int_eq(mmc_ping(d, 100000), 0);
	ck_assert_msg(!atomic_load(&p.done),
		      "the parked ping came back before the others (%.3f s)", p.took);
	ck_assert_uint_eq(stats_ok(d).parked, 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.ret, 0);
	ck_assert_msg(p.took >= 1.95, "a 2 s ping answered after %.3f s", p.took);
	ck_assert_uint_eq(stats_ok(c).parked, 0);
	get_pat_ok(c, "same-0000", 4096);
	mmc_disconnect(d);
	agent_finish(&a, c);
}
END_TEST

START_TEST(out_of_order)
{
	struct agent_proc a;
	_Atomic int order = 0;
	struct pinger p[3] = {
		{ .delay_us = 1500000, .order = &order },
		{ .delay_us = 600000, .order = &order },
		{ .delay_us = 0, .order = &order },
	};
	pthread_t t[3];
	mmc_client *c;

	start_with_delays(&a, 5000);
	c = connect_ok(NULL);
	for (int i = 0; i < 3; i++) {
		p[i].c = c;
		ck_assert_int_eq(pthread_create(&t[i], NULL, pinger_main, &p[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(p[i].ret, 0);
	}
	/* Started 1.5 s, 0.6 s, 0 s: the 0 s one returns at once whatever the
	 * start order, and 0.6 s is at least 0.9 s ahead of 1.5 s. */
	ck_assert_int_eq(p[2].rank, 1);
	ck_assert_int_eq(p[1].rank, 2);
	ck_assert_int_eq(p[0].rank, 3);
	ck_assert(p[0].took >= 1.45 && p[1].took >= 0.55);
	agent_finish(&a, c);
}
END_TEST

START_TEST(client_dies_parked)
{
	struct agent_proc a;
	struct mmc_stats s;
	mmc_client *c;
	int go[2];
	pid_t pid;
	char b;

	start_with_delays(&a, 60000);
	c = connect_ok(NULL);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		mmc_client *own;

		close(go[0]);
		if (mmc_connect(NULL, &own))
			_exit(1);
		(void)!write(go[1], "x", 1);
		_exit(mmc_ping(own, 30000000) ? 2 : 3);   /* killed before */
	}
	close(go[1]);
	ck_assert_int_eq(read(go[0], &b, 1), 1);
	close(go[0]);
	/* Its ping is on the agent's timer once stats say so. */
	for (int i = 0; i < 100000 && stats_ok(c).parked != 1; i++)
		ck_assert_int_eq(kill(pid, 0), 0);
	ck_assert_uint_eq(stats_ok(c).parked, 1);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	wait_killed(pid, SIGKILL);
	s = stats_ok(c);
	ck_assert_uint_eq(s.parked, 0);
	ck_assert_uint_eq(s.clients, 1);
	put_pat_ok(c, "after", 8192);
	get_pat_ok(c, "after", 8192);
	ck_assert_int_eq(mmc_ping(c, 1000), 0);
	agent_finish(&a, c);   /* a clean stop; under ASan, nothing leaked */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deferred");

	add_tests(add_tcase(s, "deferred", 60),
		  TESTS(refused_by_default, others_go_on, out_of_order,
			client_dies_parked));
	return run_suite(s);
}
