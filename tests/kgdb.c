/* tests/kgdb.c: a gdb stub for the image under the kernel model.
 *
 * It speaks gdb's remote serial protocol (the "Remote Protocol" appendix
 * of gdb's manual) over a pipe: packets "$DATA#CC", CC the sum of DATA's
 * bytes modulo 256 in two hex digits, each acknowledged by '+' until gdb
 * and the stub agree to stop acknowledging (QStartNoAckMode).  It serves
 * one process, memd's, as one thread, in all-stop mode:
 *
 *   ?            why memd is stopped
 *   g G p P      the general registers, in gdb's amd64 order (rax ... r15,
 *                rip, then eflags and the segment registers, 32 bits
 *                each); the x87 and SSE registers, which the image never
 *                uses (it is built without them), are not sent, and gdb
 *                shows them as unavailable
 *   m M          memory, read and written through ptrace (so the image's
 *                read-only code can take a breakpoint); a read shows the
 *                bytes under the stub's breakpoints, not the int3s
 *   Z0 z0        software breakpoints: int3 (0xCC) written over the
 *                instruction's first byte, reported as "swbreak" with rip
 *                moved back onto the instruction
 *   c s C S      continue and single-step (a signal to deliver is
 *                ignored: memd has no signal handlers to deliver it to)
 *   D k vKill    detach (the model plays the rest of the scenario alone),
 *                kill
 *   q...         qSupported, qAttached, qC, qfThreadInfo, qsThreadInfo;
 *                any other packet gets the empty reply, "not supported"
 *
 * Continuing is PTRACE_SYSEMU, as when the model runs alone, and stepping
 * is PTRACE_SYSEMU_SINGLESTEP.  Every stop that is neither one of the
 * stub's breakpoints nor the end of a step (a system call, above all) is
 * handed to the model, which carries it out as always; a system call met
 * by a step ends the step, carried out, with rip after the `syscall`
 * instruction.  A fault memd takes is the model's too (it fails the run),
 * and gdb is then shown the fault, so that `bt` says where it happened.
 * A Ctrl-C in gdb stops memd with SIGSTOP, reported as SIGINT.
 *
 * When the model ends the run (the script is over, memd halted or broke
 * a rule), gdb's request to continue or step is left unanswered until the
 * model has judged the run; kgdb_finish then answers it with the exit
 * code, 0 for a pass.  Written from the protocol's documentation.
 */
#define _GNU_SOURCE  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): glibc's switch for the POSIX and Linux declarations (kill, siginfo_t, O_CLOEXEC)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kgdb.h"

#define PACKET_MAX 0x4000u    /* the largest packet either side sends */
#define MAX_BREAKPOINTS 64u
#define INT3 0xCCu

struct breakpoint { uint64_t addr; uint8_t saved; };

enum owed { OWE_NOTHING, OWE_EXIT, OWE_OK };

static struct {
    int in, out;              /* the protocol's pipe (kgdb_setup) */
    pid_t pid;
    const struct kgdb_model *model;
    bool noack;               /* gdb and the stub stopped acknowledging */
    bool over;                /* the model has ended the run */
    bool gone;                /* gdb hung up */
    bool interrupt;           /* gdb asked memd to stop (Ctrl-C) */
    enum owed owed;           /* the answer kgdb_finish gives */
    char last_stop[32];       /* the stop reply '?' repeats */
    uint8_t rbuf[PACKET_MAX + 64];
    size_t rpos, rlen;
    struct breakpoint bp[MAX_BREAKPOINTS];
    unsigned nbp;
    int sigfd;                /* SIGCHLD, to wait and read gdb at once */
    sigset_t oldmask;
} g = { .in = -1, .out = -1, .sigfd = -1 };

/* --- hex ------------------------------------------------------------- */

static const char hexdigits[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads a hex number at *s, moving *s past it; false if there is none. */
static bool hexnum(const char **s, uint64_t *v)
{
    const char *p = *s;
    uint64_t n = 0;
    int d;
    while ((d = hexval((unsigned char)*p)) >= 0 && p - *s < 16) {
        n = (n << 4) | (uint64_t)d;
        p++;
    }
    if (p == *s)
        return false;
    *v = n;
    *s = p;
    return true;
}

/* Writes len bytes as hex at out (2 * len + 1 bytes of room). */
static void tohex(char *out, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexdigits[b[i] >> 4];
        out[2 * i + 1] = hexdigits[b[i] & 15u];
    }
    out[2 * len] = '\0';
}

