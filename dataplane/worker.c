/* The data-plane worker: one io_uring loop that keeps reads armed on its TUN queue and its UDP
 * socket, reaps completions in batches, and hands each batch to send.c or receive.c. Nothing
 * here blocks except the wait for completions, allocates after start-up, or logs per packet. */
#include "dataplane/worker.h"

#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "dataplane/ip.h"
#include "dataplane/socket.h"

struct lr_pkt *lr_worker_pkt_get(struct lr_worker *w)
{
	struct lr_pkt *pkt;

	if (unlikely(!w->n_free))
		return NULL;
	pkt = &w->pkts[w->free_list[--w->n_free]];
	pkt->refs = 1;
	pkt->gso_size = 0;
	return pkt;
}

/* Hands a provided buffer back to the kernel's ring. */
static void pbuf_give(struct lr_worker *w, struct lr_pkt *pkt)
{
	struct lr_pbuf_ring *r = &w->pbufs[pkt->group];

	io_uring_buf_ring_add(r->br, pkt->buf, LR_PBUF_SIZE, pkt->idx,
			      io_uring_buf_ring_mask(LR_PBUF_COUNT), 0);
	io_uring_buf_ring_advance(r->br, 1);
	r->provided++;
}

void lr_worker_pkt_put(struct lr_worker *w, struct lr_pkt *pkt)
{
	if (--pkt->refs)
		return;
	if (pkt->group < 0)
		w->free_list[w->n_free++] = pkt->idx;
	else
		pbuf_give(w, pkt);
}

static struct lr_io *io_get(struct lr_worker *w, struct lr_pkt *pkt, enum lr_op op)
{
	struct lr_io *io;

	if (unlikely(!w->n_free_ios))
		return NULL;
	io = &w->ios[w->free_ios[--w->n_free_ios]];
	io->pkt = pkt;
	io->op = (uint8_t)op;
	if (pkt)
		pkt->refs++;
	return io;
}

static void io_put(struct lr_worker *w, struct lr_io *io)
{
	if (io->pkt)
		lr_worker_pkt_put(w, io->pkt);
	io->pkt = NULL;
	w->free_ios[w->n_free_ios++] = io->idx;
}

static struct io_uring_sqe *get_sqe(struct lr_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (unlikely(!sqe)) {
		/* Full of entries not yet submitted: submit them and retry. */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* An operation and its SQE, or neither (counted as a drop of cause). */
static struct io_uring_sqe *prep(struct lr_worker *w, struct lr_pkt *pkt, enum lr_op op,
				 struct lr_io **out)
{
	struct io_uring_sqe *sqe;
	struct lr_io *io = io_get(w, pkt, op);

	if (unlikely(!io))
		return NULL;
	sqe = get_sqe(w);
	if (unlikely(!sqe)) {
		io_put(w, io);
		return NULL;
	}
	io_uring_sqe_set_data64(sqe, io->idx);
	*out = io;
	return sqe;
}

void lr_worker_submit_send(struct lr_worker *w, struct lr_pkt *pkt, const uint8_t *data,
			   size_t len, uint16_t gso_size, const union lr_sockaddr *dst)
{
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	if (w->sinks) {
		w->sinks->send(w->sinks->ctx, data, len, len > gso_size ? gso_size : 0, dst);
		return;
	}
	sqe = prep(w, pkt, LR_OP_UDP_SEND, &io);
	if (unlikely(!sqe)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_send_error);
		return;
	}
	memset(&io->msg, 0, sizeof(io->msg));
	if (w->dp->udp_family == AF_INET6) {
		lr_sockaddr_map6(&io->name, dst);
		io->msg.msg_namelen = sizeof(struct sockaddr_in6);
	} else {
		memcpy(&io->name, &dst->in4, sizeof(dst->in4));
		io->msg.msg_namelen = sizeof(struct sockaddr_in);
	}
	io->iov.iov_base = (void *)data;
	io->iov.iov_len = len;
	io->msg.msg_name = &io->name;
	io->msg.msg_iov = &io->iov;
	io->msg.msg_iovlen = 1;
	if (gso_size && len > gso_size) {
		struct cmsghdr *cm = &io->ctrl.align;

		io->msg.msg_control = io->ctrl.buf;
		io->msg.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
	}
	io_uring_prep_sendmsg(sqe, w->udp_fd, &io->msg, 0);
}

void lr_worker_submit_tun_write(struct lr_worker *w, struct lr_pkt *pkt, const uint8_t *data,
				size_t len)
{
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	if (w->sinks) {
		w->sinks->tun_write(w->sinks->ctx, data, len);
		return;
	}
	sqe = prep(w, pkt, LR_OP_TUN_WRITE, &io);
	if (unlikely(!sqe)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_tun_write_error);
		return;
	}
	io_uring_prep_write(sqe, w->tun_fd, data, (unsigned)len, 0);
}

