/* One data-plane worker's private state: its io_uring, its packet buffers, the io_uring
 * operations in flight, and the batches it moves between stages. Shared only inside dataplane/
 * (worker.c, send.c, receive.c, handoff.c). */
#ifndef LR_DATAPLANE_WORKER_H
#define LR_DATAPLANE_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "crypto/aead_batch.h"
#include "dataplane/dataplane.h"
#include "tun/offload.h"

/* A buffer holds one TUN read (a virtio-net header and a super-packet of up to 64 KiB), one UDP
 * receive (up to 64 KiB of GRO-coalesced datagrams), or one train of encrypted messages, whose
 * framing (header, padding, tag per segment) makes it up to a few percent larger than the
 * super-packet it came from. Pages a packet never touches are never faulted in. */
#define LR_PKT_HEADROOM sizeof(struct lr_msg_data)
#define LR_PKT_BUF_SIZE (128 * 1024)
#define LR_TUN_READ_MAX (LR_VNET_HDR_LEN + 65535)

#define LR_WORKER_POOL 256      /* buffers per worker: bounds everything queued inside it */
#define LR_WORKER_IOS 1024      /* io_uring operations in flight, at most */
/* Reads and receives are multishot requests that pick buffers from rings we provide: one
 * request per file, never several polling the same file (each wake-up would find all of them
 * ready, and the losers get punted to blocking io-wq threads: a thread hop per packet). */
#define LR_PBUF_COUNT 64                 /* provided buffers per ring, a power of two */
#define LR_PBUF_SIZE (68 * 1024)         /* a TUN read or a GRO receive, with its headers */
enum lr_bgid { LR_BGID_TUN = 0, LR_BGID_UDP = 1, LR_BGID_COUNT };
#define LR_WORKER_RING 2048     /* submission queue entries */
#define LR_BATCH_MAX 64         /* completions reaped per pass */
/* The priority lane: a TUN packet this small (IP bytes) that is not a super-packet skips the
 * bulk queue. Game traffic, DNS, ACKs and pings are far below it; bulk data is far above. */
#define LR_PRIO_MAX_LEN 256
/* The bulk queue between TUN reads and encryption: at most this many bytes (about 1 ms at
 * 4 Gbit/s), and this many super-packets (or GRO receives) handled per pass before the worker
 * looks for new completions again: about 50 us of work, the most a small packet waits behind
 * bulk inside the worker. Measured: a budget of 4 doubled the RTT tail under load, 1 cost 15%
 * of the throughput (docs/PERFORMANCE.md). Beyond the limit the oldest bulk packet is dropped, so TCP learns of the
 * congestion at once instead of after a long standing queue (head drop, as CoDel does). */
#define LR_BULK_LIMIT (512 * 1024)
#define LR_BULK_BUDGET 2
#define LR_FLOW_BUCKETS 1024
#define LR_TRAIN_MAX_SEGS LR_GSO_MAX_SEGS
#define LR_UDP_MAX_PAYLOAD 65507 /* the UDP length field's limit, minus the IPv4 header */
#define LR_MSGS_MAX (LR_BATCH_MAX * LR_TRAIN_MAX_SEGS) /* messages one pass can produce */

enum lr_op {
	LR_OP_TUN_READ = 1, /* multishot, or a single read where the kernel lacks it */
	LR_OP_UDP_RECV,     /* multishot recvmsg, or a single one */
	LR_OP_UDP_SEND,
	LR_OP_TUN_WRITE,
	LR_OP_WAKE,
};

struct lr_pkt {
	uint8_t *buf;
	uint8_t *data; /* start of the bytes the current stage works on */
	uint32_t len;
	uint16_t idx;
	uint16_t refs;          /* io_uring operations still using the buffer */
	uint16_t gso_size;      /* receive: the GRO segment size, 0 for one datagram */
	uint16_t flow_bucket;   /* bulk lane: its slot in lr_worker.bulk_flows */
	int8_t group;           /* enum lr_bgid of a provided buffer, -1 for the pool */
	union lr_sockaddr addr; /* datagram source (receive) */
};

/* One io_uring operation in flight and what the kernel reads from us until it completes. */
struct lr_io {
	struct lr_pkt *pkt;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in6 name;
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	uint16_t idx;
	uint8_t op;
};

struct lr_batch {
	struct lr_pkt *pkts[LR_BATCH_MAX];
	unsigned n;
};

/* A train: equal-size messages to one peer in one buffer, sent with one UDP GSO sendmsg. */
struct lr_train {
	struct lr_pkt *pkt;
	struct lr_peer *peer;
	struct lr_keypair *kp;
	union lr_sockaddr dst;
	size_t stride;   /* size of every message but the last */
	size_t used;     /* bytes of messages so far */
	unsigned count;
	unsigned first_op; /* its messages' AEAD ops: first_op .. first_op + count - 1 */
	bool closed;     /* ended by a shorter message: nothing may follow */
};

/* A decrypted datagram waiting for the replay check and the TUN write. */
struct lr_rx_msg {
	struct lr_keypair *kp;
	struct lr_pkt *pkt;
	union lr_sockaddr *src;
	uint32_t datagram_len;
	uint64_t counter;
};

/* Where a detached worker's output goes (tests and lanrage-bench): called synchronously, the
 * bytes are only valid during the call. */