/* Reads len bytes of hex at s into b; false if s holds fewer. */
static bool fromhex(uint8_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hexval((unsigned char)s[2 * i]);
        int lo = hi < 0 ? -1 : hexval((unsigned char)s[2 * i + 1]);
        if (lo < 0)
            return false;
        b[i] = (uint8_t)((hi << 4) | lo);
    }
    return true;
}

/* A reply, or a stop reply, that is a short constant: out has room. */
static void say(char *out, const char *text)
{
    memcpy(out, text, strlen(text) + 1u);
}

/* --- the pipe -------------------------------------------------------- */

bool kgdb_setup(void)
{
    g.in = fcntl(0, F_DUPFD_CLOEXEC, 3);
    g.out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (g.in < 0 || g.out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0) {
        (void)fprintf(stderr, "kmodel: --gdb: cannot set up the pipe to gdb: %s\n", strerror(errno));
        return false;
    }
    close(null);
    (void)signal(SIGPIPE, SIG_IGN);   /* gdb gone is an error from write */
    return true;
}

/* Reads what gdb sent into rbuf; false when gdb hung up. */
static bool fill(void)
{
    if (g.rpos == g.rlen)
        g.rpos = g.rlen = 0;
    if (g.rlen == sizeof g.rbuf) {   /* a packet too long: drop what is held */
        g.rpos = g.rlen = 0;
    }
    ssize_t n;
    do {
        n = read(g.in, g.rbuf + g.rlen, sizeof g.rbuf - g.rlen);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        g.gone = true;
        return false;
    }
    g.rlen += (size_t)n;
    return true;
}

static int getbyte(void)
{
    if (g.gone || (g.rpos == g.rlen && !fill()))
        return -1;
    return g.rbuf[g.rpos++];
}