static bool arm_tun_read(struct lr_worker *w)
{
	struct lr_pkt *pkt = lr_worker_pkt_get(w);
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	if (!pkt)
		return false;
	sqe = prep(w, pkt, LR_OP_TUN_READ, &io);
	lr_worker_pkt_put(w, pkt); /* the operation holds it now */
	if (!sqe)
		return false;
	pkt->data = pkt->buf;
	/* Offset -1: "current position", which a character device ignores. */
	io_uring_prep_read(sqe, w->tun_fd, pkt->data, LR_TUN_READ_MAX, (uint64_t)-1);
	w->tun_reads_armed++;
	return true;
}

static bool arm_udp_recv(struct lr_worker *w)
{
	struct lr_pkt *pkt = lr_worker_pkt_get(w);
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	if (!pkt)
		return false;
	sqe = prep(w, pkt, LR_OP_UDP_RECV, &io);
	lr_worker_pkt_put(w, pkt);
	if (!sqe)
		return false;
	memset(&io->msg, 0, sizeof(io->msg));
	pkt->data = pkt->buf;
	io->iov.iov_base = pkt->buf;
	io->iov.iov_len = 65536;
	io->msg.msg_name = &io->name;
	io->msg.msg_namelen = sizeof(io->name);
	io->msg.msg_iov = &io->iov;
	io->msg.msg_iovlen = 1;
	io->msg.msg_control = io->ctrl.buf;
	io->msg.msg_controllen = sizeof(io->ctrl.buf);
	io_uring_prep_recvmsg(sqe, w->udp_fd, &io->msg, 0);
	w->udp_recvs_armed++;
	return true;
}

static void arm_wake(struct lr_worker *w)
{
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	sqe = prep(w, NULL, LR_OP_WAKE, &io);
	if (!sqe)
		return; /* re-armed on the next loop pass, see worker_main() */
	io_uring_prep_read(sqe, w->wake_fd, &w->wake_buf, sizeof(w->wake_buf), 0);
}

#define LR_IORING_OP_READ_MULTISHOT 49 /* kernel 6.7; Debian 12's liburing predates it */

static void arm_multishot(struct lr_worker *w, enum lr_bgid group)
{
	struct lr_pbuf_ring *r = &w->pbufs[group];
	struct io_uring_sqe *sqe;
	struct lr_io *io;

	if (r->armed || !r->provided)
		return; /* re-armed once buffers come back */
	sqe = prep(w, NULL, group == LR_BGID_TUN ? LR_OP_TUN_READ : LR_OP_UDP_RECV, &io);
	if (!sqe)
		return;
	if (group == LR_BGID_TUN) {
		io_uring_prep_rw(LR_IORING_OP_READ_MULTISHOT, sqe, w->tun_fd, NULL, 0, 0);
	} else {
		io_uring_prep_recvmsg_multishot(sqe, w->udp_fd, &w->recv_tmpl, 0);
	}
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (uint16_t)group;
	r->armed = true;
}

/* Keep the receive side full. Receives are armed before TUN reads so that under pressure the
 * worker keeps draining the network (which frees buffers) rather than taking more local load. */
static void rearm(struct lr_worker *w)
{
	if (w->multishot) {
		arm_multishot(w, LR_BGID_UDP);
		arm_multishot(w, LR_BGID_TUN);
		return;
	}
	/* Single-shot fallback: one request per file, for the reason given in worker.h. */
	if (!w->udp_recvs_armed)
		arm_udp_recv(w);
	if (!w->tun_reads_armed)
		arm_tun_read(w);
}

/* Small packets take the priority lane, unless a bigger packet of their flow still waits in
 * the bulk lane: a flow's packets never overtake each other. */
