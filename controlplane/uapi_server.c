/* The UAPI unix-socket server: accepts `wg` clients, frames lines, runs get/set, queues replies. */
#include "controlplane/uapi.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * Protocol as wireguard-go 0.0.20220316 serves it (device/uapi.go, IpcHandle):
 * - the first line picks the operation: "get=1" or "set=1"; anything else closes the
 *   connection without a reply;
 * - get=1 must be followed by an empty line, else the reply is errno=-22 (wireguard-go then
 *   reads the rest of that line as an operation and drops the connection; we drop it at once);
 * - set=1 runs until an empty line (a trailing '\r' is stripped, as bufio.ScanLines does);
 * - every reply ends with "errno=N\n\n" and the connection stays open for the next operation.
 * Deliberate differences: a set request is applied all at once after its empty line (wireguard-go
 * applies line by line, so a bad line leaves the lines before it applied), the rest of a failed
 * request is read and dropped instead of being taken for operations, and a request cut short by
 * EOF is dropped rather than applied in part.
 *
 * The control thread must never wait on a client: every fd is non-blocking, each readiness
 * event gets a bounded amount of work, and a connection with an unsent reply is not read from
 * until the reply is out, so a client that never reads cannot make us buffer without bound.
 */

#define DEFAULT_SOCK_DIR "/var/run/wireguard"
#define EVENTS_PER_DISPATCH 64
#define READS_PER_EVENT 16
#define ACCEPTS_PER_EVENT 16
#define IN_CAP (LR_UAPI_LINE_MAX + 1) /* a longest line and its '\n' */

enum conn_state { CONN_OP, CONN_GET, CONN_STATS, CONN_SET };

struct conn {
	struct conn *prev, *next;
	int fd;
	uint32_t watching; /* the epoll events registered now */
	enum conn_state state;
	bool closing; /* close once the output is flushed */
	bool discarding; /* dropping the tail of an over-long line */
	int set_err; /* first error of the current set request */
	size_t set_bytes;
	struct lr_uapi_config cfg;
	char *out;
	size_t out_len, out_off, out_cap;
	size_t in_len;
	char in[IN_CAP];
};