static bool write_all(const char *p, size_t n)
{
    while (n > 0 && !g.gone) {
        ssize_t w = write(g.out, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            g.gone = true;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    return !g.gone;
}

/* Sends one packet; false when gdb is gone. */
static bool put_packet(const char *data)
{
    static char frame[PACKET_MAX + 8];
    size_t n = strlen(data);
    if (n > PACKET_MAX)
        n = PACKET_MAX;
    unsigned sum = 0;
    frame[0] = '$';
    for (size_t i = 0; i < n; i++) {
        frame[1 + i] = data[i];
        sum += (unsigned char)data[i];
    }
    frame[1 + n] = '#';
    frame[2 + n] = hexdigits[(sum >> 4) & 15u];
    frame[3 + n] = hexdigits[sum & 15u];
    for (;;) {
        if (!write_all(frame, n + 4))
            return false;
        if (g.noack)
            return true;
        int c;
        do {
            c = getbyte();
        } while (c >= 0 && c != '+' && c != '-');
        if (c != '-')
            return c == '+';
    }
}

/* Reads one packet into buf (NUL-terminated); false when gdb is gone.  A
   packet with a bad checksum is refused and read again. */
static bool get_packet(char *buf, size_t cap)
{
    for (;;) {
        int c;
        do {
            c = getbyte();
        } while (c >= 0 && c != '$');  /* acks and stray interrupts */
        if (c < 0)
            return false;
        size_t n = 0;
        unsigned sum = 0;
        bool too_long = false;
        while ((c = getbyte()) >= 0 && c != '#') {
            sum += (unsigned)c;
            if (n + 1 < cap)
                buf[n++] = (char)c;
            else
                too_long = true;
        }
        int h = getbyte(), l = getbyte();
        if (c < 0 || h < 0 || l < 0)
            return false;
        buf[n] = '\0';
        bool good = hexval(h) >= 0 && hexval(l) >= 0 &&
                    (unsigned)(hexval(h) << 4 | hexval(l)) == (sum & 0xFFu);
        if (g.noack || good) {
            if (!g.noack && !write_all("+", 1))
                return false;
            if (too_long)
                buf[0] = '\0';          /* answered as unsupported */
            return true;
        }
        if (!write_all("-", 1))
            return false;
    }
}

/* While memd runs, gdb may send only an interrupt (0x03); anything else
   is kept for the next packet. */
static void read_while_running(void)
{
    size_t from = g.rlen;
    if (!fill()) {
        g.interrupt = true;      /* gdb is gone: stop memd, and end */
        kill(g.pid, SIGSTOP);
        return;
    }
    size_t k = from;
    for (size_t i = from; i < g.rlen; i++) {
        if (g.rbuf[i] == 0x03) {
            if (!g.interrupt)
                kill(g.pid, SIGSTOP);
            g.interrupt = true;
        } else {
            g.rbuf[k++] = g.rbuf[i];
        }
    }
    g.rlen = k;
}

/* --- memd's process ------------------------------------------------- */

/* Waits for memd's process to stop or end, reading gdb meanwhile. */
static bool wait_stop(int *st)
{
    for (;;) {
        pid_t w = waitpid(g.pid, st, g.sigfd >= 0 ? WNOHANG : 0);
        if (w == g.pid)
            return true;
        if (w < 0 && errno != EINTR)
            return false;
        if (w != 0)
            continue;
        struct pollfd p[2] = { { g.sigfd, POLLIN, 0 }, { g.in, POLLIN, 0 } };
        nfds_t n = g.gone ? 1u : 2u;
        if (poll(p, n, -1) < 0 && errno != EINTR)
            return false;
        if ((p[0].revents & POLLIN) != 0) {
            struct signalfd_siginfo si;
            while (read(g.sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
        }
        if (n == 2u && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            read_while_running();
    }
}

/* Memory, a word at a time through ptrace: it writes even the image's
   read-only code. */
static bool peek_word(uint64_t addr, uint64_t *w)
{
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, g.pid, (void *)(uintptr_t)addr, NULL);
    if (errno != 0)
        return false;
    *w = (uint64_t)v;
    return true;
}

/* Reads up to len bytes at addr; returns how many it could. */
static size_t mem_read(uint64_t addr, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t a = addr + done, base = a & ~(uint64_t)7, w;
        if (a < addr || !peek_word(base, &w))
            break;
        for (uint64_t i = a - base; i < 8u && done < len; i++)
            buf[done++] = (uint8_t)(w >> (8u * i));
    }
    return done;
}

static bool mem_write(uint64_t addr, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t a = addr + done, base = a & ~(uint64_t)7, w;
        if (a < addr || !peek_word(base, &w))
            return false;
        for (uint64_t i = a - base; i < 8u && done < len; i++) {
            w &= ~((uint64_t)0xFF << (8u * i));
            w |= (uint64_t)buf[done++] << (8u * i);
        }
        if (ptrace(PTRACE_POKEDATA, g.pid, (void *)(uintptr_t)base, (void *)(uintptr_t)w) != 0)
            return false;
    }
    return true;
}

static struct breakpoint *bp_at(uint64_t addr)
{
    for (unsigned i = 0; i < g.nbp; i++)
        if (g.bp[i].addr == addr)
            return &g.bp[i];
    return NULL;
}

static bool bp_insert(uint64_t addr)
{
    if (bp_at(addr) != NULL)
        return true;
    uint8_t saved, cc = INT3;
    if (g.nbp == MAX_BREAKPOINTS || mem_read(addr, &saved, 1) != 1 || !mem_write(addr, &cc, 1))
        return false;
    g.bp[g.nbp++] = (struct breakpoint){ addr, saved };
    return true;
}

static bool bp_remove(uint64_t addr)
{
    struct breakpoint *b = bp_at(addr);
    if (b == NULL)
        return true;
    bool ok = mem_write(addr, &b->saved, 1);
    *b = g.bp[--g.nbp];
    return ok;
}

/* The registers of gdb's amd64 description, in its order: 17 of 8 bytes,
   then 7 of 4. */
#define NREGS 24u
static const size_t reg_offset[NREGS] = {
    offsetof(struct user_regs_struct, rax), offsetof(struct user_regs_struct, rbx),
    offsetof(struct user_regs_struct, rcx), offsetof(struct user_regs_struct, rdx),
    offsetof(struct user_regs_struct, rsi), offsetof(struct user_regs_struct, rdi),
    offsetof(struct user_regs_struct, rbp), offsetof(struct user_regs_struct, rsp),
    offsetof(struct user_regs_struct, r8), offsetof(struct user_regs_struct, r9),
    offsetof(struct user_regs_struct, r10), offsetof(struct user_regs_struct, r11),
    offsetof(struct user_regs_struct, r12), offsetof(struct user_regs_struct, r13),
    offsetof(struct user_regs_struct, r14), offsetof(struct user_regs_struct, r15),
    offsetof(struct user_regs_struct, rip), offsetof(struct user_regs_struct, eflags),
    offsetof(struct user_regs_struct, cs), offsetof(struct user_regs_struct, ss),
    offsetof(struct user_regs_struct, ds), offsetof(struct user_regs_struct, es),
    offsetof(struct user_regs_struct, fs), offsetof(struct user_regs_struct, gs),
};

static size_t reg_size(unsigned i)
{
    return i < 17u ? 8u : 4u;
}

/* Register i of regs, as gdb's bytes (little-endian). */
static void reg_get(const struct user_regs_struct *regs, unsigned i, uint8_t *out)
{
    unsigned long long v;
    memcpy(&v, (const char *)regs + reg_offset[i], sizeof v);
    for (size_t k = 0; k < reg_size(i); k++)
        out[k] = (uint8_t)(v >> (8u * k));
}

static void reg_set(struct user_regs_struct *regs, unsigned i, const uint8_t *in)
{
    unsigned long long v;
    memcpy(&v, (char *)regs + reg_offset[i], sizeof v);
    for (size_t k = 0; k < reg_size(i); k++) {
        v &= ~(0xFFull << (8u * k));
        v |= (unsigned long long)in[k] << (8u * k);
    }
    memcpy((char *)regs + reg_offset[i], &v, sizeof v);
}

/* gdb's numbers for the signals memd can stop with (gdb's own table, not
   Linux's, though most agree). */
static unsigned gdb_signal(int sig)
{
    switch (sig) {
    case SIGHUP: return 1;
    case SIGINT: return 2;
    case SIGQUIT: return 3;
    case SIGILL: return 4;
    case SIGTRAP: return 5;
    case SIGABRT: return 6;
    case SIGFPE: return 8;
    case SIGKILL: return 9;
    case SIGBUS: return 10;
    case SIGSEGV: return 11;
    case SIGSYS: return 12;
    case SIGPIPE: return 13;
    case SIGALRM: return 14;
    case SIGTERM: return 15;
    case SIGSTOP: return 17;
    default: return 143;          /* gdb's "unknown signal" */
    }
}

/* Resumes memd, by one instruction or until it stops for gdb.  True with
   the stop reply in g.last_stop; false when the run is over. */
static bool resume(bool step)
{
    while (!g.over) {
        int st;
        if (ptrace(step ? PTRACE_SYSEMU_SINGLESTEP : PTRACE_SYSEMU, g.pid, NULL, NULL) != 0 ||
            !wait_stop(&st)) {
            g.over = true;     /* the model's own loop finds out why */
            return false;
        }
        if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP) {
            siginfo_t si;
            struct user_regs_struct regs;
            memset(&si, 0, sizeof si);
            if (ptrace(PTRACE_GETSIGINFO, g.pid, NULL, &si) == 0 &&
                ptrace(PTRACE_GETREGS, g.pid, NULL, &regs) == 0 && si.si_code == SI_KERNEL &&
                bp_at(regs.rip - 1u) != NULL) {
                regs.rip -= 1u;       /* back onto the instruction */
                if (ptrace(PTRACE_SETREGS, g.pid, NULL, &regs) == 0) {
                    say(g.last_stop, "T05swbreak:;");
                    return true;
                }
            } else if (step) {
                say(g.last_stop, "T05");
                return true;
            }
        } else if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && g.interrupt) {
            g.interrupt = false;
            say(g.last_stop, "T02");
            return true;
        } else if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            if (!g.model->event(g.model->ctx, st)) {
                g.over = true;
                return false;
            }
            if (step) {
                say(g.last_stop, "T05");
                return true;
            }
            continue;
        }
        /* Not gdb's: the model's, which fails the run; gdb sees the fault. */
        if (!g.model->event(g.model->ctx, st))
            g.over = true;
        if (WIFSTOPPED(st)) {
            (void)snprintf(g.last_stop, sizeof g.last_stop, "T%02x", gdb_signal(WSTOPSIG(st)));
            return true;
        }
    }
    return false;
}