static bool is_priority(struct lr_worker *w, struct lr_pkt *pkt)
{
	const uint8_t *ip = pkt->data;
	size_t len = pkt->len;

	if (w->dp->tun_vnet_hdr) {
		if (len < LR_VNET_HDR_LEN)
			return true; /* malformed: dropped at once by send.c */
		ip += LR_VNET_HDR_LEN;
		len -= LR_VNET_HDR_LEN;
	}
	pkt->flow_bucket = (uint16_t)(lr_ip_flow_hash(ip, len) % LR_FLOW_BUCKETS);
	/* pkt->data[1] is the virtio gso_type: a super-packet is bulk by definition. */
	if (len > LR_PRIO_MAX_LEN || (w->dp->tun_vnet_hdr && pkt->data[1] != LR_VNET_GSO_NONE))
		return false;
	return w->bulk_flows[pkt->flow_bucket] == 0;
}

static void pktq_push(struct lr_pktq *q, struct lr_pkt *pkt)
{
	q->pkts[(q->head + q->count) % LR_WORKER_POOL] = pkt;
	q->count++;
	q->bytes += pkt->len;
}

static struct lr_pkt *pktq_pop(struct lr_pktq *q)
{
	struct lr_pkt *pkt = q->pkts[q->head];

	q->head = (q->head + 1) % LR_WORKER_POOL;
	q->count--;
	q->bytes -= pkt->len;
	return pkt;
}

static void bulk_push(struct lr_worker *w, struct lr_pkt *pkt)
{
	while (w->bulk.count && w->bulk.bytes + pkt->len > LR_BULK_LIMIT) {
		struct lr_pkt *old = pktq_pop(&w->bulk);

		w->bulk_flows[old->flow_bucket]--;
		lr_stats_drop(&w->dp->stats, LR_DROP_bulk_queue_full);
		lr_worker_pkt_put(w, old);
	}
	pktq_push(&w->bulk, pkt);
	w->bulk_flows[pkt->flow_bucket]++;
}

/* Moves up to max packets of the bulk lanes into the pass's batches. */
static void bulk_take(struct lr_worker *w, struct lr_batch *tx, struct lr_batch *rx, unsigned max)
{
	while (w->bulk.count && tx->n < max) {
		struct lr_pkt *pkt = pktq_pop(&w->bulk);

		w->bulk_flows[pkt->flow_bucket]--;
		tx->pkts[tx->n++] = pkt;
	}
	while (w->rx_bulk.count && rx->n < max)
		rx->pkts[rx->n++] = pktq_pop(&w->rx_bulk);
}

static void tun_read_error(struct lr_worker *w, int res)
{
	/* ENOBUFS: every provided buffer is in use; the read is re-armed when one returns. */
	if (res == -EINTR || res == -EAGAIN || res == 0 || res == -ECANCELED || res == -ENOBUFS)
		return;
	lr_stats_drop(&w->dp->stats, LR_DROP_tun_read_error);
	/* EBADFD/EIO: the interface was deleted (wg-quick down). The daemon exits. */
	if (res == -EBADFD || res == -EIO || res == -ENODEV) {
		atomic_store(&w->dp->fatal, res);
		lr_dataplane_wake_control(w->dp);
		atomic_store(&w->stop, true);
	}
}

static void complete_tun_read(struct lr_worker *w, struct lr_io *io, int res,
			      struct lr_batch *tx)
{
	struct lr_pkt *pkt = io->pkt;

	w->tun_reads_armed--;
	if (unlikely(res <= 0)) {
		tun_read_error(w, res);
		return;
	}
	pkt->len = (uint32_t)res;
	pkt->refs++; /* the lane's reference, dropped by send.c */
	if (is_priority(w, pkt))
		tx->pkts[tx->n++] = pkt;
	else
		bulk_push(w, pkt);
}

static uint16_t gro_size(const struct msghdr *msg)
{
	const struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, (struct cmsghdr *)cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
			int size;

			memcpy(&size, CMSG_DATA(cm), sizeof(size));
			return size > 0 && size < 65536 ? (uint16_t)size : 0;
		}
	}
	return 0;
}

