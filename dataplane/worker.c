/* The data-plane worker: one io_uring loop that keeps reads armed on the TUN queue and the UDP
 * socket, reaps completions in batches, and hands each batch to send.c or receive.c. Nothing
 * here blocks except the wait for completions, allocates after start-up, or logs per packet. */
#include "dataplane/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/log.h"

static inline uint64_t op_data(enum lr_op op, unsigned idx)
{
	return ((uint64_t)op << 32) | idx;
}

struct lr_pkt *lr_worker_pkt_get(struct lr_worker *w)
{
	if (unlikely(!w->n_free))
		return NULL;
	return &w->pkts[w->free_list[--w->n_free]];
}

void lr_worker_pkt_put(struct lr_worker *w, struct lr_pkt *pkt)
{
	w->free_list[w->n_free++] = pkt->idx;
}

static struct io_uring_sqe *get_sqe(struct lr_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (unlikely(!sqe)) {
		/* The SQ is sized for every buffer plus the wake read, so this only happens when
		 * earlier entries were not yet submitted: flush them and retry. */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

void lr_worker_submit_send(struct lr_worker *w, struct lr_pkt *pkt, const union lr_sockaddr *dst)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (unlikely(!sqe)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_send_error);
		lr_worker_pkt_put(w, pkt);
		return;
	}
	memset(&pkt->msg, 0, sizeof(pkt->msg));
	if (w->dp->udp_family == AF_INET6) {
		lr_sockaddr_map6(&pkt->name, dst);
		pkt->msg.msg_namelen = sizeof(struct sockaddr_in6);
	} else {
		memcpy(&pkt->name, &dst->in4, sizeof(dst->in4));
		pkt->msg.msg_namelen = sizeof(struct sockaddr_in);
	}
	pkt->iov.iov_base = pkt->data;
	pkt->iov.iov_len = pkt->len;
	pkt->msg.msg_name = &pkt->name;
	pkt->msg.msg_iov = &pkt->iov;
	pkt->msg.msg_iovlen = 1;
	io_uring_prep_sendmsg(sqe, w->dp->udp_fd, &pkt->msg, 0);
	io_uring_sqe_set_data64(sqe, op_data(LR_OP_UDP_SEND, pkt->idx));
}

void lr_worker_submit_tun_write(struct lr_worker *w, struct lr_pkt *pkt)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (unlikely(!sqe)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_tun_write_error);
		lr_worker_pkt_put(w, pkt);
		return;
	}
	io_uring_prep_write(sqe, w->dp->tun_fd, pkt->data, pkt->len, 0);
	io_uring_sqe_set_data64(sqe, op_data(LR_OP_TUN_WRITE, pkt->idx));
}

static bool arm_tun_read(struct lr_worker *w)
{
	struct lr_pkt *pkt = lr_worker_pkt_get(w);
	struct io_uring_sqe *sqe;

	if (!pkt)
		return false;
	sqe = get_sqe(w);
	if (!sqe) {
		lr_worker_pkt_put(w, pkt);
		return false;
	}
	pkt->data = pkt->buf + LR_PKT_HEADROOM;
	/* TUN reads at offset -1: "current position", which a character device ignores. */
	io_uring_prep_read(sqe, w->dp->tun_fd, pkt->data, LR_PKT_MAX_PLAIN, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, op_data(LR_OP_TUN_READ, pkt->idx));
	w->tun_reads_armed++;
	return true;
}

static bool arm_udp_recv(struct lr_worker *w)
{
	struct lr_pkt *pkt = lr_worker_pkt_get(w);
	struct io_uring_sqe *sqe;

	if (!pkt)
		return false;
	sqe = get_sqe(w);
	if (!sqe) {
		lr_worker_pkt_put(w, pkt);
		return false;
	}
	memset(&pkt->msg, 0, sizeof(pkt->msg));
	pkt->data = pkt->buf;
	pkt->iov.iov_base = pkt->buf;
	pkt->iov.iov_len = LR_PKT_BUF_SIZE;
	pkt->msg.msg_name = &pkt->name;
	pkt->msg.msg_namelen = sizeof(pkt->name);
	pkt->msg.msg_iov = &pkt->iov;
	pkt->msg.msg_iovlen = 1;
	io_uring_prep_recvmsg(sqe, w->dp->udp_fd, &pkt->msg, 0);
	io_uring_sqe_set_data64(sqe, op_data(LR_OP_UDP_RECV, pkt->idx));
	w->udp_recvs_armed++;
	return true;
}