/* --- the packets ----------------------------------------------------- */

/* "ADDR,LEN" at s; s is moved past it. */
static bool addr_len(const char **s, uint64_t *addr, uint64_t *len)
{
    return hexnum(s, addr) && *(*s)++ == ',' && hexnum(s, len);
}

static void reply_registers(char *out)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, g.pid, NULL, &regs) != 0) {
        say(out, "E01");
        return;
    }
    size_t k = 0;
    for (unsigned i = 0; i < NREGS; i++) {
        uint8_t b[8];
        reg_get(&regs, i, b);
        tohex(out + k, b, reg_size(i));
        k += 2u * reg_size(i);
    }
}

static void write_registers(const char *s, char *out)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, g.pid, NULL, &regs) != 0) {
        say(out, "E01");
        return;
    }
    for (unsigned i = 0; i < NREGS; i++) {
        uint8_t b[8];
        if (!fromhex(b, s, reg_size(i)))
            break;
        reg_set(&regs, i, b);
        s += 2u * reg_size(i);
    }
    say(out, ptrace(PTRACE_SETREGS, g.pid, NULL, &regs) == 0 ? "OK" : "E01");
}

static void one_register(const char *s, char *out, bool write)
{
    uint64_t n;
    struct user_regs_struct regs;
    uint8_t b[8];
    bool ok = hexnum(&s, &n) && (!write || *s++ == '=');
    if (ok && n >= NREGS) {
        say(out, write ? "E01" : "");   /* a register not sent */
        return;
    }
    ok = ok && ptrace(PTRACE_GETREGS, g.pid, NULL, &regs) == 0;
    if (ok && !write) {
        reg_get(&regs, (unsigned)n, b);
        tohex(out, b, reg_size((unsigned)n));
        return;
    }
    ok = ok && fromhex(b, s, reg_size((unsigned)n));
    if (ok)
        reg_set(&regs, (unsigned)n, b);
    say(out, ok && ptrace(PTRACE_SETREGS, g.pid, NULL, &regs) == 0 ? "OK" : "E01");
}