static void complete_udp_recv(struct lr_worker *w, struct lr_io *io, int res,
			      struct lr_batch *rx)
{
	struct lr_pkt *pkt = io->pkt;

	w->udp_recvs_armed--;
	if (unlikely(res <= 0 || (io->msg.msg_flags & MSG_TRUNC))) {
		/* An empty datagram is a runt like any too-short one; errors (an ICMP error
		 * queued on the socket) are not packets at all. */
		if (res == 0 || (res > 0 && (io->msg.msg_flags & MSG_TRUNC)))
			lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		return;
	}
	pkt->len = (uint32_t)res;
	pkt->gso_size = gro_size(&io->msg);
	lr_sockaddr_unmap(&pkt->addr, (const union lr_sockaddr *)&io->name);
	pkt->refs++;
	rx->pkts[rx->n++] = pkt;
}

/* The buffer a multishot completion filled, with the lane's reference; NULL if none. */
static struct lr_pkt *pbuf_take(struct lr_worker *w, enum lr_bgid group,
				const struct io_uring_cqe *cqe)
{
	struct lr_pbuf_ring *r = &w->pbufs[group];
	struct lr_pkt *pkt;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		r->armed = false;
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return NULL;
	r->provided--;
	pkt = &r->pkts[(cqe->flags >> IORING_CQE_BUFFER_SHIFT) % LR_PBUF_COUNT];
	pkt->refs = 1;
	pkt->gso_size = 0;
	pkt->data = pkt->buf;
	if (cqe->res <= 0) {
		lr_worker_pkt_put(w, pkt);
		return NULL;
	}
	return pkt;
}

static void complete_tun_multishot(struct lr_worker *w, const struct io_uring_cqe *cqe,
				   struct lr_batch *tx)
{
	struct lr_pkt *pkt = pbuf_take(w, LR_BGID_TUN, cqe);

	if (pkt) {
		pkt->len = (uint32_t)cqe->res;
		if (is_priority(w, pkt))
			tx->pkts[tx->n++] = pkt;
		else
			bulk_push(w, pkt);
	} else {
		tun_read_error(w, cqe->res);
	}
}

static void complete_udp_multishot(struct lr_worker *w, const struct io_uring_cqe *cqe,
				   struct lr_batch *rx)
{
	struct lr_pkt *pkt = pbuf_take(w, LR_BGID_UDP, cqe);
	struct io_uring_recvmsg_out *out;
	struct cmsghdr *cm;

	if (!pkt)
		return;
	out = io_uring_recvmsg_validate(pkt->buf, cqe->res, &w->recv_tmpl);
	if (unlikely(!out || (out->flags & MSG_TRUNC) || out->namelen > sizeof(struct sockaddr_in6))) {
		lr_stats_drop(&w->dp->stats, LR_DROP_runt);
		lr_worker_pkt_put(w, pkt);
		return;
	}
	pkt->data = io_uring_recvmsg_payload(out, &w->recv_tmpl);
	pkt->len = io_uring_recvmsg_payload_length(out, cqe->res, &w->recv_tmpl);
	if (unlikely(!pkt->len)) {
		lr_stats_drop(&w->dp->stats, LR_DROP_runt); /* an empty datagram */
		lr_worker_pkt_put(w, pkt);
		return;
	}
	for (cm = io_uring_recvmsg_cmsg_firsthdr(out, &w->recv_tmpl); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(out, &w->recv_tmpl, cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
			int size;

			memcpy(&size, CMSG_DATA(cm), sizeof(size));
			pkt->gso_size = size > 0 && size < 65536 ? (uint16_t)size : 0;
		}
	}
	lr_sockaddr_unmap(&pkt->addr, (const union lr_sockaddr *)io_uring_recvmsg_name(out));
	/* A lone small datagram (a game packet, a ping, an ACK) is received at once; GRO trains
	 * and big datagrams wait in the bulk lane, a bounded helping per pass. Unlike the send
	 * side, the inner flow is unknown before decryption, so a small datagram may overtake
	 * bigger ones of its own peer: UDP never promised order, and TCP takes reordering. The
	 * provided buffers bound the lane: when all are queued, the kernel's socket buffer
	 * holds the rest. */
	if (!pkt->gso_size && pkt->len <= LR_PRIO_MAX_LEN + LR_DATA_OVERHEAD + LR_PADDING_MULTIPLE)
		rx->pkts[rx->n++] = pkt;
	else
		pktq_push(&w->rx_bulk, pkt);
}

