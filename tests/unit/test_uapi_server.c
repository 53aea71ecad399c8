/* UAPI socket server end to end: real unix-socket clients against a fake device that records
 * what it is asked to apply; replies, errnos, pipelining, limits and stalled clients. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "controlplane/uapi.h"

#define KEY_A "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY_B "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define IFNAME "lrtest0"

/* The device double: counts calls, keeps what apply saw, and dumps n_dump_peers peers. */
struct fake_device {
	int apply_calls;
	int apply_ret;
	int dump_calls;
	int dump_ret;
	size_t n_dump_peers;
	size_t n_dump_ips;
	bool seen_has_listen_port;
	uint16_t seen_listen_port;
	size_t seen_n_peers;
	size_t seen_n_ips;
	int stats_calls;
};

struct fixture {
	char tmp[64];
	char dir[96];
	char path[160];
	struct fake_device dev;
	struct lr_uapi_ops ops;
	struct lr_uapi_server *srv;
};

static int fake_apply(void *ctx, const struct lr_uapi_config *cfg)
{
	struct fake_device *dev = ctx;

	dev->apply_calls++;
	dev->seen_has_listen_port = cfg->has_listen_port;
	dev->seen_listen_port = cfg->listen_port;
	dev->seen_n_peers = cfg->n_peers;
	dev->seen_n_ips = cfg->n_peers ? cfg->peers[0].n_allowed_ips : 0;
	return dev->apply_ret;
}

static int fake_dump(void *ctx, struct lr_uapi_config *cfg)
{
	struct fake_device *dev = ctx;

	dev->dump_calls++;
	if (dev->dump_ret)
		return dev->dump_ret;
	cfg->has_private_key = true;
	sodium_hex2bin(cfg->private_key, LR_KEY_LEN, KEY_A, 64, NULL, NULL, NULL);
	cfg->has_listen_port = true;
	cfg->listen_port = 51820;
	for (size_t i = 0; i < dev->n_dump_peers; i++) {
		struct lr_uapi_peer *p = lr_uapi_config_add_peer(cfg);

		if (!p)
			return -ENOMEM;
		memcpy(p->public_key, &i, sizeof(i));
		p->has_persistent_keepalive = true;
		p->has_endpoint = true;
		lr_sockaddr_parse(&p->endpoint, "192.0.2.1:51820");
		for (size_t j = 0; j < dev->n_dump_ips; j++) {
			struct lr_uapi_allowedip *ip = lr_uapi_peer_add_allowedip(p);

			if (!ip)
				return -ENOMEM;
			ip->family = AF_INET6;
			ip->cidr = 128;
			memcpy(ip->addr, &i, sizeof(i));
			memcpy(ip->addr + 8, &j, sizeof(j));
		}
	}
	return 0;
}

static int fake_stats(void *ctx, FILE *out)
{
	struct fake_device *dev = ctx;

	dev->stats_calls++;
	fprintf(out, "drop_runt=7\n");
	return 0;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->tmp, "/tmp/lr_uapi_test_XXXXXX");
	if (!mkdtemp(fx->tmp))
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/run/wireguard", fx->tmp);
	snprintf(fx->path, sizeof(fx->path), "%s/%s.sock", fx->dir, IFNAME);
	fx->ops.apply = fake_apply;
	fx->ops.dump = fake_dump;
	fx->ops.stats = fake_stats;
	fx->dev.n_dump_peers = 1;
	fx->dev.n_dump_ips = 2;
	if (lr_uapi_server_open(&fx->srv, fx->dir, IFNAME, &fx->ops, &fx->dev))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char sub[96];

	lr_uapi_server_close(fx->srv);
	unlink(fx->path);
	rmdir(fx->dir);
	snprintf(sub, sizeof(sub), "%s/run", fx->tmp);
	rmdir(sub);
	rmdir(fx->tmp);
	free(fx);
	return 0;
}

/* Waits (briefly) for server work and runs it; the test is the only thread. */
static void pump(struct lr_uapi_server *srv, int timeout_ms)
{
	struct pollfd pfd = { .fd = lr_uapi_server_fd(srv), .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) > 0)
		assert_int_equal(lr_uapi_server_dispatch(srv), 0);
}

static int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

/* Sends everything, serving the server whenever the socket is full. */
static void client_send(struct lr_uapi_server *srv, int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			pump(srv, 10);
			continue;
		}
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static bool reply_complete(const char *buf)
{
	for (const char *e = strstr(buf, "errno="); e; e = strstr(e + 1, "errno="))
		if ((e == buf || e[-1] == '\n') && strstr(e, "\n\n"))
			return true;
	return false;
}