static void read_memory(const char *s, char *out)
{
    static uint8_t buf[PACKET_MAX / 2];
    uint64_t addr, len;
    if (!addr_len(&s, &addr, &len)) {
        say(out, "E01");
        return;
    }
    if (len > sizeof buf)
        len = sizeof buf;
    size_t got = mem_read(addr, buf, (size_t)len);
    if (got == 0 && len != 0) {
        say(out, "E14");
        return;
    }
    for (unsigned i = 0; i < g.nbp; i++)   /* the code, not the int3s */
        if (g.bp[i].addr >= addr && g.bp[i].addr - addr < got)
            buf[g.bp[i].addr - addr] = g.bp[i].saved;
    tohex(out, buf, got);
}

static void write_memory(const char *s, char *out)
{
    static uint8_t buf[PACKET_MAX / 2];
    uint64_t addr, len;
    if (!addr_len(&s, &addr, &len) || *s++ != ':' || len > sizeof buf ||
        !fromhex(buf, s, (size_t)len)) {
        say(out, "E01");
        return;
    }
    bool ok = mem_write(addr, buf, (size_t)len);
    uint8_t cc = INT3;
    for (unsigned i = 0; ok && i < g.nbp; i++) {   /* a breakpoint stays */
        if (g.bp[i].addr >= addr && g.bp[i].addr - addr < len) {
            g.bp[i].saved = buf[g.bp[i].addr - addr];
            ok = mem_write(g.bp[i].addr, &cc, 1);
        }
    }
    say(out, ok ? "OK" : "E14");
}

static void breakpoint_packet(const char *s, char *out, bool insert)
{
    uint64_t addr, kind;
    if (*s++ != '0' || *s++ != ',') {
        out[0] = '\0';        /* hardware breakpoints, watchpoints: none */
        return;
    }
    if (!addr_len(&s, &addr, &kind)) {
        say(out, "E01");
        return;
    }
    say(out, (insert ? bp_insert(addr) : bp_remove(addr)) ? "OK" : "E01");
}

/* c [ADDR], s [ADDR], C SIG[;ADDR], S SIG[;ADDR]: resume, after moving
   rip to ADDR if it is given. */