static void complete(struct lr_worker *w, struct io_uring_cqe *cqe, struct lr_batch *tx,
		     struct lr_batch *rx, bool *woken)
{
	struct lr_io *io = &w->ios[io_uring_cqe_get_data64(cqe) % LR_WORKER_IOS];

	if (w->multishot && (io->op == LR_OP_TUN_READ || io->op == LR_OP_UDP_RECV)) {
		if (io->op == LR_OP_TUN_READ)
			complete_tun_multishot(w, cqe, tx);
		else
			complete_udp_multishot(w, cqe, rx);
		/* The request lives on while the kernel says MORE. */
		if (!(cqe->flags & IORING_CQE_F_MORE))
			io_put(w, io);
		return;
	}

	switch (io->op) {
	case LR_OP_TUN_READ:
		complete_tun_read(w, io, cqe->res, tx);
		break;
	case LR_OP_UDP_RECV:
		complete_udp_recv(w, io, cqe->res, rx);
		break;
	case LR_OP_UDP_SEND:
		if (unlikely(cqe->res < 0))
			lr_stats_drop(&w->dp->stats, LR_DROP_send_error);
		break;
	case LR_OP_TUN_WRITE:
		if (unlikely(cqe->res < 0))
			lr_stats_drop(&w->dp->stats, LR_DROP_tun_write_error);
		break;
	case LR_OP_WAKE:
		*woken = true;
		break;
	}
	io_put(w, io);
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

/* io_uring_enable_rings is declared by Debian's liburing 2.3 but missing from its library. */
static int enable_ring(struct lr_worker *w)
{
	return (int)syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
			    NULL, 0);
}

static void *worker_main(void *arg)
{
	struct lr_worker *w = arg;
	struct lr_batch tx = { .n = 0 }, rx = { .n = 0 };
	struct io_uring_cqe *cqes[LR_BATCH_MAX];

	if (w->ring_disabled && enable_ring(w) < 0) {
		/* Cannot happen on a kernel that accepted the flags; stop rather than spin. */
		atomic_store(&w->dp->fatal, -EIO);
		lr_dataplane_wake_control(w->dp);
		return NULL;
	}
	arm_wake(w);
	rearm(w);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		bool woken = false;
		unsigned n, i;

		if (w->bulk.count || w->rx_bulk.count) {
			/* Bulk waits: push out what is queued and collect completions, but do not
			 * sleep (with deferred task work, completions appear only when asked). */
			io_uring_submit_and_get_events(&w->ring);
		} else {
			/* Offline while asleep: the control thread may reclaim without us. */
			lr_qsbr_offline(w->qsbr);
			io_uring_submit_and_wait(&w->ring, 1);
			lr_qsbr_online(&w->dp->qsbr, w->qsbr);
		}
		/* Each completion adds at most one packet to tx or rx, so LR_BATCH_MAX bounds both.
		 * Small packets go out first, in their own pass, and are submitted before any bulk
		 * encryption starts: that is the priority lane. */
		while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, LR_BATCH_MAX)) > 0) {
			for (i = 0; i < n; i++)
				complete(w, cqes[i], &tx, &rx, &woken);
			io_uring_cq_advance(&w->ring, n);
			run_batch(w, &tx, &rx);
			rearm(w);
		}
		io_uring_submit(&w->ring);
		/* Then a bounded helping of bulk, and back to look for new completions. */
		bulk_take(w, &tx, &rx, LR_BULK_BUDGET);
		run_batch(w, &tx, &rx);
		if (woken) {
			w->now = lr_now_ns();
			lr_handoff_drain(w);
			lr_send_handle_requests(w);
			arm_wake(w);
		}
		rearm(w);
		lr_qsbr_quiescent(&w->dp->qsbr, w->qsbr);
	}
	lr_qsbr_offline(w->qsbr);
	return NULL;
}

static bool probe_multishot(struct lr_worker *w)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&w->ring);
	bool ok;

	if (!probe)
		return false;
	/* Multishot recvmsg came in 6.0, before READ_MULTISHOT (6.7): one probe covers both. */
	ok = io_uring_opcode_supported(probe, LR_IORING_OP_READ_MULTISHOT);
	io_uring_free_probe(probe);
	return ok && !getenv("LR_NO_MULTISHOT");
}

