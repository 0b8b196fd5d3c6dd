/*
 * bgpsim: a cheap many-client iBGP simulator for the pyrr route-reflector benchmark.
 *
 * One process, one thread, epoll, non-blocking sockets. Client i dials the route reflector
 * from 127.1.(i/250).(i%250+1) (Linux routes all of 127/8 to lo, so no address setup is
 * needed) and speaks just enough BGP-4: OPEN (AS 64512, hold 180, router id = its address,
 * capabilities MP IPv4 unicast, route refresh, 4-octet AS), KEEPALIVE both ways, UPDATE in
 * both directions. Every prefix used is a /26 inside 10.0.0.0/8, and its index is computed
 * from its bytes:
 *
 *     10.B.C.D/26  <->  idx = B << 10 | C << 2 | D >> 6        (0 <= idx < 2^18)
 *
 * Client i owns idx 4i..4i+3, i.e. 10.(i>>8).(i&255).{0,64,128,192}/26 (so N <= 64000), and
 * in full-table mode client 0 owns idx 0..COUNT-1. Each client keeps a bitmap of the prefixes
 * it currently holds (from the UPDATEs it received); a phase has converged when every client
 * holds exactly the prefixes that are currently announced by the other clients.
 *
 * Control: commands on stdin, one per line; one line per completed phase on stdout:
 *
 *     timeout SECONDS          phase timeout (default 300)
 *     opentimeout SECONDS      a connection not Established this long after connect() is
 *                              closed and retried (default 10; like BGP's ConnectRetry timer)
 *     connect N [WINDOW]       N sessions; at most WINDOW connecting at once (0/absent: all)
 *     announce                 each client announces its 4 blocks in one UPDATE
 *     withdraw-half            clients 0..N/2-1 withdraw theirs
 *     reannounce               and announce them again
 *     fulltable COUNT          client 0 announces COUNT /26s, ~800 per UPDATE
 *     fulltable-withdraw       then withdraws the first half of them, ~800 per UPDATE
 *     churn RATE SECONDS [SEED [GRACE]]
 *                              RATE changes a second for SECONDS, each one client announcing
 *                              or withdrawing one of its blocks in its own UPDATE, and the time
 *                              until every other client saw it (see "churn" below; SEED 1,
 *                              GRACE 10 s by default)
 *     status                   one line with the counters
 *     quit                     close every session and exit
 *
 *   Reliability runs (tests/reliability) add:
 *
 *     hold SECONDS             hold time the clients propose in their OPENs (default 180;
 *                              0 or 3..65535); sessions opened afterwards use it
 *     gr SECONDS               graceful restart (RFC 4724) from now on: OPENs carry the
 *                              capability (restart time SECONDS, IPv4 unicast; 0 turns it
 *                              off, the default), every client sends End-of-RIB after its
 *                              initial UPDATEs, and keeps the RR's routes as stale when the
 *                              session drops without a NOTIFICATION, if the RR's OPEN had the
 *                              capability for IPv4 unicast: until the RR's End-of-RIB on the
 *                              next session, or its restart time (see "graceful restart")
 *     flap K RATE SECONDS [GARBAGE [GRACE]]
 *                              the last K clients are flappers: RATE times a second one of
 *                              them (round robin) ends its session and dials again at once;
 *                              the first GARBAGE flappers send a malformed message instead
 *                              and wait for the RR's NOTIFICATION. The other N-K clients are
 *                              the stable ones: every route among them that goes missing, and
 *                              every gap between messages the RR sends them, is counted
 *                              (see "flap" below; GRACE 10 s by default)
 *     clients FROM TO          one `client I ...` line per client FROM..TO-1, then `end clients`:
 *                              its session's counters as the RR should count them (below)
 *     totals                   one `totals ...` line: the same counters summed over every client,
 *                              and since the start: stale_purged, stale_expired (see "graceful
 *                              restart"), lost_active (a route of another client that is
 *                              announced, withdrawn from or purged at a client that held it)
 *
 *   -> done|timeout flap wall=S cpu=S k=K rate=R seconds=S garbage=G slots=.. flaps=.. busy=..
 *           garbage_sent=.. answered=.. unanswered=.. stable_lost=.. stable_closed=..
 *           stable_notifications=.. stable_gap_max_ms=.. stable_ka_gap_max_ms=.. rx_msgs=..
 *           rx_updates=.. reconnects=.. closed=.. notifications=.. ok=K/N established=E/N
 *      (flaps: sessions ended; busy: slots whose flapper was not Established yet; answered:
 *       garbage that got a NOTIFICATION; stable_lost: withdrawals of a stable client's announced
 *       route received by a stable client; the gaps: the longest time between two messages,
 *       and between two KEEPALIVEs, any stable client received from the RR during the phase)
 *   -> client I state=.. sessions=.. downs=.. tx_update_all=.. hold=.. rx_msgs=.. rx_open=.. rx_update=.. rx_notification=..
 *           rx_keepalive=.. rx_refresh=.. rx_other=.. rx_nlri=.. rx_withdrawn=.. rx_bytes=..
 *           tx_msgs=.. tx_open=.. tx_update=.. tx_notification=.. tx_keepalive=.. tx_refresh=..
 *           tx_other=.. tx_bytes=.. held=.. own=.. stale=.. gap_max_ms=.. ka_gap_max_ms=..
 *      rx_* and tx_* count the current connection only (reset when it starts, as the RR's
 *      per-session counters are): messages by type (other: a malformed one), the prefixes in
 *      received NLRI and withdrawn-routes fields, bytes; sessions: times Established, downs:
 *      Established sessions that ended; tx_update_all: UPDATEs sent on every connection since
 *      the start (pyrr's UPDATE and flap counts are per peer, not per session); hold: the hold
 *      time negotiated (0 while not Established); held: prefixes held (stale ones included), own: own
 *      prefixes announced; the gaps as above, since the last phase began
 *
 *   -> done PHASE wall=S cpu=S rx_msgs=.. rx_updates=.. rx_bytes=.. tx_bytes=.. reconnects=..
 *           echoes=..   (echoes: a client's own prefixes sent back to it, announced or withdrawn)
 *   -> timeout PHASE wall=S cpu=S held=MIN..MAX ok=K/N established=E/N
 *   -> done|timeout churn wall=S cpu=S rate=R seconds=S changes=.. announces=.. withdraws=..
 *           completed=.. lost=.. skipped=.. p50_ms=.. p99_ms=.. max_ms=.. ann_p50_ms=..
 *           ann_p99_ms=.. wd_p50_ms=.. wd_p99_ms=.. lag_max_ms=.. drain=S rx_msgs=.. ...
 *           reconnects=.. closed=.. notifications=.. echoes=.. ok=K/N established=E/N
 *      (lost: changes still incomplete GRACE s after the last was due; lag_max_ms: the most a
 *       change was sent after its slot; drain: from the last change sent to the end)
 *
 * NOTIFICATIONs and closed sessions are printed as "event ..." lines (rate-limited) and the
 * client reconnects after a second, re-announcing what it owns. A connection that is not
 * Established within the open timeout (say its SYN or handshake ACK was dropped by a full
 * accept queue) is closed and retried the same way.
 *
 * Build: gcc -O2 -Wall -o bgpsim bgpsim.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ASN 64512
#define HOLD 180
#define MAX_MSG 4096
#define PFX_BITS 18
#define NPFX (1u << PFX_BITS)
#define WORDS (NPFX / 64)
#define PER_UPDATE 800
#define MAX_CLIENTS 64000
#define RBUF_CAP (256 * 1024)
#define READ_BUDGET (256 * 1024)
#define MAX_EVENTS_PRINTED 50
#define NTYPES 6 /* message types counted apart: 1 OPEN .. 5 ROUTE-REFRESH; 0 anything else */

enum { S_IDLE, S_CONNECTING, S_OPENSENT, S_OPENCONFIRM, S_ESTABLISHED, S_RETRY };
enum { P_NONE, P_CONNECT, P_ANNOUNCE, P_WITHDRAW, P_REANNOUNCE, P_FULL, P_CHURN, P_FULL_WD, P_FLAP };
static const char *PHASE_NAMES[] = {"none",       "connect",   "announce", "withdraw-half",
                                    "reannounce", "fulltable", "churn",    "fulltable-withdraw",
                                    "flap"};

