/*
 * check-main.h - the main() side of every check test, unit and integration
 * alike (header-only: the unit tests link the agent core, not harness.c).
 */
#ifndef MMC_TESTS_CHECK_MAIN_H
#define MMC_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* A test case named name, added to s; its per-test timeout is timeout_s
 * seconds, or check's default (4 s, or $CK_DEFAULT_TIMEOUT) when 0. */
static inline TCase *add_tcase(Suite *s, const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);

	if (timeout_s > 0)
		tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

/* A NULL-terminated list of tests (START_TEST names), for add_tests(). */
#define TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })

/* Adds the tests of a TESTS() list to tc, in order. */
static inline void add_tests(TCase *tc, const TTest *const *tests)
{
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
}

/* Runs every test of s (output as $CK_VERBOSITY says, normal by default),
 * frees the runner, and returns main()'s exit code: EXIT_SUCCESS when no
 * test failed, else EXIT_FAILURE. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
