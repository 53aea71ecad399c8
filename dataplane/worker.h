/* One data-plane worker's private state: its io_uring, its packet buffers and the batches it
 * moves between stages. Shared only inside dataplane/ (worker.c, send.c, receive.c). */
#ifndef LR_DATAPLANE_WORKER_H
#define LR_DATAPLANE_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "dataplane/dataplane.h"

/* A buffer holds one packet with room for the data header in front and the padding and tag
 * behind, so encryption and decryption both happen in place. 64 KiB covers any MTU the TUN
 * device can have; pages a packet never touches are never faulted in. */
#define LR_PKT_HEADROOM sizeof(struct lr_msg_data)
#define LR_PKT_TAILROOM (LR_PADDING_MULTIPLE + LR_TAG_LEN)
#define LR_PKT_BUF_SIZE (65536 + LR_PKT_HEADROOM + LR_PKT_TAILROOM)
#define LR_PKT_MAX_PLAIN (LR_PKT_BUF_SIZE - LR_PKT_HEADROOM - LR_PKT_TAILROOM)

#define LR_WORKER_POOL 256      /* buffers per worker: bounds everything queued inside it */
#define LR_WORKER_TUN_READS 32  /* reads kept armed on the TUN queue */
#define LR_WORKER_UDP_RECVS 32  /* receives kept armed on the UDP socket */
#define LR_WORKER_RING 1024     /* submission queue entries */
#define LR_BATCH_MAX 64

enum lr_op {
	LR_OP_TUN_READ = 1,
	LR_OP_UDP_RECV,
	LR_OP_UDP_SEND,
	LR_OP_TUN_WRITE,
	LR_OP_WAKE,
};

struct lr_pkt {
	uint8_t *buf;
	uint8_t *data; /* start of the bytes the current stage works on */
	uint32_t len;
	uint16_t idx;
	union lr_sockaddr addr;   /* datagram source (receive) */
	struct sockaddr_in6 name; /* msg_name for the io_uring op in flight */
	struct msghdr msg;
	struct iovec iov;
};

struct lr_batch {
	struct lr_pkt *pkts[LR_BATCH_MAX];
	unsigned n;
};

struct lr_worker {
	struct lr_dataplane *dp;
	unsigned id;
	int tun_fd;
	int udp_fd;
	struct io_uring ring;
	pthread_t thread;
	struct lr_qsbr_reader *qsbr;
	int wake_fd;
	uint64_t wake_buf;
	_Atomic bool stop;
	unsigned tun_reads_armed;
	unsigned udp_recvs_armed;
	uint64_t now; /* lr_now_ns() at the start of the current batch */
	struct lr_pkt pkts[LR_WORKER_POOL];
	uint16_t free_list[LR_WORKER_POOL];
	unsigned n_free;
	uint8_t *arena;
};

/* worker.c: buffers and submissions. */
void lr_worker_wake(struct lr_worker *w);
struct lr_pkt *lr_worker_pkt_get(struct lr_worker *w);
void lr_worker_pkt_put(struct lr_worker *w, struct lr_pkt *pkt);
/* Queue a send of pkt->data/len to dst; takes ownership of pkt. */
void lr_worker_submit_send(struct lr_worker *w, struct lr_pkt *pkt, const union lr_sockaddr *dst);
/* Queue a TUN write of pkt->data/len; takes ownership of pkt. */
void lr_worker_submit_tun_write(struct lr_worker *w, struct lr_pkt *pkt);

/* send.c: TUN -> peers. */
void lr_send_batch(struct lr_worker *w, struct lr_batch *b);
void lr_send_handle_requests(struct lr_worker *w);

/* receive.c: UDP -> TUN or the control thread. */
void lr_receive_batch(struct lr_worker *w, struct lr_batch *b);

/* handoff.c: packets for peers another worker owns. */
/* Copies pkt's bytes to the owner's ring (drop counted when full or too big). */
void lr_handoff_push(struct lr_worker *w, unsigned owner, enum lr_handoff_kind kind,
		     const struct lr_pkt *pkt);
/* Takes what other workers handed to w and feeds it through w's own send/receive paths. */
void lr_handoff_drain(struct lr_worker *w);

#endif