static void arm_wake(struct lr_worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (!sqe)
		return; /* re-armed on the next loop pass, see rearm() */
	io_uring_prep_read(sqe, w->wake_fd, &w->wake_buf, sizeof(w->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, op_data(LR_OP_WAKE, 0));
}

/* Keep the receive side full. Receives are armed before TUN reads so that under pressure the
 * worker keeps draining the network (which frees buffers) rather than taking more local load. */
static void rearm(struct lr_worker *w)
{
	while (w->udp_recvs_armed < LR_WORKER_UDP_RECVS && arm_udp_recv(w))
		;
	while (w->tun_reads_armed < LR_WORKER_TUN_READS && arm_tun_read(w))
		;
}

static void complete_tun_read(struct lr_worker *w, struct lr_pkt *pkt, int res,
			      struct lr_batch *tx)
{
	w->tun_reads_armed--;
	if (unlikely(res <= 0)) {
		lr_worker_pkt_put(w, pkt);
		if (res == -EINTR || res == -EAGAIN || res == 0)
			return;
		lr_stats_drop(&w->dp->stats, LR_DROP_tun_read_error);
		/* EBADFD/EIO: the interface was deleted (wg-quick down). The daemon exits. */
		if (res == -EBADFD || res == -EIO || res == -ENODEV) {
			atomic_store(&w->dp->fatal, res);
			lr_dataplane_wake_control(w->dp);
			atomic_store(&w->stop, true);
		}
		return;
	}
	pkt->len = (uint32_t)res;
	tx->pkts[tx->n++] = pkt;
}

static void complete_udp_recv(struct lr_worker *w, struct lr_pkt *pkt, int res,
			      struct lr_batch *rx)
{
	w->udp_recvs_armed--;
	if (unlikely(res <= 0 || (pkt->msg.msg_flags & MSG_TRUNC))) {
		/* An empty datagram is a runt like any too-short one; errors (an ICMP error
		 * queued on the socket) are not packets at all. The buffer holds any UDP
		 * datagram, so MSG_TRUNC cannot happen; it is checked all the same. */
		if (res == 0 || (res > 0 && (pkt->msg.msg_flags & MSG_TRUNC)))
			lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		lr_worker_pkt_put(w, pkt);
		return;
	}
	pkt->len = (uint32_t)res;
	lr_sockaddr_unmap(&pkt->addr, (const union lr_sockaddr *)&pkt->name);
	rx->pkts[rx->n++] = pkt;
}

static void complete(struct lr_worker *w, struct io_uring_cqe *cqe, struct lr_batch *tx,
		     struct lr_batch *rx, bool *woken)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	enum lr_op op = (enum lr_op)(data >> 32);
	struct lr_pkt *pkt = &w->pkts[(uint32_t)data % LR_WORKER_POOL];

	switch (op) {
	case LR_OP_TUN_READ:
		complete_tun_read(w, pkt, cqe->res, tx);
		break;
	case LR_OP_UDP_RECV:
		complete_udp_recv(w, pkt, cqe->res, rx);
		break;
	case LR_OP_UDP_SEND:
		if (unlikely(cqe->res < 0))
			lr_stats_drop(&w->dp->stats, LR_DROP_send_error);
		lr_worker_pkt_put(w, pkt);
		break;
	case LR_OP_TUN_WRITE:
		if (unlikely(cqe->res < 0))
			lr_stats_drop(&w->dp->stats, LR_DROP_tun_write_error);
		lr_worker_pkt_put(w, pkt);
		break;
	case LR_OP_WAKE:
		*woken = true;
		break;
	}
}

static void run_batch(struct lr_worker *w, struct lr_batch *tx, struct lr_batch *rx)
{
	w->now = lr_now_ns();
	if (rx->n)
		lr_receive_batch(w, rx);
	if (tx->n)
		lr_send_batch(w, tx);
	tx->n = 0;
	rx->n = 0;
}