typedef struct {
    int fd;
    int state;
    int ok;
    uint32_t addr; /* host order */
    uint8_t *rbuf; /* the tail of a message not yet complete (< MAX_MSG octets) */
    size_t rlen;
    uint8_t *wbuf;
    size_t woff, wlen, wcap;
    uint64_t *bits;
    uint32_t held, held_active, own_active;
    int hold;
    int want_out; /* EPOLLOUT registered */
    double next_ka, retry_at, open_deadline;
    /* the current connection's counters (reset when it starts) */
    uint64_t s_rx[NTYPES], s_tx[NTYPES], s_rx_bytes, s_tx_bytes, s_rx_nlri, s_rx_wd;
    uint32_t sessions, downs;          /* times Established; Established sessions ended */
    uint64_t tx_update_all;            /* UPDATEs sent on every connection so far */
    double last_rx, last_ka;           /* while Established: last message, last KEEPALIVE */
    double gap_max, ka_gap_max;        /* the longest gaps since the last phase began */
    uint64_t *stale;                   /* graceful restart: routes kept from the last session */
    uint32_t nstale;
    double stale_deadline;
    int rr_gr_time;                    /* the RR's OPEN: GR restart time, -1 without the cap */
    uint8_t rr_gr_v4, rr_gr_f;         /* ... IPv4 unicast in it, with the F bit */
    uint8_t notified;                  /* this connection ends with a NOTIFICATION */
    uint8_t flapper, garbage_pending;  /* flap phase: a flapper; its garbage awaits an answer */
} client_t;

static client_t *clients;
static int nclients;
static uint32_t nbits = NPFX, nwords = WORDS; /* prefix indexes in use: 4N (or NPFX, full table) */
static uint8_t rshared[RBUF_CAP + MAX_MSG];   /* one receive buffer for every client */
static int ep;
static uint64_t active[WORDS];
static uint32_t active_total;
static int full_mode;
static int n_established, n_ok, n_inflight, next_to_start, window;
static int phase = P_NONE;
static double phase_start, phase_deadline, phase_timeout = 300.0;
static double open_timeout = 10.0, retry_delay = 1.0;
static double phase_cpu0;
static uint64_t rx_msgs, rx_updates, rx_bytes, tx_bytes, reconnects, echoes, foreign;
static uint64_t closes, notifications;
static uint64_t ph_rx_msgs, ph_rx_updates, ph_rx_bytes, ph_tx_bytes, ph_reconnects, ph_echoes;
static uint64_t ph_closes, ph_notifications;
static int churning; /* a churn phase has set up its per-prefix bookkeeping (chg below) */
static int hold_time = HOLD;      /* proposed in OPEN (`hold`) */
static int gr_time;               /* graceful restart time advertised; 0: no capability (`gr`) */
static uint64_t stale_purged, stale_expired; /* stale routes removed at End-of-RIB / timeout */
static uint64_t lost_active; /* announced routes a client held and lost (withdrawn, purged) */
static double rx_now;             /* when the messages being parsed were read */
static int flapping, flap_first;  /* a flap phase runs; clients >= flap_first are flappers */
static uint64_t fl_stable_lost, fl_stable_closed, fl_stable_notifications, fl_answered;
static int events_printed;
static struct sockaddr_in rr_addr;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void event(const char *fmt, ...) {
    if (events_printed >= MAX_EVENTS_PRINTED) {
        if (events_printed == MAX_EVENTS_PRINTED)
            say("event (further events not printed)");
        events_printed++;
        return;
    }
    events_printed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("event ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n, sz);
    if (!p) {
        say("fatal out of memory");
        exit(3);
    }
    return p;
}

/* ---- prefixes ------------------------------------------------------------------------- */

static inline int bit_get(const uint64_t *b, uint32_t i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }
static inline void bit_set(uint64_t *b, uint32_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void bit_clr(uint64_t *b, uint32_t i) { b[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

static inline int owner(uint32_t idx) { return full_mode ? 0 : (int)(idx >> 2); }

static inline uint8_t *put_prefix(uint8_t *p, uint32_t idx) {
    *p++ = 26;
    *p++ = 10;
    *p++ = (uint8_t)(idx >> 10);
    *p++ = (uint8_t)((idx >> 2) & 255);
    *p++ = (uint8_t)((idx & 3) << 6);
    return p;
}

static uint32_t expected(int ci) { return active_total - clients[ci].own_active; }

static void update_ok(int ci) {
    client_t *c = &clients[ci];
    int ok = c->state == S_ESTABLISHED && c->held == c->held_active &&
             c->held_active == expected(ci);
    if (ok != c->ok) {
        c->ok = ok;
        n_ok += ok ? 1 : -1;
    }
}

/* Mark idx announced (on) or withdrawn in `active`; the clients' held_active counts are left
 * to the caller (recount_held_active() after a bulk change, or churn_issue()). */
static int flip_active(uint32_t idx, int on) {
    if (bit_get(active, idx) == on)
        return 0;
    if (on) {
        bit_set(active, idx);
        active_total++;
    } else {
        bit_clr(active, idx);
        active_total--;
    }
    clients[owner(idx)].own_active += on ? 1u : (uint32_t)-1;
    return 1;
}

/* After a bulk change of `active`: every client's held_active = |bits & active|, and its ok
 * flag. O(N * 4N / 64) word operations: a few ms at N=10000, where updating each client per
 * changed prefix would cost O(N * changed prefixes) scattered reads (seconds at N=5000). */
static void recount_held_active(void) {
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        uint32_t n = 0;
        for (uint32_t w = 0; w < nwords; w++)
            n += (uint32_t)__builtin_popcountll(c->bits[w] & active[w]);
        c->held_active = n;
        update_ok(i);
    }
}

/* ---- output --------------------------------------------------------------------------- */

static void epoll_mod(client_t *c, int want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - clients)};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = want_out;
}

static uint8_t *wreserve(client_t *c, size_t n) {
    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }
        if (c->wlen + n > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 4096;
            while (cap < c->wlen + n)
                cap *= 2;
            uint8_t *nb = realloc(c->wbuf, cap);
            if (!nb) {
                say("fatal out of memory");
                exit(3);
            }
            c->wbuf = nb;
            c->wcap = cap;
        }
    }
    uint8_t *p = c->wbuf + c->wlen;
    c->wlen += n;
    return p;
}

static void close_client(int ci, const char *why);