struct reply {
	char *text;
	size_t len;
	bool closed;
};

/* Collects bytes until `want` whole replies have arrived, the server hangs up, or 5 s pass. */
static void client_recv(struct lr_uapi_server *srv, int fd, struct reply *r, int want)
{
	size_t cap = 1 << 16;
	int got = 0;

	r->text = calloc(1, cap + 1);
	r->len = 0;
	r->closed = false;
	assert_non_null(r->text);
	for (int i = 0; i < 500 && got < want && !r->closed; i++) {
		ssize_t n;

		pump(srv, 10);
		for (;;) {
			if (r->len == cap) {
				r->text = realloc(r->text, 2 * cap + 1);
				assert_non_null(r->text);
				cap *= 2;
			}
			n = recv(fd, r->text + r->len, cap - r->len, MSG_DONTWAIT);
			if (n <= 0)
				break;
			r->len += (size_t)n;
		}
		r->text[r->len] = '\0';
		if (n == 0)
			r->closed = true;
		got = 0;
		for (const char *s = r->text; reply_complete(s); got++)
			s = strstr(strstr(s, "errno="), "\n\n") + 2;
	}
}

static void expect_reply(struct fixture *fx, int fd, const char *want)
{
	struct reply r;

	client_recv(fx->srv, fd, &r, 1);
	assert_string_equal(r.text, want);
	free(r.text);
}

static void expect_closed(struct fixture *fx, int fd, const char *want)
{
	struct reply r;

	client_recv(fx->srv, fd, &r, 1000);
	assert_true(r.closed);
	assert_string_equal(r.text, want);
	free(r.text);
}

#define SET_REQ                                                                                \
	"set=1\nprivate_key=" KEY_A "\nlisten_port=4242\nreplace_peers=true\npublic_key=" KEY_B \
	"\nendpoint=[2001:db8::1]:51820\nallowed_ip=10.0.0.0/8\nallowed_ip=::/0\n\n"

/* The socket is IFNAME.sock, mode 0600 even under umask 0, in a 0755 directory made for it. */
static void test_socket_file(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fx->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
}

/* A set is parsed whole and handed to apply; errno=0 comes back. */
static void test_set(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, SET_REQ, strlen(SET_REQ));
	expect_reply(fx, fd, "errno=0\n\n");
	assert_int_equal(fx->dev.apply_calls, 1);
	assert_true(fx->dev.seen_has_listen_port);
	assert_int_equal(fx->dev.seen_listen_port, 4242);
	assert_int_equal(fx->dev.seen_n_peers, 1);
	assert_int_equal(fx->dev.seen_n_ips, 2);
	close(fd);
}

/* A get prints the dump in the UAPI form and ends with errno=0. */
static void test_get(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	struct lr_uapi_config cfg;
	struct reply r;
	char *line, *save = NULL;

	client_send(fx->srv, fd, "get=1\n\n", 7);
	client_recv(fx->srv, fd, &r, 1);
	assert_int_equal(fx->dev.dump_calls, 1);
	assert_non_null(strstr(r.text, "private_key=" KEY_A "\nlisten_port=51820\npublic_key="));
	assert_true(r.len > 9 && !strcmp(r.text + r.len - 10, "\nerrno=0\n\n"));
	r.text[r.len - 9] = '\0';
	lr_uapi_config_init(&cfg);
	for (line = strtok_r(r.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		assert_int_equal(lr_uapi_config_parse_line(&cfg, LR_UAPI_GET, line), 0);
	assert_int_equal(cfg.listen_port, 51820);
	assert_int_equal(cfg.n_peers, 1);
	assert_int_equal(cfg.peers[0].n_allowed_ips, 2);
	lr_uapi_config_free(&cfg);
	free(r.text);
	close(fd);
}

/* get=lanrage-stats answers with the device's counters, and the connection serves get=1 next. */
static void test_stats(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	struct reply r;

	client_send(fx->srv, fd, "get=lanrage-stats\n\n", 19);
	client_recv(fx->srv, fd, &r, 1);
	assert_int_equal(fx->dev.stats_calls, 1);
	assert_string_equal(r.text, "drop_runt=7\nerrno=0\n\n");
	free(r.text);
	client_send(fx->srv, fd, "get=1\n\n", 7);
	client_recv(fx->srv, fd, &r, 1);
	assert_int_equal(fx->dev.dump_calls, 1);
	free(r.text);
	close(fd);
}

/* A request with a bad line is read to its end, answered with the first error, never applied;
 * the connection then serves the next request. */
static void test_malformed_set_not_applied(void **state)
{
	static const char bad[] = "set=1\nlisten_port=1\npublic_key=" KEY_B "\n"
				  "allowed_ip=10.0.0.0/33\nno_equals\nallowed_ip=10.0.0.0/8\n\n";
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, bad, strlen(bad));
	expect_reply(fx, fd, "errno=-22\n\n");
	assert_int_equal(fx->dev.apply_calls, 0);

	client_send(fx->srv, fd, "set=1\nlisten_port\n\n", 19);
	expect_reply(fx, fd, "errno=-71\n\n");
	assert_int_equal(fx->dev.apply_calls, 0);

	client_send(fx->srv, fd, "set=1\nlisten_port=9\n\n", 21);
	expect_reply(fx, fd, "errno=0\n\n");
	assert_int_equal(fx->dev.apply_calls, 1);
	assert_int_equal(fx->dev.seen_listen_port, 9);
	close(fd);
}

/* A NUL inside a line does not cut it short: "listen_port=1\0x" is a bad value, and an
 * operation line with a NUL is no operation. */
static void test_nul_in_line(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, "set=1\nlisten_port=1\0x\n\n", 23);
	expect_reply(fx, fd, "errno=-22\n\n");
	client_send(fx->srv, fd, "set=1\nlisten\0port\n\n", 19);
	expect_reply(fx, fd, "errno=-71\n\n");
	assert_int_equal(fx->dev.apply_calls, 0);
	client_send(fx->srv, fd, "get=1\0\n\n", 8);
	expect_closed(fx, fd, "");
	close(fd);
}

