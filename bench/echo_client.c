/*
** Closed-loop load client for the echo servers: the same client drives
** every runtime's server.
**
**   echo_client PORT RUNTIME [CONNS=100] [SECONDS=5] [WARMUP=1] [SERVER_PID]
**
** Opens CONNS connections to 127.0.0.1:PORT. On each, it sends a 100-byte
** message, waits until all 100 bytes have come back (and checks them), then
** sends the next: one request in flight per connection. One thread, one
** level-triggered epoll set. Round trips completed during the SECONDS after
** the first WARMUP seconds are counted, and their latencies kept. Prints
**
**   RESULT echo RUNTIME rps=... p50_us=... p99_us=... max_us=... conns=...
**
** and, given SERVER_PID, the server's CPU time over the same window (user +
** system, all its threads, from /proc/PID/stat): server_cpu_pct (100 = one
** core busy) and server_us_per_req.
*/

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 100
#define MAX_EVENTS 256


typedef struct Conn {
  int fd;
  int received;      /* bytes of the current reply received so far */
  uint64_t sent_ns;  /* when the current request was sent */
} Conn;

typedef struct Samples {  /* latencies of the measured window, in ns */
  uint32_t *ns;
  size_t n, cap;
} Samples;


static char message[MSG_SIZE];


static void fail (const char *what) {
  perror(what);
  exit(1);
}


static uint64_t now_ns (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* Connect to 127.0.0.1:port, retrying for up to 10 s while the server
** starts. Returns a non-blocking socket with TCP_NODELAY. */
static int dial (int port) {
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int attempt = 0; attempt < 1000; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      return fd;
    }
    if (errno != ECONNREFUSED) fail("connect");
    close(fd);
    usleep(10000);
  }
  fprintf(stderr, "echo_client: nothing listens on port %d\n", port);
  exit(1);
}


/* CPU time (utime + stime) of process `pid` in clock ticks, or -1. */
static long cpu_ticks (int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = '\0';
  char *p = strrchr(buf, ')');  /* the command name may hold spaces */
  unsigned long utime, stime;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                                 "%lu %lu", &utime, &stime) != 2)
    return -1;
  return (long)(utime + stime);
}


static void send_request (Conn *c) {
  if (write(c->fd, message, MSG_SIZE) != MSG_SIZE)
    fail("write (a 100-byte write must fit in an idle socket)");
  c->received = 0;
  c->sent_ns = now_ns();
}


static void add_sample (Samples *s, uint64_t ns) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 1 << 20;
    s->ns = realloc(s->ns, s->cap * sizeof *s->ns);
    if (s->ns == NULL) fail("realloc");
  }
  s->ns[s->n++] = (uint32_t)(ns > UINT32_MAX ? UINT32_MAX : ns);
}


static int compare_u32 (const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}


/* Read what has arrived on `c`; returns 1 when its reply is complete. */
static int receive (Conn *c) {
  char buf[4096];
  ssize_t r = read(c->fd, buf, sizeof buf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (r < 0) fail("read");
  if (r == 0) {
    fprintf(stderr, "echo_client: the server closed a connection\n");
    exit(1);
  }
  if (c->received + r > MSG_SIZE ||
      memcmp(buf, message + c->received, (size_t)r) != 0) {
    fprintf(stderr, "echo_client: the reply differs from the request\n");
    exit(1);
  }
  c->received += (int)r;
  return c->received == MSG_SIZE;
}


int main (int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PORT RUNTIME [CONNS] [SECONDS] [WARMUP] "
                    "[SERVER_PID]\n", argv[0]);
    return 64;
  }
  int port = atoi(argv[1]);
  const char *runtime = argv[2];
  int nconns = argc > 3 ? atoi(argv[3]) : 100;
  double seconds = argc > 4 ? atof(argv[4]) : 5.0;
  double warmup = argc > 5 ? atof(argv[5]) : 1.0;
  int server_pid = argc > 6 ? atoi(argv[6]) : 0;
  if (nconns <= 0 || seconds <= 0 || warmup < 0) {
    fprintf(stderr, "echo_client: bad CONNS, SECONDS or WARMUP\n");
    return 64;
  }
  for (int i = 0; i < MSG_SIZE; i++)
    message[i] = (char)('a' + i % 26);

  int ep = epoll_create1(0);
  if (ep < 0) fail("epoll_create1");
  Conn *conns = calloc((size_t)nconns, sizeof *conns);
  if (conns == NULL) fail("calloc");
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = dial(port);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) fail("epoll_ctl");
  }

  uint64_t start = now_ns() + (uint64_t)(warmup * 1e9);
  uint64_t end = start + (uint64_t)(seconds * 1e9);
  long ticks_start = -1, ticks_end = -1;
  Samples lat = { NULL, 0, 0 };
  for (int i = 0; i < nconns; i++)
    send_request(&conns[i]);
  for (;;) {
    uint64_t t = now_ns();
    if (server_pid > 0 && ticks_start < 0 && t >= start)
      ticks_start = cpu_ticks(server_pid);
    if (t >= end) break;
    int timeout_ms = (int)((end - t) / 1000000u) + 1;
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("epoll_wait");
    for (int i = 0; i < n; i++) {
      Conn *c = evs[i].data.ptr;
      if (!receive(c)) continue;
      uint64_t done = now_ns();
      if (done >= start && done < end)
        add_sample(&lat, done - c->sent_ns);
      send_request(c);
    }
  }
  if (server_pid > 0)
    ticks_end = cpu_ticks(server_pid);
  for (int i = 0; i < nconns; i++)
    close(conns[i].fd);

  if (lat.n == 0) {
    fprintf(stderr, "echo_client: no round trip completed in the window\n");
    return 1;
  }
  qsort(lat.ns, lat.n, sizeof *lat.ns, compare_u32);
  printf("RESULT echo %s rps=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f conns=%d",
         runtime, (double)lat.n / seconds, lat.ns[lat.n / 2] / 1e3,
         lat.ns[(size_t)((double)lat.n * 0.99)] / 1e3, lat.ns[lat.n - 1] / 1e3,
         nconns);
  if (ticks_start >= 0 && ticks_end >= 0) {
    double cpu_s = (double)(ticks_end - ticks_start) / (double)sysconf(_SC_CLK_TCK);
    printf(" server_cpu_pct=%.0f server_us_per_req=%.2f", cpu_s / seconds * 100,
           cpu_s / (double)lat.n * 1e6);
  }
  printf("\n");
  return 0;
}
