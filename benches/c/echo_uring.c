/*
 * A hand-tuned C echo server on liburing: the comparison point for ringcore's echo servers
 * in benches/echo.rs (server kind "c_uring"; benches/support/echo_servers.rs builds and
 * starts it).
 *
 * It does what liburing's own examples do for a fast TCP server, on one thread and one
 * ring:
 *
 * - the ring is set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
 *   (completions run only when this thread enters the ring), falling back to
 *   IORING_SETUP_COOP_TASKRUN and then to no flags where the kernel refuses them, and its
 *   fd is registered (io_uring_register_ring_fd) so io_uring_enter(2) skips the fd lookup;
 * - one multishot accept (io_uring_prep_multishot_accept) on the listener;
 * - per connection, one multishot receive (io_uring_prep_recv_multishot with
 *   IOSQE_BUFFER_SELECT) into a provided-buffer ring (io_uring_register_buf_ring) shared by
 *   every connection;
 * - each accepted socket is registered in the ring's file table (a sparse table, slot = fd,
 *   io_uring_register_files_update) and its receives and sends name the slot
 *   (IOSQE_FIXED_FILE), so the kernel skips the fget/fput of every op; the slot is emptied
 *   before the fd closes. `--no-fixed` turns this off (plain fds);
 * - each received buffer is sent back as it is (io_uring_prep_send from the pooled buffer,
 *   no copy), one send in flight per connection so bytes leave in order (later buffers wait
 *   in a per-connection queue linked through the buffer ids), a short send resent from
 *   where it stopped; the buffer goes back to the ring when its send is done;
 * - one io_uring_submit_and_wait(ring, 1) per loop, then every ready completion is handled
 *   (io_uring_for_each_cqe) and the CQ and buffer ring advanced once for the batch.
 *
 * When every buffer is in flight a receive ends with -ENOBUFS; the connection waits in a
 * list and its receive is re-armed once a buffer comes back. A connection is closed when
 * its receive has ended (end of stream or error) and its last send completed; a failed send
 * shuts the socket down, which ends the receive.
 *
 * Usage: echo_uring [--port N] [--buffers N] [--buffer-size BYTES] [--no-fixed]
 *   --port         TCP port on 127.0.0.1 (default 0: any free port)
 *   --buffers      provided buffers in the ring, a power of two (default 256)
 *   --buffer-size  bytes per buffer (default 16384)
 *   --no-fixed     plain fds in every op instead of registered files
 *
 * It prints one line "ADDR 127.0.0.1:PORT" on stdout once listening, then serves until
 * killed. Errors at start-up go to stderr with exit status 1.
 *
 * Build: cc -O2 -Wall -o echo_uring benches/c/echo_uring.c -luring
 * (liburing 2.3 or newer: Debian's liburing-dev; scripts/bench-deps.sh installs it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BGID 1
#define OP_ACCEPT 1ULL
#define OP_RECV 2ULL
#define OP_SEND 3ULL

/* user_data: the op in the high 32 bits, the fd in the low 32. */
#define UD(op, fd) (((op) << 32) | (uint32_t)(fd))
#define UD_OP(ud) ((ud) >> 32)
#define UD_FD(ud) ((int)(uint32_t)(ud))

struct conn {
	int head;	  /* first queued buffer id (the one being sent), -1 when none */
	int tail;	  /* last queued buffer id, -1 when none */
	unsigned off;	  /* bytes of the head buffer already sent */
	char recv_armed;  /* a multishot receive is in flight */
	char sending;	  /* a send is in flight */
	char eof;	  /* the receive ended for good (peer closed, error) */
	char waiting;	  /* in the -ENOBUFS wait list */
	char failed;	  /* a send failed: received bytes are dropped */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;
static unsigned nbufs = 256, buf_size = 16384;
static int buf_mask;
static int *next_bid;	    /* queue links through buffer ids */
static unsigned *buf_len;   /* received bytes in each queued buffer */
static struct conn *conns;  /* indexed by fd */
static int max_fd;
static int *waiters;	    /* fds waiting for a buffer */
static int nwaiters;
static int returned;	    /* buffers given back in this batch, not yet advanced */
static int fixed = 1;	    /* sockets are registered files (slot = fd) */

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_uring: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		/* SQ full: hand what is queued to the kernel and take a fresh entry. */
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			die("io_uring_get_sqe", EBUSY);
	}
	return sqe;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT | (fixed ? IOSQE_FIXED_FILE : 0);
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
	conns[fd].recv_armed = 1;
}