static void flush(int ci) {
    client_t *c = &clients[ci];
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            tx_bytes += (uint64_t)n;
            c->s_tx_bytes += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                epoll_mod(c, 1);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        close_client(ci, n < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->woff = c->wlen = 0;
    if (c->want_out)
        epoll_mod(c, 0);
}

static uint8_t *msg_begin(client_t *c, size_t len, uint8_t type) {
    c->s_tx[type < NTYPES ? type : 0]++;
    if (type == 2)
        c->tx_update_all++;
    uint8_t *p = wreserve(c, len);
    memset(p, 0xff, 16);
    p[16] = (uint8_t)(len >> 8);
    p[17] = (uint8_t)len;
    p[18] = type;
    return p + 19;
}

static void send_open(int ci) {
    client_t *c = &clients[ci];
    /* caps: MP (1,4: afi 1, 0, safi 1), route refresh (2,0), 4-octet AS (65,4), and with `gr`
     * graceful restart (64,6: no R bit, the restart time, afi 1 safi 1 without the F bit) */
    uint8_t caps[22] = {1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0, 0, ASN >> 8, ASN & 255};
    size_t ncaps = 14;
    if (gr_time > 0) {
        const uint8_t gr[] = {64, 6, (uint8_t)((gr_time >> 8) & 0x0f), (uint8_t)gr_time, 0, 1, 1, 0};
        memcpy(caps + ncaps, gr, sizeof gr);
        ncaps += sizeof gr;
    }
    size_t len = 19 + 10 + 2 + ncaps;
    uint8_t *p = msg_begin(c, len, 1);
    *p++ = 4;
    *p++ = ASN >> 8;
    *p++ = ASN & 255;
    *p++ = (uint8_t)(hold_time >> 8);
    *p++ = (uint8_t)hold_time;
    uint32_t id = htonl(c->addr);
    memcpy(p, &id, 4);
    p += 4;
    *p++ = (uint8_t)(2 + ncaps);
    *p++ = 2;
    *p++ = (uint8_t)ncaps;
    memcpy(p, caps, ncaps);
}

/* RFC 4724 §2: End-of-RIB for IPv4 unicast, an UPDATE with nothing in it. */
static void send_eor(int ci) {
    uint8_t *p = msg_begin(&clients[ci], 23, 2);
    memset(p, 0, 4);
}

/* A malformed message of one of four kinds, each of which must cost the session a NOTIFICATION
 * (RFC 4271 §6.1, RFC 6608): a bad marker (Connection Not Synchronized), a length below 19
 * (Bad Message Length), an unknown type (Bad Message Type), an OPEN in Established (FSM). */
static void send_garbage(int ci, int kind) {
    client_t *c = &clients[ci];
    c->s_tx[0]++;
    if (kind == 3) {
        send_open(ci); /* counted as an OPEN: it is one, at the wrong time */
        c->s_tx[1]--;
        return;
    }
    uint8_t *p = wreserve(c, 19);
    memset(p, 0xff, 16);
    p[16] = 0;
    p[17] = kind == 1 ? 18 : 19;
    p[18] = kind == 2 ? 9 : 4;
    if (kind == 0)
        p[3] = 0;
}

static void send_keepalive(int ci) { msg_begin(&clients[ci], 19, 4); }

/* One UPDATE announcing idx[0..n-1] with client ci's attributes. */
static void send_announce(int ci, const uint32_t *idx, int n) {
    static const size_t attr_len = 4 + 3 + 7 + 7;
    size_t len = 19 + 2 + 2 + attr_len + 5 * (size_t)n;
    uint8_t *p = msg_begin(&clients[ci], len, 2);
    *p++ = 0;
    *p++ = 0; /* withdrawn routes length */
    *p++ = 0;
    *p++ = (uint8_t)attr_len;
    /* ORIGIN IGP */
    *p++ = 0x40; *p++ = 1; *p++ = 1; *p++ = 0;
    /* AS_PATH empty */
    *p++ = 0x40; *p++ = 2; *p++ = 0;
    /* NEXT_HOP 198.18.(i/250).(i%250+1): outside 127/8, FRR and GoBGP drop martians */
    *p++ = 0x40; *p++ = 3; *p++ = 4;
    *p++ = 198; *p++ = 18; *p++ = (uint8_t)(ci / 250); *p++ = (uint8_t)(ci % 250 + 1);
    /* LOCAL_PREF 100 */
    *p++ = 0x40; *p++ = 5; *p++ = 4; *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 100;
    for (int i = 0; i < n; i++)
        p = put_prefix(p, idx[i]);
}

static void send_withdraw(int ci, const uint32_t *idx, int n) {
    size_t wl = 5 * (size_t)n;
    size_t len = 19 + 2 + wl + 2;
    uint8_t *p = msg_begin(&clients[ci], len, 2);
    *p++ = (uint8_t)(wl >> 8);
    *p++ = (uint8_t)wl;
    for (int i = 0; i < n; i++)
        p = put_prefix(p, idx[i]);
    *p++ = 0;
    *p++ = 0;
}

/* Announce everything client ci owns that is currently active (packed PER_UPDATE a message). */
static void announce_owned(int ci) {
    uint32_t buf[PER_UPDATE];
    int n = 0;
    uint32_t lo = full_mode ? 0 : (uint32_t)ci * 4, hi = full_mode ? NPFX : (uint32_t)ci * 4 + 4;
    if (full_mode && ci != 0)
        return;
    for (uint32_t i = lo; i < hi; i++) {
        if (!bit_get(active, i))
            continue;
        buf[n++] = i;
        if (n == PER_UPDATE) {
            send_announce(ci, buf, n);
            n = 0;
        }
    }
    if (n)
        send_announce(ci, buf, n);
}

/* Full-table mode: client 0 withdraws the first half of what it announced, packed like the
 * announcements (PER_UPDATE prefixes a message). */
static void withdraw_first_half(void) {
    uint32_t buf[PER_UPDATE];
    uint32_t half = active_total / 2, done = 0;
    int n = 0;
    for (uint32_t i = 0; i < NPFX && done < half; i++) {
        if (!bit_get(active, i))
            continue;
        flip_active(i, 0);
        done++;
        buf[n++] = i;
        if (n == PER_UPDATE) {
            if (clients[0].state == S_ESTABLISHED)
                send_withdraw(0, buf, n);
            n = 0;
        }
    }
    if (n && clients[0].state == S_ESTABLISHED)
        send_withdraw(0, buf, n);
    recount_held_active();
    if (clients[0].state == S_ESTABLISHED)
        flush(0);
}

/* ---- sessions ------------------------------------------------------------------------- */

static void start_connect(int ci);

static void churn_seen(uint32_t idx, int held);

static void reset_rib(client_t *c) {
    if (churning) /* each prefix it held and lost counts for or against a change in flight */
        for (uint32_t w = 0; w < nwords; w++)
            for (uint64_t b = c->bits[w]; b; b &= b - 1)
                churn_seen(w << 6 | (uint32_t)__builtin_ctzll(b), 0);
    memset(c->bits, 0, nwords * sizeof(uint64_t));
    c->held = c->held_active = 0;
    if (c->stale)
        memset(c->stale, 0, nwords * sizeof(uint64_t));
    c->nstale = 0;
}

/* ---- graceful restart (RFC 4724 §4.2, the receiving speaker) ------------------------------
 *
 * With `gr`, a session that ends without a NOTIFICATION, after the RR's OPEN offered graceful
 * restart for IPv4 unicast with a restart time, keeps every route it held, marked stale. A
 * route the RR announces or withdraws on the next session is no longer stale; the RR's
 * End-of-RIB removes the rest (stale_purged), and so does the restart time running out before
 * it (stale_expired: from the session's end, and again from its return). A returning RR whose
 * OPEN lacks the capability or the F bit for IPv4 unicast gets them removed at once. */

static void purge_stale(int ci, uint64_t *counter) {
    client_t *c = &clients[ci];
    if (!c->nstale)
        return;
    for (uint32_t w = 0; w < nwords; w++) {
        for (uint64_t b = c->stale[w]; b; b &= b - 1) {
            uint32_t idx = w << 6 | (uint32_t)__builtin_ctzll(b);
            if (!bit_get(c->bits, idx))
                continue;
            bit_clr(c->bits, idx);
            c->held--;
            if (bit_get(active, idx)) {
                c->held_active--;
                lost_active++;
            }
            if (churning)
                churn_seen(idx, 0);
            (*counter)++;
        }
        c->stale[w] = 0;
    }
    c->nstale = 0;
    update_ok(ci);
}

static void keep_stale(client_t *c) {
    if (!c->stale)
        c->stale = xcalloc(nwords, sizeof(uint64_t));
    uint32_t n = 0;
    for (uint32_t w = 0; w < nwords; w++) {
        c->stale[w] |= c->bits[w];
        n += (uint32_t)__builtin_popcountll(c->stale[w]);
    }
    c->nstale = n;
    c->stale_deadline = now() + c->rr_gr_time;
}

/* The RR's OPEN: does it offer graceful restart for IPv4 unicast, and with the F bit? */
static void parse_open_gr(client_t *c, const uint8_t *m, size_t len) {
    c->rr_gr_time = -1;
    c->rr_gr_v4 = c->rr_gr_f = 0;
    const uint8_t *p = m + 29, *end = m + len;
    if (len < 29 || (size_t)m[28] > len - 29)
        return;
    end = p + m[28];
    while (end - p >= 2) {
        uint8_t ptype = p[0], plen = p[1];
        const uint8_t *q = p + 2, *pend = q + plen;
        if (pend > end)
            return;
        while (ptype == 2 && pend - q >= 2) {
            uint8_t code = q[0], clen = q[1];
            const uint8_t *v = q + 2;
            if (v + clen > pend)
                return;
            if (code == 64 && clen >= 2) {
                c->rr_gr_time = (v[0] & 0x0f) << 8 | v[1];
                for (const uint8_t *t = v + 2; t + 4 <= v + clen; t += 4)
                    if (t[0] == 0 && t[1] == 1 && t[2] == 1) {
                        c->rr_gr_v4 = 1;
                        c->rr_gr_f = (t[3] & 0x80) != 0;
                    }
            }
            q = v + clen;
        }
        p = pend;
    }
}

static void close_client(int ci, const char *why) {
    client_t *c = &clients[ci];
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    closes++;
    int was_established = c->state == S_ESTABLISHED;
    if (was_established) {
        n_established--;
        c->downs++;
    } else if (c->state == S_CONNECTING || c->state == S_OPENSENT || c->state == S_OPENCONFIRM) {
        n_inflight--;
    }
    if (flapping && ci < flap_first) {
        fl_stable_closed++;
        if (c->notified)
            fl_stable_notifications++;
    }
    event("closed client=%d reason=%s", ci, why);
    c->state = S_RETRY;
    c->retry_at = now() + (flapping && c->flapper ? 0.0 : retry_delay);
    c->rlen = 0;
    c->woff = c->wlen = 0;
    c->want_out = 0;
    c->garbage_pending = 0;
    if (gr_time > 0 && was_established && !c->notified && c->rr_gr_v4 && c->rr_gr_time > 0)
        keep_stale(c); /* RFC 4724 §4.2: the RR may be restarting */
    else if (!c->nstale || was_established || c->notified)
        reset_rib(c);  /* (stale routes of an RR that has not returned yet stay) */
    c->notified = 0;
    update_ok(ci);
}

static void start_connect(int ci) {
    client_t *c = &clients[ci];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("fatal socket: %s", strerror(errno));
        exit(3);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(c->addr)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        say("fatal bind %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
        exit(3);
    }
    c->fd = fd;
    c->state = S_CONNECTING;
    c->open_deadline = now() + open_timeout;
    memset(c->s_rx, 0, sizeof c->s_rx);
    memset(c->s_tx, 0, sizeof c->s_tx);
    c->s_rx_bytes = c->s_tx_bytes = c->s_rx_nlri = c->s_rx_wd = 0;
    n_inflight++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)ci};
    c->want_out = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&rr_addr, sizeof rr_addr) < 0 && errno != EINPROGRESS)
        close_client(ci, strerror(errno));
}