struct lr_uapi_server {
	int epfd;
	int listen_fd;
	int inotify_fd;
	bool gone; /* the socket file was deleted */
	dev_t sock_dev;
	ino_t sock_ino;
	const struct lr_uapi_ops *ops;
	void *ctx;
	struct conn *conns;
	size_t n_conns;
	/* Addresses used as epoll tags for the two non-connection fds. */
	char listen_tag, inotify_tag;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* Socket file */

static int dir_create(const char *dir)
{
	char buf[PATH_MAX];
	struct stat st;

	if (!*dir)
		return -EINVAL;
	if ((size_t)snprintf(buf, sizeof(buf), "%s", dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	/* os.MkdirAll(dir, 0755), as ipc/uapi_unix.go does. */
	for (char *p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	if (stat(buf, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int sock_addr_make(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

/* fchmod on a not yet bound AF_UNIX socket sets the inode mode that bind gives the file (less
 * the umask), so the socket is 0600 from its first instant without touching the process-wide
 * umask, which other threads may be relying on. */
static int sock_bind(const char *path)
{
	struct sockaddr_un addr;
	int fd, ret;

	ret = sock_addr_make(&addr, path);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) || bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* A socket file nobody listens on is left by a daemon that died; remove it. A live one
 * accepts (or, with a full backlog, says EAGAIN). The probe is non-blocking so that a wedged
 * daemon cannot hang our start. Unlike wireguard-go we refuse to remove anything that is not
 * a socket. */
static int sock_clear_stale(const char *path)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	sock_addr_make(&addr, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ? -errno : 0;
	close(fd);
	if (ret == 0 || ret == -EAGAIN || ret == -EINPROGRESS)
		return -EADDRINUSE;
	if (ret != -ECONNREFUSED)
		return ret;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

static int sock_listen(struct lr_uapi_server *srv)
{
	struct stat st;
	int fd, ret;

	fd = sock_bind(srv->path);
	if (fd == -EADDRINUSE) {
		ret = sock_clear_stale(srv->path);
		if (ret)
			return ret;
		fd = sock_bind(srv->path);
	}
	if (fd < 0)
		return fd;
	if (listen(fd, SOMAXCONN) || stat(srv->path, &st)) {
		ret = -errno;
		goto err_unlink;
	}
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	srv->listen_fd = fd;
	return 0;

err_unlink:
	unlink(srv->path);
	close(fd);
	return ret;
}

static bool sock_is_ours(const struct lr_uapi_server *srv)
{
	struct stat st;

	return lstat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev &&
	       st.st_ino == srv->sock_ino;
}

/* Unlinking bumps the link count, which inotify reports as IN_ATTRIB on the inode even while
 * our bound socket keeps the inode alive; that is why wireguard-go watches IN_ATTRIB too. */
static int watch_add(struct lr_uapi_server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &srv->inotify_tag };

	srv->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (srv->inotify_fd < 0)
		return -errno;
	if (inotify_add_watch(srv->inotify_fd, srv->path,
			      IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
		return -errno;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->inotify_fd, &ev))
		return -errno;
	return 0;
}

static void watch_check(struct lr_uapi_server *srv)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(srv->inotify_fd, buf, sizeof(buf)) > 0)
		;
	if (!sock_is_ours(srv))
		srv->gone = true;
}

/* Output */

/* Replies carry private and preshared keys: every buffer they pass through is wiped before it
 * is freed, so growth copies by hand instead of realloc. */
static int out_append(struct conn *c, const void *data, size_t len)
{
	size_t need = c->out_len + len, cap = c->out_cap ? c->out_cap : 256;
	char *grown;

	if (len > SIZE_MAX / 2 - c->out_len)
		return -ENOMEM;
	if (need > c->out_cap) {
		while (cap < need)
			cap *= 2;
		grown = malloc(cap);
		if (!grown)
			return -ENOMEM;
		if (c->out) {
			memcpy(grown, c->out, c->out_len);
			sodium_memzero(c->out, c->out_len);
			free(c->out);
		}
		c->out = grown;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void out_reset(struct conn *c)
{
	if (c->out) {
		sodium_memzero(c->out, c->out_len);
		free(c->out);
	}
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
}

/* Returns 0 when everything is sent, 1 when the socket is full, or a negative errno. */
static int out_flush(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
		c->out_off += (size_t)n;
	}
	out_reset(c);
	return 0;
}

static ssize_t out_cookie_write(void *cookie, const char *buf, size_t size)
{
	return out_append(cookie, buf, size) ? 0 : (ssize_t)size;
}

/* Printers write through stdio into c->out; stdio's buffer is ours so it can be wiped. */
static int out_print(struct conn *c, int (*print)(const void *arg, FILE *f), const void *arg)
{
	cookie_io_functions_t io = { .write = out_cookie_write };
	char iobuf[4096];
	FILE *f;
	int ret;

	f = fopencookie(c, "w", io);
	if (!f)
		return -ENOMEM;
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	ret = print(arg, f);
	if (fclose(f) && !ret)
		ret = -EIO;
	sodium_memzero(iobuf, sizeof(iobuf));
	return ret;
}

static int print_config(const void *cfg, FILE *f)
{
	return lr_uapi_config_print(cfg, f);
}

struct stats_call {
	const struct lr_uapi_server *srv;
};

static int print_stats(const void *arg, FILE *f)
{
	const struct lr_uapi_server *srv = ((const struct stats_call *)arg)->srv;

	return srv->ops->stats(srv->ctx, f);
}

static int reply_errno(struct conn *c, int err)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "errno=%d\n\n", err);

	return out_append(c, line, (size_t)len);
}

/* Requests */

static int request_get(struct lr_uapi_server *srv, struct conn *c)
{
	struct lr_uapi_config cfg;
	int ret;

	lr_uapi_config_init(&cfg);
	ret = srv->ops->dump(srv->ctx, &cfg);
	if (!ret)
		ret = out_print(c, print_config, &cfg);
	lr_uapi_config_free(&cfg);
	if (ret)
		out_reset(c);
	return reply_errno(c, ret);
}

/* get=lanrage-stats: LANrage's drop counters, in the same key=value form. Standard tools never
 * send it; wireguard-go closes the connection on it, as on any unknown operation. */
static int request_stats(struct lr_uapi_server *srv, struct conn *c)
{
	struct stats_call call = { .srv = srv };
	int ret = out_print(c, print_stats, &call);

	if (ret)
		out_reset(c);
	return reply_errno(c, ret);
}

static void request_set_fail(struct conn *c, int err)
{
	if (!c->set_err)
		c->set_err = err;
	lr_uapi_config_free(&c->cfg);
}

static int request_set_finish(struct lr_uapi_server *srv, struct conn *c)
{
	int ret = c->set_err;

	if (!ret)
		ret = srv->ops->apply(srv->ctx, &c->cfg);
	lr_uapi_config_free(&c->cfg);
	c->state = CONN_OP;
	return reply_errno(c, ret);
}

static int request_set_line(struct lr_uapi_server *srv, struct conn *c, char *line, size_t len)
{
	int ret;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0)
		return request_set_finish(srv, c);
	c->set_bytes += len + 1;
	if (c->set_bytes > LR_UAPI_REQUEST_MAX)
		request_set_fail(c, -EIO);
	if (c->set_err)
		return 0;
	/* The parser sees a C string; a NUL inside would hide the rest of the line. No key or
	 * value wireguard-go accepts contains one, so the line is bad as a whole. */
	if (memchr(line, '\0', len))
		ret = memchr(line, '=', len) ? -EINVAL : -EPROTO;
	else
		ret = lr_uapi_config_parse_line(&c->cfg, LR_UAPI_SET, line);
	if (ret)
		request_set_fail(c, ret);
	return 0;
}

/* Returns 0, or a negative errno to drop the connection without a reply. */
static int conn_line(struct lr_uapi_server *srv, struct conn *c, char *line, size_t len)
{
	switch (c->state) {
	case CONN_OP:
		if (len == 5 && !memcmp(line, "get=1", 5)) {
			c->state = CONN_GET;
		} else if (srv->ops->stats && len == 17 && !memcmp(line, "get=lanrage-stats", 17)) {
			c->state = CONN_STATS;
		} else if (len == 5 && !memcmp(line, "set=1", 5)) {
			c->state = CONN_SET;
			c->set_err = 0;
			c->set_bytes = 0;
			lr_uapi_config_init(&c->cfg);
		} else {
			return -EPROTO;
		}
		return 0;
	case CONN_GET:
		c->state = CONN_OP;
		if (len == 0)
			return request_get(srv, c);
		c->closing = true;
		return reply_errno(c, -EINVAL);
	case CONN_STATS:
		c->state = CONN_OP;
		if (len == 0)
			return request_stats(srv, c);
		c->closing = true;
		return reply_errno(c, -EINVAL);
	case CONN_SET:
		return request_set_line(srv, c, line, len);
	}
	return -EPROTO;
}

/* Input */

static void in_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	sodium_memzero(c->in + c->in_len, n);
}

/* The buffer is full and holds no newline. No valid line is this long. */
static int in_overlong(struct lr_uapi_server *srv, struct conn *c)
{
	switch (c->state) {
	case CONN_OP:
		return -EPROTO;
	case CONN_GET:
	case CONN_STATS:
		c->state = CONN_OP;
		c->closing = true;
		return reply_errno(c, -EINVAL);
	case CONN_SET:
		c->set_bytes += c->in_len;
		request_set_fail(c, -EIO);
		c->discarding = true;
		in_consume(c, c->in_len);
		return 0;
	}
	return -EPROTO;
}

/* Runs the complete lines in the buffer until a reply is queued (it is flushed before the next
 * request is looked at, which keeps replies in order and memory bounded). */
static int conn_process(struct lr_uapi_server *srv, struct conn *c)
{
	char *nl;
	size_t len;
	int ret = 0;

	while (!ret && !c->out_len && !c->closing) {
		nl = memchr(c->in, '\n', c->in_len);
		if (!nl && c->discarding) {
			in_consume(c, c->in_len);
			return 0;
		}
		if (!nl)
			return c->in_len == IN_CAP ? in_overlong(srv, c) : 0;
		len = (size_t)(nl - c->in);
		*nl = '\0';
		if (c->discarding)
			c->discarding = false;
		else
			ret = conn_line(srv, c, c->in, len);
		in_consume(c, len + 1);
	}
	return ret;
}

/* Returns 0 after reading data, 1 when there is nothing to read, or a negative errno; EOF is
 * -ECONNRESET: whatever request was under way is incomplete and dropped. */
static int conn_read(struct conn *c)
{
	ssize_t n;

	do
		n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
	if (n == 0)
		return -ECONNRESET;
	c->in_len += (size_t)n;
	return 0;
}

/* Connections */

static void conn_close(struct lr_uapi_server *srv, struct conn *c)
{
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	lr_uapi_config_free(&c->cfg);
	out_reset(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static int conn_watch(struct lr_uapi_server *srv, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->watching == events)
		return 0;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->watching = events;
	return 0;
}

/* Flush, run buffered lines, read more, repeat, until the socket is empty or full, or the read
 * budget is spent (level-triggered epoll brings us back for the rest). */
static void conn_handle(struct lr_uapi_server *srv, struct conn *c)
{
	int reads = 0, ret;

	for (;;) {
		ret = out_flush(c);
		if (ret)
			break;
		if (c->closing)
			break;
		ret = conn_process(srv, c);
		if (ret < 0)
			break;
		if (c->out_len)
			continue;
		if (reads++ == READS_PER_EVENT)
			break;
		ret = conn_read(c);
		if (ret)
			break;
	}
	if (ret < 0 || (c->closing && !c->out_len)) {
		conn_close(srv, c);
		return;
	}
	if (conn_watch(srv, c, c->out_len ? EPOLLOUT : EPOLLIN))
		conn_close(srv, c);
}

static int conn_open(struct lr_uapi_server *srv, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->watching = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		return -errno;
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->n_conns++;
	return 0;
}

/* Over the cap a client is accepted and closed at once: it sees EOF instead of hanging in the
 * backlog. Running out of fds (EMFILE) leaves the listener readable, so the control loop
 * would spin rather than block until a connection closes; the cap keeps us far from it. */
static void conn_accept(struct lr_uapi_server *srv)
{
	int fd;

	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return;
		if (srv->n_conns >= LR_UAPI_MAX_CONNS || conn_open(srv, fd))
			close(fd);
	}
}

/* Server */

static int server_setup(struct lr_uapi_server *srv, const char *dir, const char *ifname)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &srv->listen_tag };
	int ret;

	if (!*ifname || strchr(ifname, '/'))
		return -EINVAL;
	if ((size_t)snprintf(srv->path, sizeof(srv->path), "%s/%s.sock", dir, ifname) >=
	    sizeof(srv->path))
		return -ENAMETOOLONG;
	ret = dir_create(dir);
	if (ret)
		return ret;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		return -errno;
	ret = sock_listen(srv);
	if (ret)
		return ret;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev))
		return -errno;
	return watch_add(srv);
}

