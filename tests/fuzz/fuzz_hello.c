/*
 * fuzz_hello.c - libFuzzer harness: a client's first message, and what it
 * sends on its socket after the welcome, through the agent's real session
 * code (mmc_session_adopt, mmc_session_readable: mmc_hello_check, [limits],
 * the ring's creation, the welcome, then doorbells or junk).
 *
 * Input: byte 0 is the length n of the hello (the next n bytes, as one
 * SOCK_SEQPACKET message: 0 is a client that connects and says nothing);
 * each byte after it is one more one-byte message once the session is
 * established (MMC_MSG_BELL 0x62 is a doorbell, anything else junk).
 * After each input the session is closed and nothing of it may be left.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-agent.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmc_agent *ag = fuzz_agent();
	struct ucred cr = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	struct mmc_session *s;
	size_t n;
	int sv[2];

	if (!size)
		return 0;
	n = data[0] < size - 1 ? data[0] : size - 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	s = mmc_session_adopt(ag, sv[0], &cr);
	if (!s)
		abort();
	if (n)
		(void)!send(sv[1], data + 1, n, MSG_DONTWAIT);
	else
		shutdown(sv[1], SHUT_WR);               /* said nothing, left */
	mmc_session_readable(ag, s);
	for (size_t i = 1 + n; i < size && i < 1 + n + 64 && !s->closed; i++) {
		(void)!send(sv[1], data + i, 1, MSG_DONTWAIT);
		mmc_session_readable(ag, s);
	}
	if (!s->closed)
		mmc_session_close(ag, s, NULL);
	close(sv[1]);
	fuzz_agent_settle(ag);
	return 0;
}