static void on_connected(int ci) {
    client_t *c = &clients[ci];
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        close_client(ci, strerror(err));
        return;
    }
    c->state = S_OPENSENT;
    send_open(ci);
    flush(ci);
}

static void on_established(int ci) {
    client_t *c = &clients[ci];
    c->state = S_ESTABLISHED;
    n_inflight--;
    n_established++;
    c->sessions++;
    double t = now();
    c->last_rx = c->last_ka = t;
    c->next_ka = t + (c->hold > 0 ? c->hold / 3.0 : 1e9);
    if (c->nstale) {
        if (c->rr_gr_v4 && c->rr_gr_f)
            c->stale_deadline = t + (c->rr_gr_time > 0 ? c->rr_gr_time : 0);
        else
            purge_stale(ci, &stale_purged); /* §4.2: returned without forwarding state */
    }
    announce_owned(ci);
    if (gr_time > 0)
        send_eor(ci);
    flush(ci); /* (queued replies are flushed by their senders: this one is ours) */
    if (c->fd >= 0)
        update_ok(ci);
}

static void parse_update(int ci, const uint8_t *m, size_t len) {
    client_t *c = &clients[ci];
    const uint8_t *p = m + 19, *end = m + len;
    if (end - p < 2)
        return;
    size_t wl = (size_t)p[0] << 8 | p[1];
    p += 2;
    if ((size_t)(end - p) < wl + 2)
        return;
    const uint8_t *wend = p + wl;
    if (wl == 0 && len == 23 && p[0] == 0 && p[1] == 0) { /* End-of-RIB (RFC 4724 §2) */
        purge_stale(ci, &stale_purged);
        return;
    }
    int stable = flapping && ci < flap_first;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: withdrawn routes; pass 1: NLRI */
        while (p < wend) {
            unsigned plen = *p++;
            unsigned nb = (plen + 7) / 8;
            if (plen > 32 || (size_t)(wend - p) < nb)
                return;
            uint32_t idx = nb == 4 ? (uint32_t)p[1] << 10 | (uint32_t)p[2] << 2 | p[3] >> 6 : 0;
            if (pass == 0)
                c->s_rx_wd++;
            else
                c->s_rx_nlri++;
            if (plen == 26 && p[0] == 10 && idx < nbits) {
                if (c->nstale && bit_get(c->stale, idx)) { /* refreshed or withdrawn */
                    bit_clr(c->stale, idx);
                    c->nstale--;
                }
                if (stable && pass == 0 && owner(idx) < flap_first && bit_get(active, idx) &&
                    bit_get(c->bits, idx))
                    fl_stable_lost++;
                if (owner(idx) == ci) {
                    echoes++;
                } else if (pass == 0 && bit_get(c->bits, idx)) {
                    bit_clr(c->bits, idx);
                    c->held--;
                    if (bit_get(active, idx)) {
                        c->held_active--;
                        lost_active++;
                    }
                    if (churning)
                        churn_seen(idx, 0);
                } else if (pass == 1 && !bit_get(c->bits, idx)) {
                    bit_set(c->bits, idx);
                    c->held++;
                    if (bit_get(active, idx))
                        c->held_active++;
                    if (churning)
                        churn_seen(idx, 1);
                }
            } else {
                foreign++;
            }
            p += nb;
        }
        if (pass == 0) {
            size_t al = (size_t)p[0] << 8 | p[1];
            p += 2;
            if ((size_t)(end - p) < al)
                return;
            p += al; /* path attributes: not needed (no MP_REACH for IPv4 unicast) */
            wend = end;
        }
    }
    update_ok(ci);
}

static void on_message(int ci, const uint8_t *m, size_t len) {
    client_t *c = &clients[ci];
    uint8_t type = m[18];
    rx_msgs++;
    c->s_rx[type < NTYPES ? type : 0]++;
    if (c->state == S_ESTABLISHED) {
        double gap = rx_now - c->last_rx;
        if (gap > c->gap_max)
            c->gap_max = gap;
        c->last_rx = rx_now;
        if (type == 4) {
            gap = rx_now - c->last_ka;
            if (gap > c->ka_gap_max)
                c->ka_gap_max = gap;
            c->last_ka = rx_now;
        }
    }
    switch (type) {
    case 1: /* OPEN */
        if (c->state != S_OPENSENT || len < 29) {
            close_client(ci, "unexpected OPEN");
            return;
        }
        {
            int h = m[22] << 8 | m[23];
            c->hold = h < hold_time ? h : hold_time;
        }
        parse_open_gr(c, m, len);
        c->state = S_OPENCONFIRM;
        send_keepalive(ci);
        flush(ci);
        break;
    case 4: /* KEEPALIVE */
        if (c->state == S_OPENCONFIRM)
            on_established(ci);
        break;
    case 2:
        rx_updates++;
        if (c->state == S_ESTABLISHED)
            parse_update(ci, m, len);
        break;
    case 3: {
        notifications++;
        c->notified = 1;
        if (c->garbage_pending)
            fl_answered++;
        char why[64];
        snprintf(why, sizeof why, "notification code=%d subcode=%d", len > 19 ? m[19] : -1,
                 len > 20 ? m[20] : -1);
        close_client(ci, why);
        return;
    }
    default: /* ROUTE-REFRESH and others: ignored */
        break;
    }
}

/* Reads go into one shared buffer (behind the client's incomplete tail, copied in front), and
 * only the new incomplete tail (< MAX_MSG octets) is kept per client: 4 KiB a client instead of
 * a 256 KiB buffer each, which matters at N=10000. */
static void on_readable(int ci) {
    client_t *c = &clients[ci];
    size_t budget = READ_BUDGET;
    while (budget > 0 && c->fd >= 0) {
        size_t have = c->rlen;
        memcpy(rshared, c->rbuf, have);
        ssize_t n = recv(c->fd, rshared + have, RBUF_CAP, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_client(ci, n == 0 ? "eof" : strerror(errno));
            return;
        }
        rx_bytes += (uint64_t)n;
        c->s_rx_bytes += (uint64_t)n;
        rx_now = now();
        int drained = (size_t)n < RBUF_CAP; /* short read: nothing more queued */
        budget -= (size_t)n < budget ? (size_t)n : budget;
        have += (size_t)n;
        size_t off = 0;
        while (have - off >= 19) {
            const uint8_t *m = rshared + off;
            size_t len = (size_t)m[16] << 8 | m[17];
            if (len < 19 || len > MAX_MSG) {
                close_client(ci, "bad message length");
                return;
            }
            if (have - off < len)
                break;
            on_message(ci, m, len);
            if (c->fd < 0)
                return;
            off += len;
        }
        c->rlen = have - off; /* < MAX_MSG: a whole message would have been handled */
        memcpy(c->rbuf, rshared + off, c->rlen);
        if (drained)
            return; /* level-triggered epoll reports the socket again if more arrives */
    }
}