static void *worker_main(void *arg)
{
	struct lr_worker *w = arg;
	struct lr_batch tx = { .n = 0 }, rx = { .n = 0 };
	struct io_uring_cqe *cqes[LR_BATCH_MAX];

	arm_wake(w);
	rearm(w);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		bool woken = false;
		unsigned n, i;

		/* Offline while asleep: the control thread may reclaim without waiting for us. */
		lr_qsbr_offline(w->qsbr);
		if (io_uring_submit_and_wait(&w->ring, 1) < 0 && errno != EINTR) {
			/* submit_and_wait returns -errno; EINTR and EBUSY are retried. */
		}
		lr_qsbr_online(&w->dp->qsbr, w->qsbr);
		/* Batch size is bounded by LR_BATCH_MAX so that tx and rx never overflow: each
		 * completion adds at most one packet to one of them. */
		while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, LR_BATCH_MAX)) > 0) {
			for (i = 0; i < n; i++)
				complete(w, cqes[i], &tx, &rx, &woken);
			io_uring_cq_advance(&w->ring, n);
			run_batch(w, &tx, &rx);
			rearm(w);
		}
		if (woken) {
			w->now = lr_now_ns();
			lr_send_handle_requests(w);
			arm_wake(w);
		}
		rearm(w);
		lr_qsbr_quiescent(&w->dp->qsbr, w->qsbr);
	}
	lr_qsbr_offline(w->qsbr);
	return NULL;
}

static int worker_setup(struct lr_worker *w, struct lr_dataplane *dp)
{
	int ret;

	w->dp = dp;
	w->arena = mmap(NULL, (size_t)LR_WORKER_POOL * LR_PKT_BUF_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->arena == MAP_FAILED)
		return -ENOMEM;
	for (unsigned i = 0; i < LR_WORKER_POOL; i++) {
		w->pkts[i].idx = (uint16_t)i;
		w->pkts[i].buf = w->arena + (size_t)i * LR_PKT_BUF_SIZE;
		w->free_list[i] = (uint16_t)(LR_WORKER_POOL - 1 - i);
	}
	w->n_free = LR_WORKER_POOL;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		ret = -errno;
		goto err_arena;
	}
	ret = io_uring_queue_init(LR_WORKER_RING, &w->ring, 0);
	if (ret < 0)
		goto err_wake;
	w->qsbr = lr_qsbr_reader_register(&dp->qsbr);
	if (!w->qsbr) {
		ret = -ENOSPC;
		goto err_ring;
	}
	return 0;

err_ring:
	io_uring_queue_exit(&w->ring);
err_wake:
	close(w->wake_fd);
err_arena:
	munmap(w->arena, (size_t)LR_WORKER_POOL * LR_PKT_BUF_SIZE);
	return ret;
}

int lr_worker_start(struct lr_dataplane *dp, struct lr_worker **out)
{
	struct lr_worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	ret = worker_setup(w, dp);
	if (ret)
		goto err_free;
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	if (ret)
		goto err_setup;
	*out = w;
	return 0;

err_setup:
	io_uring_queue_exit(&w->ring);
	close(w->wake_fd);
	munmap(w->arena, (size_t)LR_WORKER_POOL * LR_PKT_BUF_SIZE);
err_free:
	free(w);
	return ret;
}

void lr_worker_stop(struct lr_worker *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	eventfd_write(w->wake_fd, 1);
	pthread_join(w->thread, NULL);
	/* Exiting the ring cancels the reads still armed; only then are the buffers free. */
	io_uring_queue_exit(&w->ring);
	close(w->wake_fd);
	/* Buffers held plaintext and keys never touch them, but packets are user data. */
	munmap(w->arena, (size_t)LR_WORKER_POOL * LR_PKT_BUF_SIZE);
	free(w);
}

void lr_worker_request(struct lr_worker *w, struct lr_peer *peer, uint32_t bits)
{
	uint32_t old = atomic_fetch_or(&peer->worker_requests, bits);

	if (w && (old & bits) != bits)
		eventfd_write(w->wake_fd, 1);
}