struct lr_worker_sinks {
	void (*send)(void *ctx, const uint8_t *data, size_t len, uint16_t gso_size,
		     const union lr_sockaddr *dst);
	void (*tun_write)(void *ctx, const uint8_t *data, size_t len);
	void *ctx;
};

/* A ring of buffers provided to the kernel for one multishot request. */
struct lr_pbuf_ring {
	struct io_uring_buf_ring *br;
	uint8_t *mem;
	unsigned provided;  /* buffers the kernel holds */
	bool armed;         /* the multishot request is live */
	struct lr_pkt pkts[LR_PBUF_COUNT];
};

/* FIFO of read buffers waiting for encryption (the bulk lane). */
struct lr_pktq {
	struct lr_pkt *pkts[LR_WORKER_POOL];
	unsigned head, count;
	size_t bytes;
};

struct lr_worker {
	struct lr_dataplane *dp;
	const struct lr_worker_sinks *sinks; /* NULL: io_uring */
	unsigned id;
	int tun_fd;
	int udp_fd;
	struct io_uring ring;
	pthread_t thread;
	struct lr_qsbr_reader *qsbr;
	struct lr_aead_batch_ctx *aead;
	int wake_fd;
	uint64_t wake_buf;
	_Atomic bool stop;
	struct lr_pktq bulk;    /* TUN reads waiting for encryption */
	struct lr_pktq rx_bulk; /* receives waiting for decryption */
	uint16_t bulk_flows[LR_FLOW_BUCKETS]; /* queued bulk packets per flow hash bucket */
	bool multishot;              /* the kernel has READ_MULTISHOT and multishot recvmsg */
	bool ring_disabled;          /* created disabled; worker_main enables it */
	bool defer_taskrun;          /* task work runs only when we wait or get events */
	struct lr_pbuf_ring pbufs[LR_BGID_COUNT];
	struct msghdr recv_tmpl;     /* layout of multishot recvmsg buffers */
	unsigned tun_reads_armed;    /* single-shot fallback */
	unsigned udp_recvs_armed;
	uint64_t now; /* lr_now_ns() at the start of the current batch */
	struct lr_pkt pkts[LR_WORKER_POOL];
	uint16_t free_list[LR_WORKER_POOL];
	unsigned n_free;
	struct lr_io ios[LR_WORKER_IOS];
	uint16_t free_ios[LR_WORKER_IOS];
	unsigned n_free_ios;
	uint8_t *arena;
	/* Scratch for one pass, reused: never allocated on the packet path. */
	struct lr_aead_batch_op ops[LR_MSGS_MAX];
	struct lr_rx_msg rx_msgs[LR_MSGS_MAX];
	struct lr_offload_pkt inner[LR_MSGS_MAX];
	struct lr_offload_group groups[LR_MSGS_MAX];
	uint16_t next[LR_MSGS_MAX];
	uint16_t seg_len[LR_TRAIN_MAX_SEGS];
};

/* worker.c: buffers and submissions. */
void lr_worker_wake(struct lr_worker *w);
struct lr_pkt *lr_worker_pkt_get(struct lr_worker *w);
/* Drops the caller's reference; the buffer returns to the pool when no operation uses it. */
void lr_worker_pkt_put(struct lr_worker *w, struct lr_pkt *pkt);
/* Queue a send of len bytes at data (inside pkt's buffer) to dst, as messages of gso_size
 * bytes (0: one datagram). Takes a reference on pkt for the operation. */
void lr_worker_submit_send(struct lr_worker *w, struct lr_pkt *pkt, const uint8_t *data,
			   size_t len, uint16_t gso_size, const union lr_sockaddr *dst);
/* Queue a TUN write of len bytes at data inside pkt; takes a reference for the operation. */
void lr_worker_submit_tun_write(struct lr_worker *w, struct lr_pkt *pkt, const uint8_t *data,
				size_t len);

/* A worker without a thread or an io_uring, whose sends and TUN writes go to sinks: the
 * pipeline minus the kernel, for tests and lanrage-bench. Feed it batches of buffers taken
 * with lr_worker_pkt_get (pkt->data = pkt->buf, pkt->len set, as a read would leave them). */
int lr_worker_create_detached(struct lr_dataplane *dp, unsigned id,
			      const struct lr_worker_sinks *sinks, struct lr_worker **out);
void lr_worker_destroy_detached(struct lr_worker *w);

/* send.c: TUN -> peers. pkt->data points at what the TUN read returned (a virtio-net header
 * first when the device has one). */
void lr_send_batch(struct lr_worker *w, struct lr_batch *b);
void lr_send_handle_requests(struct lr_worker *w);

/* receive.c: UDP -> TUN or the control thread. */
void lr_receive_batch(struct lr_worker *w, struct lr_batch *b);

/* handoff.c: packets for peers another worker owns. */
/* Copies the len bytes at data to the owner's ring (drop counted when full or too big). */
void lr_handoff_push(struct lr_worker *w, unsigned owner, enum lr_handoff_kind kind,
		     const uint8_t *data, size_t len, const union lr_sockaddr *addr);
/* Takes what other workers handed to w and feeds it through w's own send/receive paths. */
void lr_handoff_drain(struct lr_worker *w);

#endif