static void timers(double t) {
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        if (c->state == S_ESTABLISHED && c->hold > 0 && t >= c->next_ka) {
            send_keepalive(i);
            flush(i);
            c->next_ka = t + c->hold / 3.0;
        } else if ((c->state == S_CONNECTING || c->state == S_OPENSENT ||
                    c->state == S_OPENCONFIRM) && t >= c->open_deadline) {
            close_client(i, "open timeout");
        } else if (c->state == S_RETRY && t >= c->retry_at) {
            reconnects++;
            c->state = S_IDLE;
            start_connect(i);
        }
        if (c->nstale && t >= c->stale_deadline)
            purge_stale(i, &stale_expired); /* RFC 4724 §4.2: the restart time ran out */
    }
}

/* ---- phases ---------------------------------------------------------------------------- */

static void phase_begin(int p) {
    phase = p;
    for (int i = 0; i < nclients; i++)
        clients[i].gap_max = clients[i].ka_gap_max = 0;
    phase_start = now();
    phase_deadline = phase_start + phase_timeout;
    phase_cpu0 = cpu_self();
    ph_rx_msgs = rx_msgs;
    ph_rx_updates = rx_updates;
    ph_rx_bytes = rx_bytes;
    ph_tx_bytes = tx_bytes;
    ph_reconnects = reconnects;
    ph_echoes = echoes;
    ph_closes = closes;
    ph_notifications = notifications;
}

static void phase_end(const char *verdict) {
    double wall = now() - phase_start, cpu = cpu_self() - phase_cpu0;
    if (verdict[0] == 'd') {
        say("done %s wall=%.3f cpu=%.3f rx_msgs=%llu rx_updates=%llu rx_bytes=%llu tx_bytes=%llu"
            " reconnects=%llu echoes=%llu",
            PHASE_NAMES[phase], wall, cpu, (unsigned long long)(rx_msgs - ph_rx_msgs),
            (unsigned long long)(rx_updates - ph_rx_updates),
            (unsigned long long)(rx_bytes - ph_rx_bytes),
            (unsigned long long)(tx_bytes - ph_tx_bytes),
            (unsigned long long)(reconnects - ph_reconnects),
            (unsigned long long)(echoes - ph_echoes));
    } else {
        uint32_t lo = UINT32_MAX, hi = 0;
        for (int i = 0; i < nclients; i++) {
            if (clients[i].held < lo)
                lo = clients[i].held;
            if (clients[i].held > hi)
                hi = clients[i].held;
        }
        if (nclients == 0)
            lo = 0;
        say("timeout %s wall=%.3f cpu=%.3f held=%u..%u active=%u ok=%d/%d established=%d/%d",
            PHASE_NAMES[phase], wall, cpu, lo, hi, active_total, n_ok, nclients, n_established,
            nclients);
    }
    phase = P_NONE;
}

static int phase_complete(void) {
    if (phase == P_CONNECT)
        return n_established == nclients;
    return n_ok == nclients;
}

static void cmd_connect(int n, int win) {
    if (nclients) {
        say("error already connected");
        return;
    }
    if (n < 1 || n > MAX_CLIENTS) {
        say("error connect: N must be 1..%d", MAX_CLIENTS);
        return;
    }
    clients = xcalloc((size_t)n, sizeof *clients);
    nclients = n;
    nbits = ((uint32_t)n * 4 + 63) & ~63u; /* client i owns 4i..4i+3; fulltable widens it */
    if (nbits > NPFX)
        nbits = NPFX;
    nwords = nbits / 64;
    window = win;
    for (int i = 0; i < n; i++) {
        client_t *c = &clients[i];
        c->fd = -1;
        c->addr = (uint32_t)127 << 24 | (uint32_t)1 << 16 | (uint32_t)(i / 250) << 8 |
                  (uint32_t)(i % 250 + 1);
        c->rbuf = xcalloc(MAX_MSG, 1);
        c->bits = xcalloc(nwords, sizeof(uint64_t));
    }
    phase_begin(P_CONNECT);
    next_to_start = 0;
}

static void start_pending(void) {
    while (next_to_start < nclients && (window <= 0 || n_inflight < window))
        start_connect(next_to_start++);
}

static void change_owned(int from, int to, int on) {
    for (int ci = from; ci < to; ci++)
        for (uint32_t k = 0; k < 4; k++)
            flip_active((uint32_t)ci * 4 + k, on);
    recount_held_active();
}

static void send_owned(int from, int to, int on) {
    for (int ci = from; ci < to; ci++) {
        uint32_t idx[4];
        for (uint32_t k = 0; k < 4; k++)
            idx[k] = (uint32_t)ci * 4 + k;
        if (clients[ci].state != S_ESTABLISHED)
            continue; /* announce_owned() catches up on (re)establishment */
        if (on)
            send_announce(ci, idx, 4);
        else
            send_withdraw(ci, idx, 4);
        flush(ci);
    }
}

/* ---- churn ------------------------------------------------------------------------------
 *
 * `churn RATE SECONDS [SEED [GRACE]]`: change slot k is due at t0 + k/RATE (CLOCK_MONOTONIC),
 * k < RATE*SECONDS; the main loop sleeps in epoll_wait until the next slot and issues every
 * slot that is due. Even slots withdraw, odd slots announce:
 *   - a withdrawal takes the next prefix of a permutation of all 4N prefixes (Fisher-Yates,
 *     seeded by SEED, walked cyclically) that is announced and not in flight, so changes are
 *     spread evenly over the clients and blocks, in an order fixed by the seed;
 *   - an announcement re-announces the oldest withdrawn prefix (a FIFO in withdrawal order)
 *     once its withdrawal has completed.
 * When a slot's kind has no candidate (nothing withdrawn yet, or the oldest withdrawal still in
 * flight) it takes the other kind; when neither has one it is counted as skipped. So a prefix is
 * never changed while its previous change is in flight, and the mix stays ~50/50.
 *
 * Per prefix in flight: the send time and `pending`, the number of clients other than the owner
 * whose bitmap differs from the wanted state, counted once (O(N)) when the change is issued. A
 * client's bit flipping for that prefix (in parse_update, or reset_rib when its session drops)
 * moves pending by one, O(1) per received prefix; at 0 the change is complete: every other
 * client holds the announced prefix, or none holds the withdrawn one, and its latency is now()
 * minus the send time. Changes still in flight at t0 + SECONDS + GRACE are lost. */

typedef struct {
    double t;        /* when its UPDATE was handed to send() */
    int32_t pending; /* clients other than the owner whose bit differs from the wanted state */
    uint8_t on;      /* announce (1) or withdraw (0) */
    uint8_t inflight;
} change_t;

static change_t *chg;                        /* per prefix index (nbits) */
static uint32_t *perm, nperm, wcur;          /* withdrawal order; next position in it */
static uint32_t *fifo, fifo_head, fifo_len;  /* withdrawn prefixes, oldest first (ring of nperm) */
static float *lat;                           /* latency of each completed change, seconds */
static uint8_t *lat_on;
static uint64_t lat_n;
static uint64_t ch_total, ch_issued, ch_inflight, ch_skipped, ch_ann, ch_wd;
static double ch_t0, ch_rate, ch_seconds, ch_grace, ch_last_issue, ch_lag_max;
static uint64_t rng_state;