static size_t pbuf_ring_bytes(void)
{
	return LR_PBUF_COUNT * sizeof(struct io_uring_buf);
}

static void pbufs_free(struct lr_worker *w)
{
	for (int g = 0; g < LR_BGID_COUNT; g++) {
		struct lr_pbuf_ring *r = &w->pbufs[g];

		if (r->br)
			munmap(r->br, pbuf_ring_bytes());
		if (r->mem)
			munmap(r->mem, (size_t)LR_PBUF_COUNT * LR_PBUF_SIZE);
		r->br = NULL;
		r->mem = NULL;
	}
}

/* Two rings of provided buffers, registered with the kernel (the setup liburing 2.4 wraps as
 * io_uring_setup_buf_ring, done by hand for Debian's 2.3). */
static int pbufs_setup(struct lr_worker *w)
{
	/* The layout the kernel writes multishot recvmsg buffers in: header, name, control. */
	w->recv_tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	w->recv_tmpl.msg_controllen = CMSG_SPACE(sizeof(int));
	for (int g = 0; g < LR_BGID_COUNT; g++) {
		struct lr_pbuf_ring *r = &w->pbufs[g];
		struct io_uring_buf_reg reg = { 0 };

		r->br = mmap(NULL, pbuf_ring_bytes(), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		r->mem = mmap(NULL, (size_t)LR_PBUF_COUNT * LR_PBUF_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->br == MAP_FAILED || r->mem == MAP_FAILED) {
			r->br = r->br == MAP_FAILED ? NULL : r->br;
			r->mem = r->mem == MAP_FAILED ? NULL : r->mem;
			goto err;
		}
		io_uring_buf_ring_init(r->br);
		reg.ring_addr = (uint64_t)(uintptr_t)r->br;
		reg.ring_entries = LR_PBUF_COUNT;
		reg.bgid = (uint16_t)g;
		if (io_uring_register_buf_ring(&w->ring, &reg, 0))
			goto err;
		for (unsigned i = 0; i < LR_PBUF_COUNT; i++) {
			struct lr_pkt *pkt = &r->pkts[i];

			pkt->idx = (uint16_t)i;
			pkt->group = (int8_t)g;
			pkt->buf = r->mem + (size_t)i * LR_PBUF_SIZE;
			pbuf_give(w, pkt);
		}
	}
	return 0;
err:
	pbufs_free(w);
	return -ENOMEM;
}

static size_t arena_size(void)
{
	return (size_t)LR_WORKER_POOL * LR_PKT_BUF_SIZE;
}

/* The ring runs task work only when the worker asks for completions (DEFER_TASKRUN, kernel
 * 6.1), instead of interrupting it mid-batch: the interrupt-return paths were 17% of the
 * worker's profile. That needs a single issuer, which the kernel pins to the thread that
 * enables the ring; so it starts disabled (the buffer rings are registered from this thread)
 * and worker_main enables it. Older kernels get COOP_TASKRUN, then plain. */
static int ring_init(struct lr_worker *w)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int ret = -EINVAL;

	for (unsigned t = 0; t < LR_ARRAY_SIZE(tries); t++) {
		struct io_uring_params p = { .flags = tries[t] };

		if (getenv("LR_NO_DEFER_TASKRUN") && (tries[t] & IORING_SETUP_DEFER_TASKRUN))
			continue;
		ret = io_uring_queue_init_params(LR_WORKER_RING, &w->ring, &p);
		if (ret == 0) {
			w->ring_disabled = tries[t] & IORING_SETUP_R_DISABLED;
			w->defer_taskrun = tries[t] & IORING_SETUP_DEFER_TASKRUN;
			return 0;
		}
	}
	return ret;
}