/* Two requests in one write get two replies, in order, on the same connection. */
static void test_pipelined_requests(void **state)
{
	static const char reqs[] = "set=1\r\nlisten_port=7\r\n\r\nget=1\n\n";
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	struct reply r;

	/* "set=1\r" is not an operation: wireguard-go hangs up, and so do we. */
	client_send(fx->srv, fd, reqs, strlen(reqs));
	expect_closed(fx, fd, "");
	close(fd);

	fd = client_connect(fx->path);
	client_send(fx->srv, fd, "set=1\nlisten_port=7\r\n\r\nget=1\n\n", 30);
	client_recv(fx->srv, fd, &r, 2);
	assert_true(!strncmp(r.text, "errno=0\n\nprivate_key=", 21));
	assert_true(!strcmp(r.text + r.len - 10, "\nerrno=0\n\n"));
	assert_int_equal(fx->dev.apply_calls, 1);
	assert_int_equal(fx->dev.seen_listen_port, 7); /* CRLF stripped in a set body */
	assert_int_equal(fx->dev.dump_calls, 1);
	free(r.text);
	close(fd);
}

/* apply's and dump's errors are the reply's errno; a failed dump prints no body. */
static void test_device_errors_forwarded(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	fx->dev.apply_ret = -EADDRINUSE;
	client_send(fx->srv, fd, "set=1\nlisten_port=1\n\n", 21);
	expect_reply(fx, fd, "errno=-98\n\n");
	fx->dev.dump_ret = -ENOMEM;
	client_send(fx->srv, fd, "get=1\n\n", 7);
	expect_reply(fx, fd, "errno=-12\n\n");
	close(fd);
}

/* An unknown operation (or an empty line) closes the connection without a reply. */
static void test_unknown_operation(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, "hello=1\n", 8);
	expect_closed(fx, fd, "");
	close(fd);
	fd = client_connect(fx->path);
	client_send(fx->srv, fd, "\nget=1\n\n", 8);
	expect_closed(fx, fd, "");
	close(fd);
	assert_int_equal(fx->dev.dump_calls, 0);
}

/* get=1 followed by anything but an empty line: errno=-22, then hang up. */
static void test_get_trailing_garbage(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, "get=1\nx\n", 8);
	expect_closed(fx, fd, "errno=-22\n\n");
	assert_int_equal(fx->dev.dump_calls, 0);
	close(fd);
}

/* A client stuck mid-line does not hold up another client; it finishes later. */
static void test_stalled_client(void **state)
{
	struct fixture *fx = *state;
	int slow = client_connect(fx->path), fast = client_connect(fx->path);

	client_send(fx->srv, slow, "set=1\nlisten_po", 15);
	pump(fx->srv, 10);
	client_send(fx->srv, fast, "get=1\n\n", 7);
	{
		struct reply r;

		client_recv(fx->srv, fast, &r, 1);
		assert_non_null(strstr(r.text, "errno=0\n\n"));
		free(r.text);
	}
	assert_int_equal(fx->dev.apply_calls, 0);
	client_send(fx->srv, slow, "rt=77\n\n", 7);
	expect_reply(fx, slow, "errno=0\n\n");
	assert_int_equal(fx->dev.seen_listen_port, 77);
	close(slow);
	close(fast);
}