static void arm_accept(int lfd)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));
}

static void send_head(int fd)
{
	struct conn *c = &conns[fd];
	int bid = c->head;
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, fd, bufs + (size_t)bid * buf_size + c->off,
			   buf_len[bid] - c->off, MSG_NOSIGNAL);
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
	c->sending = 1;
}

static void give_back(int bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * buf_size, buf_size, bid, buf_mask,
			      returned);
	returned++;
}

/* Gives every queued buffer of the connection back to the ring. */
static void drop_queue(struct conn *c)
{
	while (c->head >= 0) {
		int bid = c->head;
		c->head = next_bid[bid];
		give_back(bid);
	}
	c->tail = -1;
	c->off = 0;
}

/* Closes the connection once nothing of it is in flight. */
static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	if (c->recv_armed || c->sending || c->waiting || !c->eof)
		return;
	drop_queue(c);
	if (fixed) {
		int none = -1;
		io_uring_register_files_update(&ring, fd, &none, 1);
	}
	close(fd);
}

static void on_recv(int fd, int res, unsigned flags)
{
	struct conn *c = &conns[fd];
	if (!(flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (res > 0) {
		int bid = flags >> IORING_CQE_BUFFER_SHIFT;
		if (c->failed) {
			/* Nowhere to send it: the buffer goes straight back. */
			give_back(bid);
			if (!c->recv_armed)
				maybe_close(fd);
			return;
		}
		buf_len[bid] = res;
		next_bid[bid] = -1;
		if (c->tail >= 0)
			next_bid[c->tail] = bid;
		else
			c->head = bid;
		c->tail = bid;
		if (!c->sending)
			send_head(fd);
		if (!c->recv_armed && !c->eof)
			arm_recv(fd);
		return;
	}
	if (res == -ENOBUFS && !c->eof) {
		/* Every buffer is in flight: re-arm when one comes back. */
		if (!c->recv_armed && !c->waiting) {
			c->waiting = 1;
			waiters[nwaiters++] = fd;
		}
		return;
	}
	/* End of stream or an error: the receive is over. */
	c->eof = 1;
	if (c->recv_armed) {
		/* Cannot happen for a final result, but never close under a live receive. */
		return;
	}
	maybe_close(fd);
}

static void on_send(int fd, int res)
{
	struct conn *c = &conns[fd];
	c->sending = 0;
	if (res < 0) {
		/* The peer is gone: its queued bytes are dropped at once (the buffers may be
		 * what other connections wait for), the receive is ended, then it closes. */
		c->eof = 1;
		c->failed = 1;
		drop_queue(c);
		shutdown(fd, SHUT_RDWR);
		maybe_close(fd);
		return;
	}
	int bid = c->head;
	c->off += res;
	if (c->off < buf_len[bid]) {
		send_head(fd);
		return;
	}
	c->off = 0;
	c->head = next_bid[bid];
	if (c->head < 0)
		c->tail = -1;
	give_back(bid);
	if (c->head >= 0)
		send_head(fd);
	else
		maybe_close(fd);
}

static void on_accept(int lfd, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE))
		arm_accept(lfd);
	if (res < 0)
		return;
	if (res >= max_fd) {
		close(res);
		return;
	}
	int one = 1;
	setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fixed && io_uring_register_files_update(&ring, res, &res, 1) != 1) {
		close(res);
		return;
	}
	struct conn *c = &conns[res];
	memset(c, 0, sizeof(*c));
	c->head = c->tail = -1;
	arm_recv(res);
}