static bool resume_packet(const char *s, bool step, bool with_signal)
{
    uint64_t addr;
    if (with_signal) {
        uint64_t sig;
        (void)hexnum(&s, &sig);
        if (*s == ';')
            s++;
    }
    if (hexnum(&s, &addr)) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, g.pid, NULL, &regs) == 0) {
            regs.rip = addr;
            (void)ptrace(PTRACE_SETREGS, g.pid, NULL, &regs);
        }
    }
    return resume(step);
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void remove_breakpoints(void)
{
    while (g.nbp > 0)
        (void)bp_remove(g.bp[g.nbp - 1u].addr);
}

enum kgdb_end kgdb_serve(pid_t pid, const struct kgdb_model *m)
{
    static char in[PACKET_MAX + 1], out[PACKET_MAX + 1];
    g.pid = pid;
    g.model = m;
    g.over = g.interrupt = false;
    g.owed = OWE_NOTHING;
    g.nbp = 0;
    say(g.last_stop, "T05");
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, &g.oldmask) == 0)
        g.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    enum kgdb_end end = KGDB_KILLED;
    while (get_packet(in, sizeof in)) {
        const char *s = in;
        out[0] = '\0';
        switch (*s++) {
        case '?':
            say(out, g.last_stop);
            break;
        case 'g': reply_registers(out); break;
        case 'G': write_registers(s, out); break;
        case 'p': one_register(s, out, false); break;
        case 'P': one_register(s, out, true); break;
        case 'm': read_memory(s, out); break;
        case 'M': write_memory(s, out); break;
        case 'Z': breakpoint_packet(s, out, true); break;
        case 'z': breakpoint_packet(s, out, false); break;
        case 'c': case 's': case 'C': case 'S':
            if (!resume_packet(s, in[0] == 's' || in[0] == 'S', in[0] == 'C' || in[0] == 'S')) {
                end = KGDB_RUN_OVER;
                g.owed = OWE_EXIT;
                goto done;
            }
            say(out, g.last_stop);
            break;
        case 'D':
            end = KGDB_DETACHED;
            g.owed = OWE_OK;
            goto done;
        case 'k':
            end = KGDB_KILLED;
            goto done;
        case 'H': case 'T':
            say(out, "OK");
            break;
        case 'v':
            if (starts(in, "vKill")) {
                end = KGDB_KILLED;
                g.owed = OWE_OK;
                goto done;
            }
            break;            /* vCont? and the rest: c and s will do */
        case 'q':
            if (starts(in, "qSupported"))
                (void)snprintf(out, sizeof out, "PacketSize=%x;swbreak+;QStartNoAckMode+", PACKET_MAX);
            else if (strcmp(in, "qAttached") == 0 || starts(in, "qAttached:"))
                say(out, "0");   /* the model started memd */
            else if (strcmp(in, "qC") == 0)
                say(out, "QC1");
            else if (strcmp(in, "qfThreadInfo") == 0)
                say(out, "m1");
            else if (strcmp(in, "qsThreadInfo") == 0)
                say(out, "l");
            break;
        case 'Q':
            if (strcmp(in, "QStartNoAckMode") == 0) {
                if (put_packet("OK"))
                    g.noack = true;
                continue;
            }
            break;
        default:
            break;
        }
        if (!put_packet(out))
            break;
    }
done:
    if (!g.over || end == KGDB_DETACHED)
        remove_breakpoints();
    if (g.sigfd >= 0)
        close(g.sigfd);
    g.sigfd = -1;
    (void)sigprocmask(SIG_SETMASK, &g.oldmask, NULL);
    return end;
}

void kgdb_finish(int code)
{
    static char in[PACKET_MAX + 1];
    char reply[16] = "";
    (void)fflush(NULL);       /* the verdict is out before gdb hears it */
    if (g.owed == OWE_EXIT)
        (void)snprintf(reply, sizeof reply, "W%02x", (unsigned)code & 0xFFu);
    else if (g.owed == OWE_OK)
        say(reply, "OK");
    if (g.owed == OWE_NOTHING || !put_packet(reply))
        return;
    g.owed = OWE_NOTHING;
    /* gdb hangs up after hearing that memd exited; until then, memd is gone. */
    while (get_packet(in, sizeof in)) {
        if (in[0] == 'k' || starts(in, "vKill"))
            return;
        if (!put_packet(in[0] == '?' ? reply : ""))
            return;
    }
}