int lr_uapi_server_open(struct lr_uapi_server **out, const char *sock_dir, const char *ifname,
			const struct lr_uapi_ops *ops, void *ctx)
{
	struct lr_uapi_server *srv;
	int ret;

	if (!ops || !ops->apply || !ops->dump || !ifname)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->epfd = srv->listen_fd = srv->inotify_fd = -1;
	srv->ops = ops;
	srv->ctx = ctx;
	ret = server_setup(srv, sock_dir ? sock_dir : DEFAULT_SOCK_DIR, ifname);
	if (ret) {
		lr_uapi_server_close(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

void lr_uapi_server_close(struct lr_uapi_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv, srv->conns);
	/* Only our own file: a newer daemon may have replaced it after we were told it was gone. */
	if (srv->listen_fd >= 0 && sock_is_ours(srv))
		unlink(srv->path);
	if (srv->inotify_fd >= 0)
		close(srv->inotify_fd);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}

int lr_uapi_server_fd(const struct lr_uapi_server *srv)
{
	return srv->epfd;
}

int lr_uapi_server_dispatch(struct lr_uapi_server *srv)
{
	struct epoll_event ev[EVENTS_PER_DISPATCH];
	int n;

	n = epoll_wait(srv->epfd, ev, EVENTS_PER_DISPATCH, 0);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &srv->listen_tag)
			conn_accept(srv);
		else if (ev[i].data.ptr == &srv->inotify_tag)
			watch_check(srv);
		else
			conn_handle(srv, ev[i].data.ptr);
	}
	return srv->gone ? -ENOENT : 0;
}