static uint64_t rng(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void churn_complete(change_t *x) {
    x->inflight = 0;
    ch_inflight--;
    lat[lat_n] = (float)(now() - x->t);
    lat_on[lat_n] = x->on;
    lat_n++;
}

/* Client (not the owner) now holds (held=1) or no longer holds idx. */
static void churn_seen(uint32_t idx, int held) {
    change_t *x = &chg[idx];
    if (!x->inflight)
        return;
    if (held != x->on)
        x->pending++;
    else if (--x->pending == 0)
        churn_complete(x);
}

static int owner_up(uint32_t idx) { return clients[owner(idx)].state == S_ESTABLISHED; }

static int pick_withdraw(uint32_t *out) {
    for (uint32_t k = 0; k < nperm; k++) {
        uint32_t idx = perm[wcur];
        wcur = wcur + 1 == nperm ? 0 : wcur + 1;
        if (bit_get(active, idx) && !chg[idx].inflight && owner_up(idx)) {
            *out = idx;
            return 1;
        }
    }
    return 0;
}

static int pick_announce(uint32_t *out) {
    if (fifo_len == 0)
        return 0;
    uint32_t idx = fifo[fifo_head];
    if (chg[idx].inflight || !owner_up(idx))
        return 0; /* its withdrawal has not reached every client yet */
    fifo_head = fifo_head + 1 == nperm ? 0 : fifo_head + 1;
    fifo_len--;
    *out = idx;
    return 1;
}

static void churn_issue(uint32_t idx, int on, double due) {
    int o = owner(idx);
    flip_active(idx, on);
    int32_t pending = 0;
    uint32_t d = on ? 1u : (uint32_t)-1;
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        if (i != o) {
            int b = bit_get(c->bits, idx);
            if (b)
                c->held_active += d;
            pending += b != on;
        }
        update_ok(i); /* active_total moved, so every client's expected count did */
    }
    if (on) {
        ch_ann++;
    } else {
        ch_wd++;
        fifo[(fifo_head + fifo_len++) % nperm] = idx;
    }
    change_t *x = &chg[idx];
    x->on = (uint8_t)on;
    x->pending = pending;
    x->inflight = 1;
    ch_inflight++;
    double t = now();
    if (t - due > ch_lag_max)
        ch_lag_max = t - due;
    x->t = ch_last_issue = t;
    if (on)
        send_announce(o, &idx, 1);
    else
        send_withdraw(o, &idx, 1);
    flush(o);
    if (pending == 0 && x->inflight) /* no other client to tell (N=1) */
        churn_complete(x);
}

/* Issue every slot due by t. */
static void churn_tick(double t) {
    while (ch_issued < ch_total) {
        double due = ch_t0 + (double)ch_issued / ch_rate;
        if (t < due)
            return;
        uint32_t idx = 0;
        int on = (int)(ch_issued & 1);
        int found = on ? pick_announce(&idx) : pick_withdraw(&idx);
        if (!found) {
            on = !on;
            found = on ? pick_announce(&idx) : pick_withdraw(&idx);
        }
        if (found)
            churn_issue(idx, on, due);
        else
            ch_skipped++;
        ch_issued++;
    }
}