/* A line over LR_UAPI_LINE_MAX fails the request with -EIO; the connection survives. */
static void test_overlong_line(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	char *req = malloc(LR_UAPI_LINE_MAX + 64);
	size_t len;

	assert_non_null(req);
	len = (size_t)sprintf(req, "set=1\nlisten_port=");
	memset(req + len, '1', LR_UAPI_LINE_MAX);
	len += LR_UAPI_LINE_MAX;
	len += (size_t)sprintf(req + len, "\nlisten_port=1\n\n");
	client_send(fx->srv, fd, req, len);
	expect_reply(fx, fd, "errno=-5\n\n");
	assert_int_equal(fx->dev.apply_calls, 0);
	client_send(fx->srv, fd, "set=1\nlisten_port=2\n\n", 21);
	expect_reply(fx, fd, "errno=0\n\n");
	assert_int_equal(fx->dev.apply_calls, 1);
	free(req);
	close(fd);
}

/* A line of exactly LR_UAPI_LINE_MAX bytes is still a line (here a bad value: -22). */
static void test_longest_line(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	char *req = malloc(LR_UAPI_LINE_MAX + 64);
	size_t len;

	assert_non_null(req);
	len = (size_t)sprintf(req, "set=1\n");
	memset(req + len, 'k', LR_UAPI_LINE_MAX - 2);
	len += LR_UAPI_LINE_MAX - 2;
	len += (size_t)sprintf(req + len, "=1\n\n");
	client_send(fx->srv, fd, req, len);
	expect_reply(fx, fd, "errno=-22\n\n");
	free(req);
	close(fd);
}

/* A set request over LR_UAPI_REQUEST_MAX bytes is refused with -EIO and not applied. */
static void test_request_too_large(void **state)
{
	static const char ip[] = "allowed_ip=10.0.0.1/32\n";
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);
	size_t n = LR_UAPI_REQUEST_MAX / (sizeof(ip) - 1) + 1;
	char *req = malloc(n * (sizeof(ip) - 1) + 256), *p = req;

	assert_non_null(req);
	p += sprintf(p, "set=1\npublic_key=%s\n", KEY_B);
	for (size_t i = 0; i < n; i++)
		p = memcpy(p, ip, sizeof(ip) - 1) + sizeof(ip) - 1;
	p += sprintf(p, "\n");
	client_send(fx->srv, fd, req, (size_t)(p - req));
	expect_reply(fx, fd, "errno=-5\n\n");
	assert_int_equal(fx->dev.apply_calls, 0);
	free(req);
	close(fd);
}

/* A set cut short by EOF is dropped, not applied in part. */
static void test_eof_mid_set(void **state)
{
	struct fixture *fx = *state;
	int fd = client_connect(fx->path);

	client_send(fx->srv, fd, "set=1\nlisten_port=1\n", 20);
	shutdown(fd, SHUT_WR);
	expect_closed(fx, fd, "");
	assert_int_equal(fx->dev.apply_calls, 0);
	close(fd);
}

/* A large reply to a client that does not read stays queued (EPOLLOUT) while the
 * server goes on serving others, and that client's next requests wait behind it, so memory
 * stays bounded; then everything arrives whole and in order. */
static void test_large_reply_slow_reader(void **state)
{
	struct fixture *fx = *state;
	int big = client_connect(fx->path), other;
	struct reply r;
	struct timespec t0, t1;
	size_t peers = 0;

	fx->dev.n_dump_peers = 1000;
	fx->dev.n_dump_ips = 20;
	client_send(fx->srv, big, "get=1\n\nget=1\n\nget=1\n\n", 21);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 5; i++)
		pump(fx->srv, 10);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5); /* dispatch returned although nobody reads */
	assert_int_equal(fx->dev.dump_calls, 1);

	other = client_connect(fx->path);
	client_send(fx->srv, other, "set=1\nlisten_port=3\n\n", 21);
	expect_reply(fx, other, "errno=0\n\n");
	close(other);

	client_recv(fx->srv, big, &r, 3);
	assert_int_equal(fx->dev.dump_calls, 3);
	assert_true(r.len > 3 * 512 * 1024); /* each reply beats the socket buffer */
	assert_true(!strcmp(r.text + r.len - 10, "\nerrno=0\n\n"));
	for (const char *s = strstr(r.text, "public_key="); s; s = strstr(s + 1, "public_key="))
		peers++;
	assert_int_equal(peers, 3 * 1000);
	free(r.text);
	close(big);
}