static int worker_setup(struct lr_worker *w, struct lr_dataplane *dp, unsigned id)
{
	int ret;

	w->dp = dp;
	w->id = id;
	w->tun_fd = dp->tun_fds[id];
	w->udp_fd = dp->udp_fds[id];
	w->arena = mmap(NULL, arena_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (w->arena == MAP_FAILED)
		return -ENOMEM;
	for (unsigned i = 0; i < LR_WORKER_POOL; i++) {
		w->pkts[i].idx = (uint16_t)i;
		w->pkts[i].group = -1;
		w->pkts[i].buf = w->arena + (size_t)i * LR_PKT_BUF_SIZE;
		w->free_list[i] = (uint16_t)(LR_WORKER_POOL - 1 - i);
	}
	w->n_free = LR_WORKER_POOL;
	for (unsigned i = 0; i < LR_WORKER_IOS; i++) {
		w->ios[i].idx = (uint16_t)i;
		w->free_ios[i] = (uint16_t)(LR_WORKER_IOS - 1 - i);
	}
	w->n_free_ios = LR_WORKER_IOS;
	ret = lr_aead_batch_ctx_create(&w->aead, 0);
	if (ret)
		goto err_arena;
	w->wake_fd = -1;
	if (w->sinks)
		return 0;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		ret = -errno;
		goto err_aead;
	}
	ret = ring_init(w);
	if (ret < 0)
		goto err_wake;
	w->qsbr = lr_qsbr_reader_register(&dp->qsbr);
	if (!w->qsbr) {
		ret = -ENOSPC;
		goto err_ring;
	}
	w->multishot = probe_multishot(w) && pbufs_setup(w) == 0;
	return 0;

err_ring:
	io_uring_queue_exit(&w->ring);
err_wake:
	close(w->wake_fd);
err_aead:
	lr_aead_batch_ctx_destroy(w->aead);
err_arena:
	munmap(w->arena, arena_size());
	return ret;
}

static void worker_teardown(struct lr_worker *w)
{
	/* Exiting the ring cancels the reads still armed; only then are the buffers free. */
	if (!w->sinks) {
		io_uring_queue_exit(&w->ring);
		close(w->wake_fd);
	}
	pbufs_free(w);
	lr_aead_batch_ctx_destroy(w->aead);
	munmap(w->arena, arena_size());
	free(w);
}

int lr_worker_create_detached(struct lr_dataplane *dp, unsigned id,
			      const struct lr_worker_sinks *sinks, struct lr_worker **out)
{
	struct lr_worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->sinks = sinks;
	ret = worker_setup(w, dp, id);
	if (ret) {
		free(w);
		return ret;
	}
	w->now = lr_now_ns();
	*out = w;
	return 0;
}

void lr_worker_destroy_detached(struct lr_worker *w)
{
	if (w)
		worker_teardown(w);
}

static int worker_start(struct lr_dataplane *dp, unsigned id, struct lr_worker **out)
{
	struct lr_worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	ret = worker_setup(w, dp, id);
	if (ret) {
		free(w);
		return ret;
	}
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	if (ret) {
		worker_teardown(w);
		return ret;
	}
	*out = w;
	return 0;
}

static void worker_stop(struct lr_worker *w)
{
	atomic_store(&w->stop, true);
	eventfd_write(w->wake_fd, 1);
	pthread_join(w->thread, NULL);
	worker_teardown(w);
}

int lr_dataplane_start(struct lr_dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		int ret = worker_start(dp, i, &dp->workers[i]);

		if (ret) {
			lr_dataplane_stop(dp);
			return ret;
		}
	}
	return 0;
}

void lr_dataplane_stop(struct lr_dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		if (dp->workers[i])
			worker_stop(dp->workers[i]);
		dp->workers[i] = NULL;
	}
	/* Whatever was in flight between workers is gone with them. */
	for (unsigned i = 0; i < dp->n_workers * dp->n_workers && dp->n_workers > 1; i++) {
		while (lr_ring_peek(&dp->handoff[i]))
			lr_ring_pop(&dp->handoff[i]);
	}
}

void lr_worker_wake(struct lr_worker *w)
{
	/* A detached worker (tests, bench) has no eventfd: whoever drives it polls. */
	if (w && w->wake_fd >= 0)
		eventfd_write(w->wake_fd, 1);
}

void lr_dataplane_request(struct lr_dataplane *dp, struct lr_peer *peer, uint32_t bits)
{
	uint32_t old = atomic_fetch_or(&peer->worker_requests, bits);

	if ((old & bits) != bits)
		lr_worker_wake(dp->workers[peer->owner % dp->n_workers]);
}