/* Milliseconds epoll_wait may sleep before the next slot is due (at most 100). */
static int churn_wait_ms(void) {
    if (ch_issued >= ch_total)
        return 100;
    double d = ch_t0 + (double)ch_issued / ch_rate - now();
    return d <= 0 ? 0 : d >= 0.1 ? 100 : (int)(d * 1000.0) + 1;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* p50, p99, max (ms) of the completed changes of one kind (on=0/1) or both (on=-1). */
static void latency_stats(int on, double out[3]) {
    float *v = xcalloc(lat_n ? lat_n : 1, sizeof *v);
    size_t n = 0;
    for (uint64_t i = 0; i < lat_n; i++)
        if (on < 0 || lat_on[i] == on)
            v[n++] = lat[i];
    if (n == 0) {
        out[0] = out[1] = out[2] = NAN;
    } else {
        qsort(v, n, sizeof *v, cmp_float);
        const double q[2] = {0.50, 0.99};
        for (int k = 0; k < 2; k++) { /* nearest rank */
            double x = q[k] * (double)n;
            size_t r = (size_t)x;
            r += (double)r < x; /* ceil, without libm */
            out[k] = 1e3 * v[r > 0 ? r - 1 : 0];
        }
        out[2] = 1e3 * v[n - 1];
    }
    free(v);
}

static void churn_end(const char *verdict) {
    double t = now(), all[3], ann[3], wd[3];
    latency_stats(-1, all);
    latency_stats(1, ann);
    latency_stats(0, wd);
    say("%s churn wall=%.3f cpu=%.3f rate=%g seconds=%g changes=%llu announces=%llu"
        " withdraws=%llu completed=%llu lost=%llu skipped=%llu p50_ms=%.3f p99_ms=%.3f"
        " max_ms=%.3f ann_p50_ms=%.3f ann_p99_ms=%.3f wd_p50_ms=%.3f wd_p99_ms=%.3f"
        " lag_max_ms=%.3f drain=%.3f rx_msgs=%llu rx_updates=%llu rx_bytes=%llu tx_bytes=%llu"
        " reconnects=%llu closed=%llu notifications=%llu echoes=%llu ok=%d/%d established=%d/%d",
        verdict, t - phase_start, cpu_self() - phase_cpu0, ch_rate, ch_seconds,
        (unsigned long long)(ch_ann + ch_wd), (unsigned long long)ch_ann,
        (unsigned long long)ch_wd, (unsigned long long)lat_n, (unsigned long long)ch_inflight,
        (unsigned long long)ch_skipped, all[0], all[1], all[2], ann[0], ann[1], wd[0], wd[1],
        1e3 * ch_lag_max, ch_ann + ch_wd ? t - ch_last_issue : 0.0,
        (unsigned long long)(rx_msgs - ph_rx_msgs),
        (unsigned long long)(rx_updates - ph_rx_updates),
        (unsigned long long)(rx_bytes - ph_rx_bytes), (unsigned long long)(tx_bytes - ph_tx_bytes),
        (unsigned long long)(reconnects - ph_reconnects),
        (unsigned long long)(closes - ph_closes),
        (unsigned long long)(notifications - ph_notifications),
        (unsigned long long)(echoes - ph_echoes), n_ok, nclients, n_established, nclients);
    churning = 0;
    phase = P_NONE;
}

/* Done when every slot was issued, every change completed and every client is exact; lost
 * (timeout) when changes are still in flight GRACE seconds after the last slot was due. */
static void churn_step(double t) {
    churn_tick(t);
    if (ch_issued == ch_total && ch_inflight == 0 && n_ok == nclients)
        churn_end("done");
    else if (t >= ch_t0 + ch_seconds + ch_grace)
        churn_end("timeout");
}

static void cmd_churn(long rate, long secs, long seed, long grace) {
    if (full_mode || n_established != nclients || n_ok != nclients) {
        say("error churn: needs every session established and converged, not in full-table mode");
        return;
    }
    if (rate < 1 || rate > 100000 || secs < 1 || secs > 3600 || rate * secs > 10000000 ||
        grace < 0 || grace > 3600) {
        say("error churn: RATE 1..100000, SECONDS 1..3600, RATE*SECONDS <= 10^7, GRACE 0..3600");
        return;
    }
    nperm = (uint32_t)nclients * 4;
    if (!chg) {
        chg = xcalloc(nbits, sizeof *chg);
        perm = xcalloc(nperm, sizeof *perm);
        fifo = xcalloc(nperm, sizeof *fifo);
    }
    memset(chg, 0, nbits * sizeof *chg); /* changes lost by an earlier phase are forgotten */
    free(lat);
    free(lat_on);
    ch_total = (uint64_t)rate * (uint64_t)secs;
    lat = xcalloc(ch_total, sizeof *lat);
    lat_on = xcalloc(ch_total, 1);
    rng_state = (uint64_t)seed;
    for (uint32_t i = 0; i < nperm; i++)
        perm[i] = i;
    for (uint32_t i = nperm - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng() % (i + 1));
        uint32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    fifo_head = fifo_len = wcur = 0;
    for (uint32_t i = 0; i < nperm; i++) /* already withdrawn (withdraw-half, an earlier churn) */
        if (!bit_get(active, perm[i]))
            fifo[fifo_len++] = perm[i];
    lat_n = ch_issued = ch_inflight = ch_skipped = ch_ann = ch_wd = 0;
    ch_rate = (double)rate;
    ch_seconds = (double)secs;
    ch_grace = (double)grace;
    ch_lag_max = 0;
    phase_begin(P_CHURN);
    churning = 1;
    ch_t0 = ch_last_issue = now();
    churn_tick(ch_t0);
}

/* ---- flap -------------------------------------------------------------------------------
 *
 * `flap K RATE SECONDS [GARBAGE [GRACE]]`: the last K clients flap, the other N-K stay. Slot s
 * (s < RATE*SECONDS) is due at t0 + s/RATE and belongs to flapper s mod K: an Established one
 * ends its session, the first GARBAGE of them by sending a malformed message (send_garbage,
 * kinds in turn) and waiting for the RR's NOTIFICATION, the others by closing the socket; one
 * that is not Established again yet counts as busy. A flapper dials again at once (on the next
 * 0.1 s timer tick) and re-announces its blocks on the new session, so with RATE = K each one
 * goes through a session a second. Garbage still unanswered when its flapper's next slot comes
 * is counted (unanswered) and the socket closed.
 *
 * The stable clients must notice nothing but the flappers' routes coming and going: a withdrawal
 * of a stable client's announced route received by a stable client (stable_lost), a stable
 * session closed (stable_closed) or ended by a NOTIFICATION (stable_notifications), and the
 * longest silence of the RR towards a stable client (stable_gap_max_ms; KEEPALIVE to KEEPALIVE:
 * stable_ka_gap_max_ms) are reported. The phase is done when every slot was issued and every
 * client is Established again with an exact table, and times out GRACE s after the last slot. */

static uint64_t fl_total, fl_issued, fl_flaps, fl_busy, fl_garbage_sent, fl_unanswered;
static uint64_t fl_answered0;
static double fl_t0, fl_rate, fl_seconds, fl_grace;
static int fl_k, fl_garbage;

static void flap_tick(double t) {
    while (fl_issued < fl_total) {
        if (t < fl_t0 + (double)fl_issued / fl_rate)
            return;
        int j = (int)(fl_issued % (uint64_t)fl_k), ci = flap_first + j;
        client_t *c = &clients[ci];
        if (c->state != S_ESTABLISHED) {
            fl_busy++;
        } else if (j < fl_garbage && !c->garbage_pending) {
            send_garbage(ci, (int)((fl_issued / (uint64_t)fl_k) % 4));
            c->garbage_pending = 1;
            fl_garbage_sent++;
            fl_flaps++;
            flush(ci);
        } else {
            if (c->garbage_pending)
                fl_unanswered++;
            fl_flaps++;
            close_client(ci, "flap");
        }
        fl_issued++;
    }
}

static int flap_wait_ms(void) {
    if (fl_issued >= fl_total)
        return 100;
    double d = fl_t0 + (double)fl_issued / fl_rate - now();
    return d <= 0 ? 0 : d >= 0.1 ? 100 : (int)(d * 1000.0) + 1;
}

static void flap_end(const char *verdict) {
    double t = now(), gap = 0, ka_gap = 0;
    for (int i = 0; i < flap_first; i++) {
        if (clients[i].gap_max > gap)
            gap = clients[i].gap_max;
        if (clients[i].ka_gap_max > ka_gap)
            ka_gap = clients[i].ka_gap_max;
    }
    say("%s flap wall=%.3f cpu=%.3f k=%d rate=%g seconds=%g garbage=%d slots=%llu flaps=%llu"
        " busy=%llu garbage_sent=%llu answered=%llu unanswered=%llu stable_lost=%llu"
        " stable_closed=%llu stable_notifications=%llu stable_gap_max_ms=%.3f"
        " stable_ka_gap_max_ms=%.3f rx_msgs=%llu rx_updates=%llu reconnects=%llu closed=%llu"
        " notifications=%llu ok=%d/%d established=%d/%d",
        verdict, t - phase_start, cpu_self() - phase_cpu0, fl_k, fl_rate, fl_seconds, fl_garbage,
        (unsigned long long)fl_issued, (unsigned long long)fl_flaps, (unsigned long long)fl_busy,
        (unsigned long long)fl_garbage_sent, (unsigned long long)(fl_answered - fl_answered0),
        (unsigned long long)fl_unanswered, (unsigned long long)fl_stable_lost,
        (unsigned long long)fl_stable_closed, (unsigned long long)fl_stable_notifications,
        1e3 * gap, 1e3 * ka_gap, (unsigned long long)(rx_msgs - ph_rx_msgs),
        (unsigned long long)(rx_updates - ph_rx_updates),
        (unsigned long long)(reconnects - ph_reconnects),
        (unsigned long long)(closes - ph_closes),
        (unsigned long long)(notifications - ph_notifications), n_ok, nclients, n_established,
        nclients);
    flapping = 0;
    for (int i = 0; i < nclients; i++)
        clients[i].flapper = 0;
    phase = P_NONE;
}

static void flap_step(double t) {
    flap_tick(t);
    if (fl_issued == fl_total && n_established == nclients && n_ok == nclients)
        flap_end("done");
    else if (t >= fl_t0 + fl_seconds + fl_grace)
        flap_end("timeout");
}

static void cmd_flap(long k, long rate, long secs, long garbage, long grace) {
    if (full_mode || n_established != nclients || n_ok != nclients) {
        say("error flap: needs every session established and converged, not in full-table mode");
        return;
    }
    if (k < 1 || k >= nclients || rate < 1 || rate > 100000 || secs < 1 || secs > 86400 ||
        garbage < 0 || garbage > k || grace < 0 || grace > 3600) {
        say("error flap: K 1..N-1, RATE 1..100000, SECONDS 1..86400, GARBAGE 0..K, GRACE 0..3600");
        return;
    }
    fl_k = (int)k;
    fl_garbage = (int)garbage;
    flap_first = nclients - fl_k;
    for (int i = flap_first; i < nclients; i++)
        clients[i].flapper = 1;
    fl_total = (uint64_t)rate * (uint64_t)secs;
    fl_rate = (double)rate;
    fl_seconds = (double)secs;
    fl_grace = (double)grace;
    fl_issued = fl_flaps = fl_busy = fl_garbage_sent = fl_unanswered = 0;
    fl_stable_lost = fl_stable_closed = fl_stable_notifications = 0;
    fl_answered0 = fl_answered;
    phase_begin(P_FLAP);
    flapping = 1;
    fl_t0 = now();
    flap_tick(fl_t0);
}

/* ---- counters per client -------------------------------------------------------------- */

static const char *STATE_NAMES[] = {"idle", "connecting", "opensent", "openconfirm", "established",
                                    "retry"};

static void say_counters(const char *head, const uint64_t rx[NTYPES], const uint64_t tx[NTYPES],
                         const uint64_t more[5], const uint64_t held[3], double gap,
                         double ka_gap) {
    uint64_t rxm = 0, txm = 0;
    for (int k = 0; k < NTYPES; k++) {
        rxm += rx[k];
        txm += tx[k];
    }
    say("%s rx_msgs=%llu rx_open=%llu rx_update=%llu rx_notification=%llu rx_keepalive=%llu"
        " rx_refresh=%llu rx_other=%llu rx_nlri=%llu rx_withdrawn=%llu rx_bytes=%llu tx_msgs=%llu"
        " tx_open=%llu tx_update=%llu tx_notification=%llu tx_keepalive=%llu tx_refresh=%llu"
        " tx_other=%llu tx_bytes=%llu held=%llu own=%llu stale=%llu gap_max_ms=%.3f"
        " ka_gap_max_ms=%.3f",
        head, (unsigned long long)rxm, (unsigned long long)rx[1], (unsigned long long)rx[2],
        (unsigned long long)rx[3], (unsigned long long)rx[4], (unsigned long long)rx[5],
        (unsigned long long)rx[0], (unsigned long long)more[0], (unsigned long long)more[1],
        (unsigned long long)more[2], (unsigned long long)txm, (unsigned long long)tx[1],
        (unsigned long long)tx[2], (unsigned long long)tx[3], (unsigned long long)tx[4],
        (unsigned long long)tx[5], (unsigned long long)tx[0], (unsigned long long)more[3],
        (unsigned long long)held[0], (unsigned long long)held[1], (unsigned long long)held[2],
        1e3 * gap, 1e3 * ka_gap);
}

static void cmd_clients(long from, long to) {
    if (from < 0 || to > nclients || from > to) {
        say("error clients: FROM 0..TO, TO at most N");
        return;
    }
    for (long i = from; i < to; i++) {
        client_t *c = &clients[i];
        char head[160];
        snprintf(head, sizeof head,
                 "client %ld state=%s sessions=%u downs=%u tx_update_all=%llu hold=%d", i,
                 STATE_NAMES[c->state], c->sessions, c->downs,
                 (unsigned long long)c->tx_update_all, c->state == S_ESTABLISHED ? c->hold : 0);
        const uint64_t more[5] = {c->s_rx_nlri, c->s_rx_wd, c->s_rx_bytes, c->s_tx_bytes, 0};
        const uint64_t held[3] = {c->held, c->own_active, c->nstale};
        say_counters(head, c->s_rx, c->s_tx, more, held, c->gap_max, c->ka_gap_max);
    }
    say("end clients");
}

static void cmd_totals(void) {
    uint64_t rx[NTYPES] = {0}, tx[NTYPES] = {0}, more[5] = {0}, held[3] = {0}, sessions = 0,
             downs = 0;
    double gap = 0, ka_gap = 0;
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        for (int k = 0; k < NTYPES; k++) {
            rx[k] += c->s_rx[k];
            tx[k] += c->s_tx[k];
        }
        more[0] += c->s_rx_nlri;
        more[1] += c->s_rx_wd;
        more[2] += c->s_rx_bytes;
        more[3] += c->s_tx_bytes;
        held[0] += c->held;
        held[1] += c->own_active;
        held[2] += c->nstale;
        sessions += c->sessions;
        downs += c->downs;
        gap = c->gap_max > gap ? c->gap_max : gap;
        ka_gap = c->ka_gap_max > ka_gap ? c->ka_gap_max : ka_gap;
    }
    char head[256];
    snprintf(head, sizeof head,
             "totals clients=%d established=%d ok=%d sessions=%llu downs=%llu stale_purged=%llu"
             " stale_expired=%llu lost_active=%llu",
             nclients, n_established, n_ok, (unsigned long long)sessions,
             (unsigned long long)downs, (unsigned long long)stale_purged,
             (unsigned long long)stale_expired, (unsigned long long)lost_active);
    say_counters(head, rx, tx, more, held, gap, ka_gap);
}