/* Past LR_UAPI_MAX_CONNS a new client is hung up on; once one leaves, others get in. */
static void test_connection_cap(void **state)
{
	struct fixture *fx = *state;
	int fds[LR_UAPI_MAX_CONNS], extra;

	for (int i = 0; i < LR_UAPI_MAX_CONNS; i++) {
		fds[i] = client_connect(fx->path);
		pump(fx->srv, 10);
	}
	extra = client_connect(fx->path);
	expect_closed(fx, extra, "");
	close(extra);

	close(fds[0]);
	pump(fx->srv, 10);
	fds[0] = client_connect(fx->path);
	client_send(fx->srv, fds[0], "set=1\n\n", 7);
	expect_reply(fx, fds[0], "errno=0\n\n");
	client_send(fx->srv, fds[LR_UAPI_MAX_CONNS - 1], "set=1\n\n", 7);
	expect_reply(fx, fds[LR_UAPI_MAX_CONNS - 1], "errno=0\n\n");
	for (int i = 0; i < LR_UAPI_MAX_CONNS; i++)
		close(fds[i]);
}

/* Deleting the socket file makes dispatch report -ENOENT, the daemon's cue to exit. */
static void test_socket_deleted(void **state)
{
	struct fixture *fx = *state;
	struct pollfd pfd = { .fd = lr_uapi_server_fd(fx->srv), .events = POLLIN };

	assert_int_equal(lr_uapi_server_dispatch(fx->srv), 0);
	assert_int_equal(unlink(fx->path), 0);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(lr_uapi_server_dispatch(fx->srv), -ENOENT);
}

/* A second server on a live socket is refused; the first keeps working. */
static void test_live_socket_refused(void **state)
{
	struct fixture *fx = *state;
	struct lr_uapi_server *second = NULL;
	int fd;

	assert_int_equal(lr_uapi_server_open(&second, fx->dir, IFNAME, &fx->ops, &fx->dev),
			 -EADDRINUSE);
	fd = client_connect(fx->path);
	client_send(fx->srv, fd, "set=1\n\n", 7);
	expect_reply(fx, fd, "errno=0\n\n");
	close(fd);
}

/* A socket file left by a dead daemon is replaced; a non-socket file is left alone; close
 * removes the socket. */
static void test_stale_socket_replaced(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct lr_uapi_server *srv = NULL;
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/stale0.sock", fx->dir);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(lr_uapi_server_open(&srv, fx->dir, "stale0", &fx->ops, &fx->dev), 0);
	fd = client_connect(path);
	client_send(srv, fd, "set=1\n\n", 7);
	{
		struct reply r;

		client_recv(srv, fd, &r, 1);
		assert_string_equal(r.text, "errno=0\n\n");
		free(r.text);
	}
	close(fd);
	lr_uapi_server_close(srv);
	assert_int_equal(access(path, F_OK), -1);

	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(lr_uapi_server_open(&srv, fx->dir, "stale0", &fx->ops, &fx->dev),
			 -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

/* Interface names that would escape the directory are refused. */
static void test_bad_ifname(void **state)
{
	struct fixture *fx = *state;
	struct lr_uapi_server *srv = NULL;

	assert_int_equal(lr_uapi_server_open(&srv, fx->dir, "", &fx->ops, &fx->dev), -EINVAL);
	assert_int_equal(lr_uapi_server_open(&srv, fx->dir, "../x", &fx->ops, &fx->dev), -EINVAL);
	assert_null(srv);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_socket_file),
		T(test_set),
		T(test_get),
		T(test_stats),
		T(test_malformed_set_not_applied),
		T(test_nul_in_line),
		T(test_pipelined_requests),
		T(test_device_errors_forwarded),
		T(test_unknown_operation),
		T(test_get_trailing_garbage),
		T(test_stalled_client),
		T(test_overlong_line),
		T(test_longest_line),
		T(test_request_too_large),
		T(test_eof_mid_set),
		T(test_large_reply_slow_reader),
		T(test_connection_cap),
		T(test_socket_deleted),
		T(test_live_socket_refused),
		T(test_stale_socket_replaced),
		T(test_bad_ifname),
	};

	if (sodium_init() < 0)
		return 1;
	umask(0); /* the socket must come out 0600 by itself */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