static int setup_ring(void)
{
	unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	for (unsigned i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = 65536;
		int ret = io_uring_queue_init_params(4096, &ring, &p);
		if (ret == 0)
			return 0;
		if (ret != -EINVAL)
			die("io_uring_queue_init_params", -ret);
	}
	die("io_uring_queue_init_params", EINVAL);
	return -1;
}

static void setup_buffers(void)
{
	size_t ring_bytes = nbufs * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		die("mmap buffer ring", errno);
	bufs = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (bufs == MAP_FAILED)
		die("mmap buffers", errno);
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = nbufs;
	reg.bgid = BGID;
	int ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret)
		die("io_uring_register_buf_ring", -ret);
	io_uring_buf_ring_init(br);
	buf_mask = io_uring_buf_ring_mask(nbufs);
	for (unsigned i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * buf_size, buf_size, i, buf_mask, i);
	io_uring_buf_ring_advance(br, nbufs);
	next_bid = calloc(nbufs, sizeof(*next_bid));
	buf_len = calloc(nbufs, sizeof(*buf_len));
	if (!next_bid || !buf_len)
		die("calloc", ENOMEM);
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)))
		die("bind", errno);
	if (listen(fd, SOMAXCONN))
		die("listen", errno);
	socklen_t len = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &len))
		die("getsockname", errno);
	printf("ADDR 127.0.0.1:%d\n", ntohs(addr.sin_port));
	fflush(stdout);
	return fd;
}

static unsigned parse(const char *flag, const char *v)
{
	char *end;
	unsigned long n = v ? strtoul(v, &end, 10) : 0;
	if (!v || *end || n > (1UL << 30)) {
		fprintf(stderr, "echo_uring: %s needs a number\n", flag);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port"))
			port = parse(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--buffers"))
			nbufs = parse(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--buffer-size"))
			buf_size = parse(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--no-fixed"))
			fixed = 0;
		else {
			fprintf(stderr,
				"usage: echo_uring [--port N] [--buffers N] [--buffer-size BYTES] "
				"[--no-fixed]\n");
			return 2;
		}
	}
	if (nbufs == 0 || nbufs > 32768 || (nbufs & (nbufs - 1)) || buf_size == 0) {
		fprintf(stderr, "echo_uring: --buffers: a power of two up to 32768\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
		getrlimit(RLIMIT_NOFILE, &lim);
	}
	max_fd = lim.rlim_cur > (1 << 20) ? (1 << 20) : (int)lim.rlim_cur;
	conns = calloc(max_fd, sizeof(*conns));
	waiters = calloc(max_fd, sizeof(*waiters));
	if (!conns || !waiters)
		die("calloc", ENOMEM);

	setup_ring();
	io_uring_register_ring_fd(&ring); /* an optimisation only: ignore a refusal */
	setup_buffers();
	if (fixed) {
		int ret = io_uring_register_files_sparse(&ring, max_fd);
		if (ret)
			die("io_uring_register_files_sparse", -ret);
	}
	int lfd = listen_on(port);
	arm_accept(lfd);

	for (;;) {
		int ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			die("io_uring_submit_and_wait", -ret);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int fd = UD_FD(ud);
			switch (UD_OP(ud)) {
			case OP_ACCEPT:
				on_accept(fd, cqe->res, cqe->flags);
				break;
			case OP_RECV:
				on_recv(fd, cqe->res, cqe->flags);
				break;
			case OP_SEND:
				on_send(fd, cqe->res);
				break;
			}
			seen++;
		}
		if (returned) {
			/* One release store for the batch's returned buffers. */
			io_uring_buf_ring_advance(br, returned);
			returned = 0;
			while (nwaiters > 0) {
				int fd = waiters[--nwaiters];
				conns[fd].waiting = 0;
				if (conns[fd].eof)
					maybe_close(fd);
				else
					arm_recv(fd);
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}