static void command(char *line) {
    char verb[32] = "";
    long a = 0, b = 0, c = 0, d = 0, e = 0;
    int n = sscanf(line, "%31s %ld %ld %ld %ld %ld", verb, &a, &b, &c, &d, &e);
    if (n < 1)
        return;
    int needs_sessions = strcmp(verb, "announce") == 0 || strcmp(verb, "withdraw-half") == 0 ||
                         strcmp(verb, "reannounce") == 0 || strcmp(verb, "fulltable") == 0 ||
                         strcmp(verb, "churn") == 0 || strcmp(verb, "flap") == 0 ||
                         strcmp(verb, "clients") == 0 || strcmp(verb, "totals") == 0;
    if (needs_sessions && !nclients) {
        say("error %s: connect first", verb);
        return;
    }
    if (strcmp(verb, "quit") == 0) {
        say("bye");
        exit(0);
    } else if (strcmp(verb, "timeout") == 0 && n >= 2 && a > 0) {
        phase_timeout = (double)a;
        say("ok timeout %ld", a);
    } else if (strcmp(verb, "opentimeout") == 0 && n >= 2 && a > 0) {
        open_timeout = (double)a;
        say("ok opentimeout %ld", a);
    } else if (strcmp(verb, "status") == 0) {
        say("status clients=%d established=%d ok=%d active=%u echoes=%llu foreign=%llu"
            " reconnects=%llu",
            nclients, n_established, n_ok, active_total, (unsigned long long)echoes,
            (unsigned long long)foreign, (unsigned long long)reconnects);
    } else if (strcmp(verb, "connect") == 0 && n >= 2) {
        cmd_connect((int)a, n >= 3 ? (int)b : 0);
    } else if (strcmp(verb, "announce") == 0 && !full_mode) {
        phase_begin(P_ANNOUNCE);
        change_owned(0, nclients, 1);
        send_owned(0, nclients, 1);
    } else if (strcmp(verb, "withdraw-half") == 0 && !full_mode) {
        phase_begin(P_WITHDRAW);
        change_owned(0, nclients / 2, 0);
        send_owned(0, nclients / 2, 0);
    } else if (strcmp(verb, "reannounce") == 0 && !full_mode) {
        phase_begin(P_REANNOUNCE);
        change_owned(0, nclients / 2, 1);
        send_owned(0, nclients / 2, 1);
    } else if (strcmp(verb, "churn") == 0 && n >= 3) {
        cmd_churn(a, b, n >= 4 ? c : 1, n >= 5 ? d : 10);
    } else if (strcmp(verb, "fulltable-withdraw") == 0) {
        if (!full_mode || active_total < 2) {
            say("error fulltable-withdraw: run fulltable first");
            return;
        }
        phase_begin(P_FULL_WD);
        withdraw_first_half();
    } else if (strcmp(verb, "flap") == 0 && n >= 4) {
        cmd_flap(a, b, c, n >= 5 ? d : 0, n >= 6 ? e : 10);
    } else if (strcmp(verb, "hold") == 0 && n >= 2 && (a == 0 || (a >= 3 && a <= 65535))) {
        hold_time = (int)a;
        say("ok hold %ld", a);
    } else if (strcmp(verb, "gr") == 0 && n >= 2 && a >= 0 && a <= 4095) {
        gr_time = (int)a;
        say("ok gr %ld", a);
    } else if (strcmp(verb, "clients") == 0 && n >= 3) {
        cmd_clients(a, b);
    } else if (strcmp(verb, "totals") == 0) {
        cmd_totals();
    } else if (strcmp(verb, "fulltable") == 0 && n >= 2) {
        if (a < 1 || a > (long)NPFX || active_total != 0) {
            say("error fulltable: COUNT must be 1..%u, on a fresh simulator", NPFX);
            return;
        }
        phase_begin(P_FULL);
        full_mode = 1;
        if (nbits < NPFX) { /* the whole index space, for client 0's COUNT prefixes */
            for (int i = 0; i < nclients; i++) {
                client_t *c = &clients[i];
                free(c->bits);
                c->bits = xcalloc(WORDS, sizeof(uint64_t));
                c->held = c->held_active = 0;
            }
            nbits = NPFX;
            nwords = WORDS;
        }
        for (uint32_t i = 0; i < (uint32_t)a; i++)
            flip_active(i, 1);
        recount_held_active();
        if (clients[0].state == S_ESTABLISHED) {
            announce_owned(0);
            flush(0);
        }
    } else {
        say("error unknown or invalid command: %s", line);
    }
}

/* ---- main loop ----------------------------------------------------------------------- */

static char inbuf[4096];
static size_t inlen;
static int stdin_open = 1;

static void read_stdin(void) {
    ssize_t n = read(0, inbuf + inlen, sizeof inbuf - 1 - inlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        stdin_open = 0;
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        return;
    }
    inlen += (size_t)n;
    if (inlen >= sizeof inbuf - 1)
        inlen = 0; /* an absurdly long line: drop it */
}

static void run_commands(void) {
    while (phase == P_NONE) {
        char *nl = memchr(inbuf, '\n', inlen);
        if (!nl)
            break;
        *nl = 0;
        char line[4096];
        size_t l = (size_t)(nl - inbuf);
        memcpy(line, inbuf, l + 1);
        memmove(inbuf, nl + 1, inlen - l - 1);
        inlen -= l + 1;
        command(line);
    }
    if (phase == P_NONE && !stdin_open) {
        say("bye");
        exit(0);
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 179;
    if (argc >= 2)
        host = argv[1];
    if (argc >= 3)
        port = atoi(argv[2]);
    if (argc > 3 || (argc >= 2 && strcmp(argv[1], "-h") == 0)) {
        fprintf(stderr, "usage: %s [RR_ADDRESS [PORT]]  (commands on stdin)\n", argv[0]);
        return 2;
    }
    rr_addr.sin_family = AF_INET;
    rr_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &rr_addr.sin_addr) != 1) {
        fprintf(stderr, "bgpsim: bad address %s\n", host);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
    say("ready rr=%s:%d nofile=%llu", host, port, (unsigned long long)rl.rlim_cur);

    struct epoll_event evs[1024];
    double last_timers = now();
    for (;;) {
        if (phase == P_CONNECT)
            start_pending();
        int n = epoll_wait(ep, evs, 1024,
                           phase == P_CHURN  ? churn_wait_ms()
                           : phase == P_FLAP ? flap_wait_ms()
                                             : 100);
        if (n < 0 && errno != EINTR) {
            say("fatal epoll_wait: %s", strerror(errno));
            return 3;
        }
        for (int i = 0; i < n; i++) {
            uint32_t ci = evs[i].data.u32;
            if (ci == UINT32_MAX) {
                read_stdin();
                continue;
            }
            client_t *c = &clients[ci];
            if (c->fd < 0)
                continue;
            if (c->state == S_CONNECTING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_connected((int)ci);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable((int)ci);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                flush((int)ci);
        }
        /* Replies queued while parsing (keepalives) are flushed by their senders. */
        double t = now();
        if (t - last_timers >= 0.1) {
            timers(t);
            last_timers = t;
        }
        if (phase == P_CHURN) {
            churn_step(t);
        } else if (phase == P_FLAP) {
            flap_step(t);
        } else if (phase != P_NONE) {
            if (phase_complete())
                phase_end("done");
            else if (t >= phase_deadline)
                phase_end("timeout");
        }
        run_commands();
    }
}
