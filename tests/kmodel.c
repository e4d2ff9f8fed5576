/* tests/kmodel.c: a model of the EriX kernel that boots the real memd image.
 *
 *   kmodel [-q] IMAGE SCENARIO     run one scenario; print its trace
 *   kmodel --gdb IMAGE SCENARIO    the same, with memd held for gdb: the
 *                                  stub (tests/kgdb.c) talks on stdin and
 *                                  stdout, the trace goes to stderr
 *   kmodel --names                 print every ABI name the model knows
 *
 * The model starts IMAGE (build/memd, the very bytes the EriX kernel would
 * load) as a Linux process under ptrace and stops it at every `syscall`
 * instruction with PTRACE_SYSEMU, so that the host kernel never executes
 * one of memd's system calls.  It then carries the call out itself, as the
 * ABI chapter of memd.nw defines it: a capability space of typed slots with
 * rights, untyped objects with a watermark, frames and the copies clients
 * hold, endpoints and badges, receive and reply with message buffers
 * copied out of and into memd's memory.  It writes the startup frame at the
 * top of the image's stack reserve and sets the entry registers; it plays
 * rootd and memd's clients from a scenario file (tests/scenarios/README.md
 * describes the format; tests/kmodel-scenario.c reads it) and checks every
 * reply memd sends.
 *
 * Every number comes from memd-abi.h, tangled from memd.nw: the contract
 * has one source.  The model is not a mock: whatever the real kernel would
 * refuse (a retype into an occupied slot, a slot without the right needed),
 * whatever breaks memd's own promises (a frame handed to a second client
 * while the first still holds a copy, or before it was cleared; a slot
 * nobody named; a bad pointer; a system call the ABI does not have) fails
 * the run.  The model catches memd's mistakes; it does not echo them.
 *
 * Output: the trace, one line per event, then a verdict line, "PASS ..."
 * or "FAIL: why".  Exit status 0 on PASS, 1 on FAIL, 2 on a usage or
 * scenario error.  The trace holds no time, no process id and no host
 * address, so the same scenario gives the same bytes every run.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kgdb.h"
#include "kmodel.h"

/* Little-endian bytes, as the wire has them. */

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void put16(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}


/* ======================================================================
 * The image: an ELF64 x86-64 executable.  The model needs its entry
 * point, its loadable segments (to check every pointer memd passes) and
 * the two ends of its stack reserve (where the startup frame goes).
 * ====================================================================== */

#define MAX_SEGS 16u

struct seg { uint64_t lo, hi; uint32_t flags; };

struct image {
    const char *path;
    uint64_t entry, stack_low, stack_high;
    uint32_t nseg;
    struct seg seg[MAX_SEGS];
};

static bool load_image(const char *path, struct image *im)
{
    memset(im, 0, sizeof *im);
    im->path = path;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "kmodel: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < (long)sizeof(Elf64_Ehdr) || size > (64L << 20)) {
        fclose(f);
        fprintf(stderr, "kmodel: %s: not an image of a sensible size\n", path);
        return false;
    }
    uint8_t *b = xcalloc((size_t)size, 1);
    bool ok = fread(b, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    const char *why = NULL;
    Elf64_Ehdr eh;
    memcpy(&eh, b, sizeof eh);
    if (!ok)
        why = "cannot read it";
    else if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        why = "not ELF";
    else if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        why = "not ELF64 little-endian";
    else if (eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC)
        why = "not an x86-64 ET_EXEC";
    else if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > (uint64_t)size ||
             (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > (uint64_t)size - eh.e_phoff)
        why = "bad program headers";
    else if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > (uint64_t)size ||
             (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > (uint64_t)size - eh.e_shoff)
        why = "bad section headers";
    if (why == NULL) {
        im->entry = eh.e_entry;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            memcpy(&ph, b + eh.e_phoff + i * sizeof ph, sizeof ph);
            if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
                continue;
            if (im->nseg == MAX_SEGS || ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
                why = "too many or wrapping segments";
                break;
            }
            im->seg[im->nseg++] = (struct seg){ ph.p_vaddr, ph.p_vaddr + ph.p_memsz,
                                                ph.p_flags };
        }
    }
    bool low = false, high = false;
    for (unsigned i = 0; why == NULL && i < eh.e_shnum; i++) {
        Elf64_Shdr sh, strh;
        memcpy(&sh, b + eh.e_shoff + i * sizeof sh, sizeof sh);
        if (sh.sh_type != SHT_SYMTAB)
            continue;
        if (sh.sh_link >= eh.e_shnum || sh.sh_entsize != sizeof(Elf64_Sym) ||
            sh.sh_offset > (uint64_t)size || sh.sh_size > (uint64_t)size - sh.sh_offset) {
            why = "bad symbol table";
            break;
        }
        memcpy(&strh, b + eh.e_shoff + sh.sh_link * sizeof strh, sizeof strh);
        if (strh.sh_offset > (uint64_t)size || strh.sh_size > (uint64_t)size - strh.sh_offset ||
            strh.sh_size == 0) {
            why = "bad string table";
            break;
        }
        const char *strs = (const char *)b + strh.sh_offset;
        for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
            Elf64_Sym sym;
            memcpy(&sym, b + sh.sh_offset + k * sizeof sym, sizeof sym);
            if (sym.st_name >= strh.sh_size ||
                memchr(strs + sym.st_name, '\0', strh.sh_size - sym.st_name) == NULL)
                continue;
            const char *nm = strs + sym.st_name;
            if (strcmp(nm, "memd_stack_low") == 0) {
                im->stack_low = sym.st_value;
                low = true;
            } else if (strcmp(nm, "memd_stack_high") == 0) {
                im->stack_high = sym.st_value;
                high = true;
            }
        }
    }
    if (why == NULL && (!low || !high || im->stack_high <= im->stack_low))
        why = "no stack reserve (symbols memd_stack_low, memd_stack_high)";
    free(b);
    if (why != NULL) {
        fprintf(stderr, "kmodel: %s: %s\n", path, why);
        return false;
    }
    return true;
}

/* Does [addr, addr+len) lie in one loadable segment with the access? */
static bool image_range_ok(const struct image *im, uint64_t addr, uint64_t len,
                           bool write)
{
    if (len == 0)
        return true;
    if (addr + len < addr)
        return false;
    for (uint32_t i = 0; i < im->nseg; i++) {
        const struct seg *s = &im->seg[i];
        if (addr >= s->lo && addr + len <= s->hi)
            return (s->flags & (write ? PF_W : PF_R)) != 0;
    }
    return false;
}

/* ======================================================================
 * The kernel's state: memd's capability space, the objects its
 * capabilities name, and the copies handed to clients.
 * ====================================================================== */

enum ep_id { EP_NONE, EP_MEM, EP_READY, EP_OTHER };

struct cap {
    uint8_t type;
    uint8_t rights;
    uint32_t obj;             /* untyped: index; frame: index; endpoint: ep_id */
};

struct kuntyped {
    uint32_t slot;
    uint64_t base;
    uint32_t bits;            /* its real size, 2^bits bytes */
    uint32_t declared_bits;   /* the size the envelope declares for it */
    bool device;
    uint64_t watermark;       /* bytes retyped so far */
    bool described;           /* the envelope's untyped table names it as RAM */
};

struct kframe {
    uint64_t phys;
    uint32_t untyped;         /* its parent untyped, or UINT32_MAX */
    uint32_t slot;            /* memd's slot holding it; UINT32_MAX if deleted */
    uint32_t copies;          /* copies alive in clients' spaces */
    uint64_t holder;          /* the badge holding the copy */
    bool dirty;               /* a client may have written to it */
    uint32_t number;          /* memd's name for it; UINT32_MAX until named */
    uint32_t handed;          /* how many times it went to a client */
    bool given_back;          /* its holder sent a free naming it */
};

struct client_view {          /* what the client believes it holds */
    bool departed;
    uint32_t reclaimable;     /* frames rootd's reclaims let memd take back */
    uint32_t n, cap;
    uint32_t *frames;         /* frame numbers, in the order received */
    uint32_t *objs;           /* the frame objects the caps named */
};

struct req_stat { char what[32]; uint32_t calls; };

struct run {
    const struct scenario *s;
    const struct image *im;
    FILE *trace;
    char *trace_buf;
    size_t trace_len;
    uint32_t failures;
    char first_failure[512];
    bool fatal;               /* stop the run */
    pid_t pid;
    /* the kernel */
    struct cap *cspace;       /* MEMD_CSPACE_SLOTS slots */
    uint32_t nuntyped;
    struct kuntyped untyped[MAX_UNTYPED];
    uint32_t nframes, cap_frames;
    struct kframe *frames;
    uint32_t frames_made;     /* frames memd retyped */
    uint32_t *by_number;      /* frame number -> frame index + 1 */
    uint64_t calls[0x100];    /* by system-call number */
    uint64_t calls_total;
    /* the envelope as memd received it */
    uint32_t window_base, window_count;
    uint32_t ram_frames;      /* what rootd expects in the ready report */
    bool named[MEMD_TRANSFER_SLOT_COUNT];  /* slots the envelope names */
    bool queried[MEMD_TRANSFER_SLOT_COUNT];/* ... that memd asked the kernel about */
    /* the conversation */
    bool reported;            /* memd sent its ready report */
    uint32_t reported_status;
    bool halted;
    uint32_t halt_status;
    bool idle;                /* memd waits for a message the script lacks */
    uint32_t next;            /* the next step of the script */
    const struct step *pending;  /* the message memd is handling */
    uint8_t pending_rights;   /* rights of the endpoint it arrived on */
    uint8_t sent[IPC_MSG_BUFFER_BYTES];
    uint32_t sent_len;
    uint32_t sent_op;
    uint32_t sent_free[MAX_LIST];  /* the frames a FREE named */
    uint32_t sent_nfree;
    uint32_t req_calls;
    bool open_req;            /* replied; the turn's work after the reply goes on */
    char req_what[32];        /* what the request did, for the summary */
    uint32_t startup_calls;
    uint32_t nreq, cap_req;
    struct req_stat *req;
    uint32_t messages;
    struct client_view client[MAX_BADGES];
};

/* --- the trace ------------------------------------------------------- */

static void tracef(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tracef(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->trace, fmt, ap);
    va_end(ap);
    fputc('\n', r->trace);
}

/* A failure: memd broke a rule, or a reply was not what the scenario
   says.  It goes into the trace where it happened; the first is kept for
   the verdict. */
static void failf(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void failf(struct run *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(r->trace, "   !! %s\n", msg);
    if (r->failures++ == 0)
        snprintf(r->first_failure, sizeof r->first_failure, "%s", msg);
}

static const char *who(uint64_t badge)
{
    char *b = ring_buf();
    if (badge == MEMD_BADGE_ROOTD)
        return "rootd";
    if (badge == MEMD_BADGE_NONE)
        return "unbadged";
    snprintf(b, 96, "client %" PRIu64, badge);
    return b;
}

static struct client_view *view(struct run *r, uint64_t badge)
{
    return badge < MAX_BADGES ? &r->client[badge] : NULL;
}

static void view_remove_obj(struct client_view *v, uint32_t obj);
static void offer_back(struct run *r, uint64_t badge, bool on);

/* --- the envelope, built from the scenario ------------------------------ */

static uint64_t or_default(struct opt o, uint64_t d)
{
    return o.set ? o.v : d;
}

/* Writes the startup frame (header, then the envelope) into buf; returns
   its size. */
static uint32_t build_frame(const struct scenario *s, uint8_t *buf, size_t cap)
{
    uint32_t nslot = 0;
    for (uint32_t i = 0; i < s->nslots; i++)
        nslot += s->slot[i].listed ? 1u : 0u;
    uint32_t nuntyped = 0;
    for (uint32_t i = 0; i < s->nuntyped; i++)
        nuntyped += s->untyped[i].unlisted ? 0u : 1u;
    uint32_t env_size = (uint32_t)sizeof(struct memd_env_header) +
                        16u * (nslot + nuntyped + s->nclients);
    uint32_t total = (uint32_t)sizeof(struct memd_startup_frame) + env_size;
    if (total > cap) {
        fprintf(stderr, "kmodel: %s: the startup frame would be %u bytes\n",
                s->path, total);
        exit(2);
    }
    memset(buf, 0, cap);
    uint8_t *f = buf;
    put64(f + offsetof(struct memd_startup_frame, magic),
          or_default(s->f_magic, MEMD_FRAME_MAGIC));
    put16(f + offsetof(struct memd_startup_frame, version_major),
          or_default(s->f_major, MEMD_FRAME_VERSION_MAJOR));
    put16(f + offsetof(struct memd_startup_frame, version_minor),
          or_default(s->f_minor, MEMD_FRAME_VERSION_MINOR));
    put32(f + offsetof(struct memd_startup_frame, total_size),
          or_default(s->f_size, total));
    put32(f + offsetof(struct memd_startup_frame, envelope_offset),
          or_default(s->f_env_offset, sizeof(struct memd_startup_frame)));
    put32(f + offsetof(struct memd_startup_frame, envelope_size),
          or_default(s->f_env_size, env_size));
    put64(f + offsetof(struct memd_startup_frame, reserved),
          or_default(s->f_reserved, 0));

    uint8_t *e = f + sizeof(struct memd_startup_frame);
    put64(e + offsetof(struct memd_env_header, magic), or_default(s->e_magic, MEMD_ENV_MAGIC));
    put16(e + offsetof(struct memd_env_header, version_major),
          or_default(s->e_major, MEMD_ENV_VERSION_MAJOR));
    put16(e + offsetof(struct memd_env_header, version_minor),
          or_default(s->e_minor, MEMD_ENV_VERSION_MINOR));
    put32(e + offsetof(struct memd_env_header, total_size), or_default(s->e_size, env_size));
    put32(e + offsetof(struct memd_env_header, role), or_default(s->e_role, MEMD_ROLE_MEMD));
    put32(e + offsetof(struct memd_env_header, flags), or_default(s->e_flags, 0));
    put32(e + offsetof(struct memd_env_header, reply_endpoint_slot),
          or_default(s->e_reply, SLOT_ROOTD_READY_ENDPOINT));
    put32(e + offsetof(struct memd_env_header, runtime_slot_base), or_default(s->e_wbase, 0));
    put32(e + offsetof(struct memd_env_header, runtime_slot_count), or_default(s->e_wcount, 0));
    put16(e + offsetof(struct memd_env_header, slot_count), or_default(s->e_nslots, nslot));
    put16(e + offsetof(struct memd_env_header, untyped_count),
          or_default(s->e_nuntyped, nuntyped));
    put16(e + offsetof(struct memd_env_header, client_count),
          or_default(s->e_nclients, s->nclients));
    put16(e + offsetof(struct memd_env_header, reserved0), or_default(s->e_res0, 0));
    put32(e + offsetof(struct memd_env_header, reserved1), or_default(s->e_res1, 0));

    uint8_t *t = e + sizeof(struct memd_env_header);
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct scn_slot *sl = &s->slot[i];
        if (!sl->listed)
            continue;
        put32(t + offsetof(struct memd_env_slot, slot), sl->slot);
        put16(t + offsetof(struct memd_env_slot, use), sl->use);
        t[offsetof(struct memd_env_slot, type)] = (uint8_t)sl->type;
        t[offsetof(struct memd_env_slot, rights)] = (uint8_t)sl->rights;
        put64(t + offsetof(struct memd_env_slot, reserved), sl->reserved);
        t += sizeof(struct memd_env_slot);
    }
    for (uint32_t i = 0; i < s->nuntyped; i++) {
        const struct scn_untyped *u = &s->untyped[i];
        if (u->unlisted)
            continue;
        put64(t + offsetof(struct memd_env_untyped, phys_base), u->base);
        put32(t + offsetof(struct memd_env_untyped, slot), u->slot);
        t[offsetof(struct memd_env_untyped, size_bits)] = (uint8_t)u->bits;
        t[offsetof(struct memd_env_untyped, flags)] = (uint8_t)u->flags;
        put16(t + offsetof(struct memd_env_untyped, reserved), u->reserved);
        t += sizeof(struct memd_env_untyped);
    }
    for (uint32_t i = 0; i < s->nclients; i++) {
        const struct scn_client *c = &s->client[i];
        put32(t + offsetof(struct memd_env_client, badge), c->badge);
        put32(t + offsetof(struct memd_env_client, frame_budget), c->frames);
        put32(t + offsetof(struct memd_env_client, slot_budget), c->slots);
        put32(t + offsetof(struct memd_env_client, reserved), c->reserved);
        t += sizeof(struct memd_env_client);
    }
    for (uint32_t i = 0; i < s->npokes; i++) {
        const struct scn_poke *k = &s->poke[i];
        uint32_t base = k->envelope ? (uint32_t)sizeof(struct memd_startup_frame) : 0u;
        if ((size_t)base + k->offset + k->len > cap) {
            fprintf(stderr, "kmodel: %s: poke beyond the frame\n", s->path);
            exit(2);
        }
        memcpy(buf + base + k->offset, k->bytes, k->len);
        if (base + k->offset + k->len > total)
            total = base + k->offset + k->len;
    }
    return total;
}

/* --- setting up the kernel's side from the scenario --------------------- */

static uint32_t new_frame(struct run *r, uint64_t phys, uint32_t untyped,
                          uint32_t slot)
{
    if (r->nframes == r->cap_frames) {
        r->cap_frames = r->cap_frames != 0 ? 2 * r->cap_frames : 256;
        r->frames = xrealloc(r->frames, r->cap_frames * sizeof *r->frames);
    }
    struct kframe *f = &r->frames[r->nframes];
    memset(f, 0, sizeof *f);
    f->phys = phys;
    f->untyped = untyped;
    f->slot = slot;
    f->number = UINT32_MAX;
    return r->nframes++;
}

static void kernel_setup(struct run *r)
{
    const struct scenario *s = r->s;
    r->cspace = xcalloc(MEMD_CSPACE_SLOTS, sizeof *r->cspace);
    r->by_number = xcalloc(FRAME_NUMBERS, sizeof *r->by_number);
    r->window_base = (uint32_t)or_default(s->e_wbase, 0);
    r->window_count = (uint32_t)or_default(s->e_wcount, 0);
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct scn_slot *sl = &s->slot[i];
        if (sl->listed && sl->slot >= MEMD_TRANSFER_SLOT_FIRST &&
            sl->slot < MEMD_TRANSFER_SLOT_END)
            r->named[sl->slot - MEMD_TRANSFER_SLOT_FIRST] = true;
    }
    r->named[SLOT_ROOTD_READY_ENDPOINT - MEMD_TRANSFER_SLOT_FIRST] = true;
    /* The untyped objects: one per untyped line, in its slot. */
    for (uint32_t i = 0; i < s->nuntyped; i++) {
        const struct scn_untyped *u = &s->untyped[i];
        struct kuntyped *k = &r->untyped[r->nuntyped++];
        k->slot = (uint32_t)u->slot;
        k->base = u->base;
        k->bits = (uint32_t)u->real_bits;
        k->declared_bits = (uint32_t)u->bits;
        k->device = (u->flags & MEMD_UNTYPED_DEVICE) != 0u;
        k->described = !k->device && !u->unlisted;
        if (k->described && u->bits >= MEMD_FRAME_BITS && u->bits <= MEMD_UNTYPED_MAX_BITS)
            r->ram_frames += 1u << (u->bits - MEMD_FRAME_BITS);
    }
    /* The capabilities the kernel really holds in memd's slots. */
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct scn_slot *sl = &s->slot[i];
        if (!sl->real || sl->slot >= MEMD_CSPACE_SLOTS)
            continue;
        struct cap *c = &r->cspace[sl->slot];
        c->type = (uint8_t)sl->real_type;
        c->rights = (uint8_t)sl->real_rights;
        switch (sl->real_type) {
        case CAP_TYPE_ENDPOINT:
            /* Which endpoint a slot holds is the kernel's fact, fixed by
               the ABI's slots, not what the envelope says of it: memd
               serves on slot 2224 and reports on slot 2225 whatever the
               envelope lists (a refusal of an envelope that omits or
               mislabels slot 2225 still reaches rootd). */
            c->obj = sl->slot == SLOT_KERNEL_MEM_ENDPOINT ? EP_MEM
                   : sl->slot == SLOT_ROOTD_READY_ENDPOINT ? EP_READY
                   : EP_OTHER;
            break;
        case CAP_TYPE_UNTYPED: {
            uint32_t k;
            for (k = 0; k < r->nuntyped && r->untyped[k].slot != sl->slot; k++)
                ;
            if (k == r->nuntyped) {    /* no untyped line: an empty region */
                r->untyped[k].slot = sl->slot;
                r->untyped[k].bits = 0;
                r->nuntyped++;
            }
            c->obj = k;
            break;
        }
        case CAP_TYPE_FRAME:
            c->obj = new_frame(r, 0xF0000000u + 0x1000u * (uint64_t)i,
                               UINT32_MAX, sl->slot);
            break;
        default:
            c->obj = 0;
            break;
        }
    }
}

/* ======================================================================
 * memd's process: started under ptrace, read and written only through
 * ranges the image's segments allow.
 * ====================================================================== */

static volatile sig_atomic_t watchdog_pid;
static volatile sig_atomic_t watchdog_fired;

static void on_alarm(int sig)
{
    (void)sig;
    watchdog_fired = 1;
    if (watchdog_pid > 0)
        kill((pid_t)watchdog_pid, SIGKILL);
}

#define WATCHDOG_SECONDS 20u
#define MAX_CALLS_PER_RUN 5000000u

static bool spawn(struct run *r)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", r->im->path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kmodel: fork: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        char *argv[] = { path, NULL };
        char *envp[] = { NULL };
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(126);
        execve(path, argv, envp);
        _exit(127);
    }
    r->pid = pid;
    watchdog_pid = (sig_atomic_t)pid;
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
        fprintf(stderr, "kmodel: %s did not stop at exec (status %#x)\n", path,
                (unsigned)st);
        return false;
    }
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(uintptr_t)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) != 0) {
        fprintf(stderr, "kmodel: PTRACE_SETOPTIONS: %s\n", strerror(errno));
        return false;
    }
    return true;
}

static bool peek(struct run *r, uint64_t addr, void *buf, uint64_t len)
{
    if (len == 0)
        return true;
    struct iovec local = { buf, (size_t)len };
    struct iovec remote = { (void *)(uintptr_t)addr, (size_t)len };
    return process_vm_readv(r->pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static bool poke(struct run *r, uint64_t addr, const void *buf, uint64_t len)
{
    if (len == 0)
        return true;
    struct iovec local = { (void *)(uintptr_t)buf, (size_t)len };
    struct iovec remote = { (void *)(uintptr_t)addr, (size_t)len };
    return process_vm_writev(r->pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

/* A pointer memd passes: it must lie in the image, with the access the
   kernel needs; otherwise the run stops here. */
static bool user_read(struct run *r, const char *what, uint64_t addr,
                      void *buf, uint64_t len)
{
    if (!image_range_ok(r->im, addr, len, false) || !peek(r, addr, buf, len)) {
        failf(r, "bad pointer: %s at %#" PRIx64 ", %" PRIu64
                 " bytes, is not readable memory of the image", what, addr, len);
        r->fatal = true;
        return false;
    }
    return true;
}

static bool user_write(struct run *r, const char *what, uint64_t addr,
                       const void *buf, uint64_t len, uint64_t room)
{
    if (!image_range_ok(r->im, addr, room, true) || !poke(r, addr, buf, len)) {
        failf(r, "bad pointer: %s at %#" PRIx64 ", %" PRIu64
                 " bytes, is not writable memory of the image", what, addr, room);
        r->fatal = true;
        return false;
    }
    return true;
}

/* The line of memd.nw an address of the image comes from (the image's
   line information points into the web), for a failure report. */
static void source_line(const struct run *r, uint64_t addr, char *out, size_t n)
{
    char cmd[4200];
    snprintf(out, n, "?");
    snprintf(cmd, sizeof cmd, "addr2line -e '%s' %#" PRIx64 " 2>/dev/null",
             r->im->path, addr);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return;
    if (fgets(out, (int)n, p) != NULL)
        out[strcspn(out, "\n")] = '\0';
    pclose(p);
    char cwd[4096];
    size_t k;
    if (getcwd(cwd, sizeof cwd) != NULL && (k = strlen(cwd)) != 0 &&
        strncmp(out, cwd, k) == 0 && out[k] == '/')
        memmove(out, out + k + 1, strlen(out + k + 1) + 1);
}

/* ======================================================================
 * The system calls.  Each handler takes memd's registers at the stop and
 * returns the kernel's code for rax; results for rdx and r8 go into the
 * registers directly.  desc() renders the call for the trace.
 * ====================================================================== */

struct call {
    struct user_regs_struct *regs;
    uint64_t nr;
    char desc[256];
    bool injected;
    uint64_t inject_kerr;         /* may be wider than 32 bits */
};

#define K "  memd → kernel    "

static bool window_has(const struct run *r, uint64_t slot)
{
    return slot >= r->window_base && slot - r->window_base < r->window_count;
}

static bool slot_named(const struct run *r, uint64_t slot)
{
    if (slot >= MEMD_TRANSFER_SLOT_FIRST && slot < MEMD_TRANSFER_SLOT_END)
        return r->named[slot - MEMD_TRANSFER_SLOT_FIRST];
    return window_has(r, slot);
}

/* The kernel refuses: traced, and a failure, since memd checks what it
   asks before asking (unless the scenario injected the refusal). */
static uint32_t refuse(struct run *r, struct call *c, uint32_t kerr, const char *why)
{
    tracef(r, K "%s → refused: %s", c->desc, WORD(kerr_names, kerr));
    failf(r, "the kernel refuses %s: %s", c->desc, why);
    return kerr;
}

static bool injected(struct run *r, struct call *c, uint32_t *kerr)
{
    if (!c->injected)
        return false;
    if (c->inject_kerr > UINT32_MAX)
        tracef(r, K "%s → failed: %#" PRIx64 " (a failure the scenario injects, "
                  "wider than any kernel error)", c->desc, c->inject_kerr);
    else
        tracef(r, K "%s → failed: %s (a failure the scenario injects)", c->desc,
               WORD(kerr_names, c->inject_kerr));
    /* the model's own bookkeeping sees a failure, whatever its width */
    *kerr = c->inject_kerr > UINT32_MAX ? KERR_INVALID_ARGUMENT : (uint32_t)c->inject_kerr;
    return true;
}

static const char *cap_words(const struct cap *c)
{
    char *b = ring_buf();
    if (c->type == CAP_TYPE_EMPTY)
        return "empty";
    snprintf(b, 96, "%s %s", WORD(type_names, c->type), rights_word(c->rights));
    return b;
}

static uint32_t sys_query_local(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    snprintf(c->desc, sizeof c->desc, "QUERY_LOCAL_CAP slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    if (!slot_named(r, slot))
        failf(r, "memd asks about slot %" PRIu64 ", which the envelope does not name", slot);
    const struct cap *cp = &r->cspace[slot];
    if (slot >= MEMD_TRANSFER_SLOT_FIRST && slot < MEMD_TRANSFER_SLOT_END)
        r->queried[slot - MEMD_TRANSFER_SLOT_FIRST] = true;
    tracef(r, K "%s → %s", c->desc, cap_words(cp));
    c->regs->rdx = cp->type;
    c->regs->r8 = cp->rights;
    return KERR_OK;
}

static struct kuntyped *untyped_of(struct run *r, const struct cap *cp)
{
    return cp->type == CAP_TYPE_UNTYPED && cp->obj < r->nuntyped ? &r->untyped[cp->obj]
                                                                 : NULL;
}

static uint32_t sys_retype(struct run *r, struct call *c)
{
    uint64_t us = c->regs->rdi, type = c->regs->rsi, first = c->regs->rdx,
             count = c->regs->r10;
    uint32_t kerr;
    snprintf(c->desc, sizeof c->desc,
             "UNTYPED_RETYPE untyped %" PRIu64 " → %" PRIu64 " %s%s into slots %" PRIu64
             "..%" PRIu64, us, count, WORD(type_names, type), count == 1 ? "" : "s",
             first, first + count - 1);
    if (injected(r, c, &kerr))
        return kerr;
    /* What seL4 checks, in its order. */
    if (us >= MEMD_CSPACE_SLOTS || r->cspace[us].type != CAP_TYPE_UNTYPED)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no untyped capability");
    const struct cap *ucap = &r->cspace[us];
    if ((ucap->rights & CAP_RIGHT_RETYPE) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the untyped capability lacks RETYPE");
    if (type != CAP_TYPE_FRAME)
        return refuse(r, c, KERR_INVALID_ARGUMENT, "memd makes frames and nothing else");
    if (count == 0)
        return refuse(r, c, KERR_INVALID_ARGUMENT, "zero objects");
    if (count > KERNEL_RETYPE_MAX)
        return refuse(r, c, KERR_TOO_MANY, "more objects than one retype makes");
    if (first >= MEMD_CSPACE_SLOTS || count > MEMD_CSPACE_SLOTS - first)
        return refuse(r, c, KERR_RANGE, "destination slots outside the capability space");
    for (uint64_t i = 0; i < count; i++) {
        if (r->cspace[first + i].type != CAP_TYPE_EMPTY) {
            char why[96];
            snprintf(why, sizeof why, "destination slot %" PRIu64 " is occupied", first + i);
            return refuse(r, c, KERR_DELETE_FIRST, why);
        }
    }
    struct kuntyped *u = untyped_of(r, ucap);
    uint64_t size = u != NULL ? (uint64_t)1 << u->bits : 0;
    if (u != NULL && size - u->watermark < (count << MEMD_FRAME_BITS) &&
        u->declared_bits > u->bits && u->declared_bits < 64u &&
        ((uint64_t)1 << u->declared_bits) - u->watermark >= (count << MEMD_FRAME_BITS)) {
        /* The envelope declared a larger untyped than the kernel holds.
           memd cannot know (a query tells a slot's type and rights, not
           its size), so this refusal is the kernel's, not memd's fault:
           it is told, and the run goes on. */
        tracef(r, K "%s → refused: %s (the untyped is smaller than the envelope "
                  "declares: memd cannot know)", c->desc,
               WORD(kerr_names, KERR_NOT_ENOUGH_MEMORY));
        return KERR_NOT_ENOUGH_MEMORY;
    }
    if (u == NULL || size - u->watermark < (count << MEMD_FRAME_BITS))
        return refuse(r, c, KERR_NOT_ENOUGH_MEMORY, "the untyped has too little left");
    /* What the kernel allows but memd has promised not to do. */
    if (!slot_named(r, us))
        failf(r, "memd spends untyped slot %" PRIu64 ", which the envelope does not give it", us);
    if (u->device)
        failf(r, "memd retypes device memory (slot %" PRIu64 ") into RAM frames", us);
    else if (!u->described)
        failf(r, "memd spends untyped slot %" PRIu64 ", which no untyped entry describes", us);
    if (!window_has(r, first) || !window_has(r, first + count - 1))
        failf(r, "memd retypes into slots %" PRIu64 "..%" PRIu64
                 ", outside its runtime window", first, first + count - 1);
    uint64_t from = u->base + u->watermark;
    for (uint64_t i = 0; i < count; i++) {
        struct cap *d = &r->cspace[first + i];
        d->type = CAP_TYPE_FRAME;
        d->rights = CAP_RIGHT_READ | CAP_RIGHT_WRITE;
        d->obj = new_frame(r, u->base + u->watermark, ucap->obj, (uint32_t)(first + i));
        u->watermark += MEMD_FRAME_BYTES;
    }
    r->frames_made += (uint32_t)count;
    tracef(r, K "%s → ok: phys %#" PRIx64 "..%#" PRIx64 ", %" PRIu64 " of %" PRIu64
              " frames of the untyped used", c->desc, from,
           u->base + u->watermark - 1, u->watermark >> MEMD_FRAME_BITS,
           size >> MEMD_FRAME_BITS);
    return KERR_OK;
}

static const char *frame_words(const struct run *r, uint32_t f)
{
    char *b = ring_buf();
    const struct kframe *k = &r->frames[f];
    if (k->number != UINT32_MAX)
        snprintf(b, 96, "frame %" PRIu32 " at %#" PRIx64, k->number, k->phys);
    else
        snprintf(b, 96, "frame at %#" PRIx64, k->phys);
    return b;
}

/* Removes every copy of frame f that clients hold. */
static uint32_t drop_copies(struct run *r, uint32_t f)
{
    struct kframe *k = &r->frames[f];
    uint32_t n = k->copies;
    k->copies = 0;
    return n;
}

static uint32_t sys_revoke(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    snprintf(c->desc, sizeof c->desc, "CAP_REVOKE slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    struct cap *cp = &r->cspace[slot];
    if (cp->type == CAP_TYPE_EMPTY)
        return refuse(r, c, KERR_INVALID_CAP, "the slot is empty");
    if (!slot_named(r, slot))
        failf(r, "memd revokes slot %" PRIu64 ", which the envelope does not name", slot);
    if (cp->type == CAP_TYPE_FRAME) {
        struct kframe *k = &r->frames[cp->obj];
        uint64_t holder = k->holder;
        if (k->copies != 0) {
            /* memd may take a frame back only from a holder that gave it
               back, or whose frames rootd reclaimed. */
            struct client_view *hv = view(r, holder);
            if (k->given_back)
                k->given_back = false;
            else if (hv != NULL && hv->reclaimable != 0) {
                hv->reclaimable--;
                view_remove_obj(hv, cp->obj);
            } else
                failf(r, "memd revokes %s, which %s holds and has not given back",
                      frame_words(r, cp->obj), who(holder));
        }
        uint32_t n = drop_copies(r, cp->obj);
        if (n != 0)
            tracef(r, K "%s (%s) → ok: %s's copy removed", c->desc,
                   frame_words(r, cp->obj), who(holder));
        else
            tracef(r, K "%s (%s) → ok: no copy was alive", c->desc,
                   frame_words(r, cp->obj));
        return KERR_OK;
    }
    if (cp->type == CAP_TYPE_UNTYPED) {
        /* seL4: revoking an untyped destroys every object made from it and
           resets its watermark. */
        struct kuntyped *u = untyped_of(r, cp);
        uint32_t destroyed = 0;
        for (uint32_t f = 0; f < r->nframes; f++) {
            struct kframe *k = &r->frames[f];
            if (k->untyped != cp->obj || k->slot == UINT32_MAX)
                continue;
            if (k->copies != 0)
                failf(r, "revoking untyped slot %" PRIu64 " destroys %s, which %s still holds",
                      slot, frame_words(r, f), who(k->holder));
            drop_copies(r, f);
            memset(&r->cspace[k->slot], 0, sizeof r->cspace[0]);
            k->slot = UINT32_MAX;
            destroyed++;
        }
        if (u != NULL)
            u->watermark = 0;
        tracef(r, K "%s → ok: %" PRIu32 " frames made from it destroyed", c->desc, destroyed);
        return KERR_OK;
    }
    tracef(r, K "%s (%s) → ok", c->desc, cap_words(cp));
    failf(r, "memd revokes its %s capability in slot %" PRIu64
             ": every copy derived from it (clients' badged endpoints) would go",
          WORD(type_names, cp->type), slot);
    return KERR_OK;
}

static uint32_t sys_delete(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    snprintf(c->desc, sizeof c->desc, "CAP_DELETE slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    struct cap *cp = &r->cspace[slot];
    if (!window_has(r, slot))
        failf(r, "memd deletes slot %" PRIu64 ", outside its runtime window", slot);
    if (cp->type == CAP_TYPE_FRAME) {
        struct kframe *k = &r->frames[cp->obj];
        if (k->copies != 0)
            failf(r, "memd deletes its capability to %s while %s holds a copy: "
                     "it can never revoke that copy", frame_words(r, cp->obj),
                  who(k->holder));
        k->slot = UINT32_MAX;
    }
    tracef(r, K "%s (%s) → ok", c->desc, cap_words(cp));
    memset(cp, 0, sizeof *cp);
    return KERR_OK;
}

static uint32_t sys_clear(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    snprintf(c->desc, sizeof c->desc, "FRAME_CLEAR slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    struct cap *cp = &r->cspace[slot];
    if (cp->type != CAP_TYPE_FRAME)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no frame capability");
    if ((cp->rights & CAP_RIGHT_WRITE) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the frame capability lacks WRITE");
    if (!slot_named(r, slot))
        failf(r, "memd clears slot %" PRIu64 ", which the envelope does not name", slot);
    struct kframe *k = &r->frames[cp->obj];
    if (k->copies != 0) {
        /* The holder may write again the moment after: the clear is worth
           nothing, and memd clears only what it has revoked. */
        tracef(r, K "%s (%s) → ok, but %s still holds a copy: it stays dirty",
               c->desc, frame_words(r, cp->obj), who(k->holder));
        failf(r, "memd clears %s while %s still holds a copy",
              frame_words(r, cp->obj), who(k->holder));
    } else {
        k->dirty = false;
        tracef(r, K "%s (%s) → ok: zeroed", c->desc, frame_words(r, cp->obj));
    }
    return KERR_OK;
}

/* --- messages from the script ------------------------------------------ */

static uint32_t layout_length(uint32_t op, const uint8_t *m, uint32_t len)
{
    switch (op) {
    case MEMD_OP_ALLOC:
    case MEMD_OP_RECLAIM:
        return 16;
    case MEMD_OP_STATS:
        return 8;
    case MEMD_OP_FREE:
        return len >= 12 ? 16u + 4u * get32(m + 8) : 16u;
    default:
        return 0;
    }
}

/* A message as a person reads it, decoded from its bytes. */
static void render_request(const uint8_t *m, uint32_t len, char *out, size_t n)
{
    size_t k = 0;
#define OUT(...) (k += (size_t)snprintf(out + k, k < n ? n - k : 0, __VA_ARGS__))
    if (len < sizeof(struct memd_msg_header)) {
        OUT("a short message, %" PRIu32 " bytes:", len);
        for (uint32_t i = 0; i < len; i++)
            OUT(" %02x", m[i]);
        return;
    }
    uint32_t op = get16(m), version = get16(m + 2), reserved = get32(m + 4);
    const char *name = NAME_OF(op_names, op);
    if (name != NULL)
        OUT("%s", name);
    else
        OUT("unknown op %#" PRIx32, op);
    if (op == MEMD_OP_ALLOC && len >= 12)
        OUT(" count=%" PRIu32, get32(m + 8));
    if (op == MEMD_OP_RECLAIM && len >= 12)
        OUT(" badge=%" PRIu32, get32(m + 8));
    if (op == MEMD_OP_FREE && len >= 12) {
        OUT(" count=%" PRIu32 " frames", get32(m + 8));
        for (uint32_t i = 16; i + 4 <= len && i < 16 + 4 * 16; i += 4)
            OUT(" %" PRIu32, get32(m + i));
        if (len > 16 + 4 * 16)
            OUT(" ...");
    }
    if (version != MEMD_MSG_VERSION)
        OUT(" version=%" PRIu32, version);
    if (reserved != 0)
        OUT(" reserved=%#" PRIx32, reserved);
    uint32_t want = layout_length(op, m, len);
    if (name != NULL && want != len)
        OUT(" (%" PRIu32 " bytes; the layout has %" PRIu32 ")", len, want);
    else if (name == NULL)
        OUT(" (%" PRIu32 " bytes)", len);
#undef OUT
}

/* Builds the bytes of a message step. */
static bool build_message(struct run *r, const struct step *st, uint8_t *m,
                          uint32_t *len)
{
    uint32_t n = 0;
    memset(m, 0, IPC_MSG_BUFFER_BYTES);
    uint32_t op = 0;
    switch (st->msg) {
    case MSG_ALLOC:
        op = MEMD_OP_ALLOC;
        put32(m + 8, st->args[0]);
        n = 16;
        break;
    case MSG_RECLAIM:
        op = MEMD_OP_RECLAIM;
        put32(m + 8, st->args[0]);
        n = 16;
        break;
    case MSG_STATS:
        op = MEMD_OP_STATS;
        n = 8;
        break;
    case MSG_FREE: {
        op = MEMD_OP_FREE;
        const uint32_t *list = st->args;
        uint32_t count = st->nargs;
        const struct client_view *v = view(r, st->badge);
        if (st->free_held) {
            if (v == NULL) {
                failf(r, "line %u: the model follows no frames of badge %" PRIu64,
                      st->line, st->badge);
                return false;
            }
            list = v->frames;
            count = v->n;
        }
        if (16u + 4u * (uint64_t)count > IPC_MSG_BUFFER_BYTES) {
            failf(r, "line %u: %" PRIu32 " frames do not fit one message", st->line, count);
            return false;
        }
        put32(m + 8, count);
        for (uint32_t i = 0; i < count; i++)
            put32(m + 16 + 4 * i, list[i]);
        n = 16 + 4 * count;
        if (st->m_count.set)
            put32(m + 8, st->m_count.v);
        break;
    }
    case MSG_RAW:
        for (uint32_t i = 0; i < st->nargs; i++)
            m[i] = (uint8_t)st->args[i];
        n = st->nargs;
        break;
    }
    if (st->msg != MSG_RAW) {
        put16(m, st->m_op.set ? st->m_op.v : op);
        put16(m + 2, or_default(st->m_version, MEMD_MSG_VERSION));
        put32(m + 4, or_default(st->m_reserved, 0));
        if (st->msg == MSG_ALLOC && st->m_count.set)
            put32(m + 8, st->m_count.v);
    }
    if (st->m_pad.set) {
        if (n + st->m_pad.v > IPC_MSG_BUFFER_BYTES) {
            failf(r, "line %u: the padded message exceeds %u bytes", st->line,
                  IPC_MSG_BUFFER_BYTES);
            return false;
        }
        n += (uint32_t)st->m_pad.v;
    }
    if (st->m_cut.set && st->m_cut.v < n)
        n = (uint32_t)st->m_cut.v;
    *len = n;
    return true;
}

/* --- checks the script makes between messages ---------------------------- */

static void run_check(struct run *r, const struct step *st)
{
    uint64_t got = 0;
    char what[160];
    switch (st->check) {
    case CHECK_HOLDS: {
        const struct client_view *v = view(r, st->c_arg);
        got = v != NULL ? v->n : 0;
        snprintf(what, sizeof what, "%s holds %" PRIu64 " frames (by memd's replies)",
                 who(st->c_arg), st->c_want);
        break;
    }
    case CHECK_COPIES:
        for (uint32_t f = 0; f < r->nframes; f++)
            got += r->frames[f].copies != 0 && r->frames[f].holder == st->c_arg ? 1u : 0u;
        snprintf(what, sizeof what, "%s holds %" PRIu64 " live frame copies (by the kernel)",
                 who(st->c_arg), st->c_want);
        break;
    case CHECK_CALLS:
        got = st->c_arg < ARRAY_LEN(r->calls) ? r->calls[st->c_arg] : 0;
        snprintf(what, sizeof what, "memd made %" PRIu64 " %s calls so far", st->c_want,
                 WORD(sys_names, st->c_arg));
        break;
    case CHECK_UNTYPED_USED: {
        uint32_t k;
        for (k = 0; k < r->nuntyped && r->untyped[k].slot != st->c_arg; k++)
            ;
        got = k < r->nuntyped ? r->untyped[k].watermark >> MEMD_FRAME_BITS : 0;
        snprintf(what, sizeof what, "untyped slot %" PRIu64 " has %" PRIu64
                 " frames retyped", st->c_arg, st->c_want);
        break;
    }
    case CHECK_FRAMES_MADE:
        got = r->frames_made;
        snprintf(what, sizeof what, "memd has retyped %" PRIu64 " frames in all", st->c_want);
        break;
    }
    if (got == st->c_want)
        tracef(r, "  check            %s: yes", what);
    else
        failf(r, "line %u: check %s: no, %" PRIu64, st->line, what, got);
}

/* Runs the script's checks and departures up to its next message; returns
   that message, or NULL at the end of the script. */
static const struct step *next_message(struct run *r)
{
    while (r->next < r->s->nsteps) {
        const struct step *st = &r->s->steps[r->next++];
        if (st->kind == STEP_MSG)
            return st;
        if (st->kind == STEP_CHECK) {
            run_check(r, st);
        } else if (st->kind == STEP_RETURN) {
            /* The client restarts under the same badge, as the book says
               it may: it sends again, and holds what it still held. */
            struct client_view *v = view(r, st->badge);
            if (v == NULL || !v->departed)
                failf(r, "line %u: %s returns, but it never departed", st->line,
                      who(st->badge));
            else
                v->departed = false;
            tracef(r, "%s returns, under the same badge", who(st->badge));
        } else {
            struct client_view *v = view(r, st->badge);
            uint32_t copies = 0;
            for (uint32_t f = 0; f < r->nframes; f++)
                copies += r->frames[f].copies != 0 && r->frames[f].holder == st->badge;
            if (v != NULL)
                v->departed = true;
            tracef(r, "%s departs; its %" PRIu32 " frame copies stay until memd revokes them",
                   who(st->badge), copies);
        }
    }
    return NULL;
}

/* A request's turn ends when memd receives again (or stops): the calls it
   made after the reply (cleaning what was freed, refilling the pool) were
   the request's too. */
static void finish_request(struct run *r)
{
    if (!r->open_req)
        return;
    r->open_req = false;
    tracef(r, "                   %" PRIu32 " kernel calls for this request", r->req_calls);
    if (r->nreq == r->cap_req) {
        r->cap_req = r->cap_req != 0 ? 2 * r->cap_req : 64;
        r->req = xrealloc(r->req, r->cap_req * sizeof *r->req);
    }
    struct req_stat *q = &r->req[r->nreq++];
    snprintf(q->what, sizeof q->what, "%s", r->req_what);
    q->calls = r->req_calls;
}

static uint32_t sys_recv(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi, buf = c->regs->rsi, capacity = c->regs->rdx;
    snprintf(c->desc, sizeof c->desc, "RECV slot %" PRIu64, slot);
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    const struct cap *cp = &r->cspace[slot];
    if (cp->type != CAP_TYPE_ENDPOINT)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no endpoint");
    if ((cp->rights & CAP_RIGHT_READ) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the endpoint capability lacks READ");
    if (cp->obj != EP_MEM) {
        failf(r, "memd receives on slot %" PRIu64 ", which is not its memory endpoint", slot);
        r->fatal = true;
        return KERR_INVALID_CAP;
    }
    if (!r->reported || r->reported_status != MEMD_STARTUP_OK) {
        failf(r, "memd receives requests before reporting ready to rootd");
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    if (r->s->ready_answer != KERR_OK) {
        failf(r, "memd receives requests although rootd refused its ready report");
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    if (capacity > UINT32_MAX || !image_range_ok(r->im, buf, capacity, true)) {
        failf(r, "bad pointer: the receive buffer at %#" PRIx64 ", %" PRIu64
                 " bytes, is not writable memory of the image", buf, capacity);
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    if (r->pending != NULL) {
        failf(r, "memd receives again without replying to %s (line %u)",
              who(r->pending->badge), r->pending->line);
        r->pending = NULL;
    }
    uint32_t kerr;
    if (injected(r, c, &kerr))
        return kerr;        /* the message stays queued for the next receive */
    const struct step *st = next_message(r);
    if (st == NULL) {
        tracef(r, "end of the script: memd waits on slot %" PRIu64 " for the next request",
               slot);
        r->idle = true;
        return KERR_OK;
    }
    const struct client_view *v = view(r, st->badge);
    if (v != NULL && v->departed)
        failf(r, "line %u: %s departed and cannot send", st->line, who(st->badge));
    if (!build_message(r, st, r->sent, &r->sent_len)) {
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    r->sent_op = r->sent_len >= 2 ? get16(r->sent) : UINT32_MAX;
    r->sent_nfree = 0;
    if (r->sent_op == MEMD_OP_FREE && r->sent_len >= 16) {
        for (uint32_t i = 16; i + 4 <= r->sent_len && r->sent_nfree < MAX_LIST; i += 4)
            r->sent_free[r->sent_nfree++] = get32(r->sent + i);
        offer_back(r, st->badge, true);
    }
    uint32_t copy = r->sent_len < capacity ? r->sent_len : (uint32_t)capacity;
    if (!user_write(r, "the receive buffer", buf, r->sent, copy, capacity))
        return KERR_INVALID_ARGUMENT;
    char text[512];
    render_request(r->sent, r->sent_len, text, sizeof text);
    r->messages++;
    tracef(r, "request %" PRIu32 " (line %u): %s → memd  %s", r->messages, st->line,
           who(st->badge), text);
    r->pending = st;
    r->pending_rights = cp->rights;
    r->req_calls = 1;       /* this RECV */
    c->regs->rdx = r->sent_len;
    c->regs->r8 = st->badge;
    return KERR_OK;
}

/* --- memd's replies, decoded and checked --------------------------------- */

struct decoded {
    uint32_t nkv;
    struct kv kv[MAX_KV];
    uint32_t nframes;
    uint32_t frames[MEMD_ALLOC_MAX + 1];
    uint32_t nrecords;
    struct memd_stats_client record[MEMD_ENV_MAX_CLIENTS + 1];
};

static void dkv(struct decoded *d, const char *key, uint64_t v)
{
    if (d->nkv == MAX_KV)
        return;
    snprintf(d->kv[d->nkv].key, sizeof d->kv[0].key, "%s", key);
    d->kv[d->nkv++].value = v;
}

static const struct kv *find_kv(const struct kv *kv, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    }
    return NULL;
}

/* Checks the shape the ABI gives a reply; fills d with its fields, and
   text with the reply as a person reads it. */
static bool decode_reply(struct run *r, const uint8_t *m, uint32_t len,
                         uint32_t ncaps, struct decoded *d, char *text, size_t n)
{
    size_t k = 0;
    bool ok = true;
#define OUT(...) (k += (size_t)snprintf(text + k, k < n ? n - k : 0, __VA_ARGS__))
    memset(d, 0, sizeof *d);
    if (len < sizeof(struct memd_reply_header)) {
        OUT("a reply of %" PRIu32 " bytes", len);
        failf(r, "the reply is %" PRIu32 " bytes, shorter than its header", len);
        return false;
    }
    uint32_t op = get16(m), version = get16(m + 2), result = get16(m + 4),
             field = get16(m + 6);
    dkv(d, "op", op);
    dkv(d, "result", result);
    const char *rw = WORD(result_names, result);
    for (size_t i = 0; rw[i] != '\0'; i++)
        OUT("%c", rw[i] >= 'a' && rw[i] <= 'z' ? rw[i] - 'a' + 'A' : rw[i]);
    if (version != MEMD_MSG_VERSION) {
        failf(r, "the reply's version is %" PRIu32 ", not %u", version, MEMD_MSG_VERSION);
        ok = false;
    }
    if (op != (r->sent_len >= 2 ? r->sent_op : 0u))
        OUT(" op=%s", WORD(op_names, op));
    if (result != MEMD_OK) {
        dkv(d, "field", field);
        OUT(" field=%s", WORD(field_names, field));
        if (len != sizeof(struct memd_error_reply)) {
            failf(r, "an error reply is %zu bytes; this one is %" PRIu32,
                  sizeof(struct memd_error_reply), len);
            return false;
        }
        static const char *keys[] = { "asked", "budget-left", "frames-left", "index" };
        for (uint32_t i = 0; i < 4; i++) {
            uint32_t v = get32(m + 8 + 4 * i);
            dkv(d, keys[i], v);
            OUT(" %s=%" PRIu32, keys[i], v);
        }
        if (ncaps != 0) {
            failf(r, "an error reply transfers %" PRIu32 " capabilities", ncaps);
            ok = false;
        }
        return ok;
    }
    if (field != 0) {
        failf(r, "an OK reply names field %" PRIu32, field);
        ok = false;
    }
    OUT(" %s", WORD(op_names, op));
    switch (op) {
    case MEMD_OP_ALLOC: {
        if (len < sizeof(struct memd_alloc_reply)) {
            failf(r, "the ALLOC reply is %" PRIu32 " bytes", len);
            return false;
        }
        uint32_t count = get32(m + offsetof(struct memd_alloc_reply, count));
        uint32_t left = get32(m + offsetof(struct memd_alloc_reply, budget_left));
        dkv(d, "count", count);
        dkv(d, "budget-left", left);
        OUT(" count=%" PRIu32 " budget-left=%" PRIu32 " frames", count, left);
        if (count > MEMD_ALLOC_MAX || len != 16u + 4u * count) {
            failf(r, "the ALLOC reply says %" PRIu32 " frames in %" PRIu32 " bytes", count, len);
            return false;
        }
        for (uint32_t i = 0; i < count; i++) {
            d->frames[d->nframes++] = get32(m + 16 + 4 * i);
            OUT(" %" PRIu32, d->frames[i]);
        }
        if (ncaps != count) {
            failf(r, "the ALLOC reply names %" PRIu32 " frames but transfers %" PRIu32
                     " capabilities", count, ncaps);
            ok = false;
        }
        return ok;
    }
    case MEMD_OP_FREE:
    case MEMD_OP_RECLAIM: {
        if (len != 16) {
            failf(r, "the %s reply is %" PRIu32 " bytes, not 16", WORD(op_names, op), len);
            return false;
        }
        if (op == MEMD_OP_FREE) {
            uint32_t a = get32(m + offsetof(struct memd_free_reply, freed));
            uint32_t b = get32(m + offsetof(struct memd_free_reply, budget_left));
            dkv(d, "freed", a);
            dkv(d, "budget-left", b);
            OUT(" freed=%" PRIu32 " budget-left=%" PRIu32, a, b);
        } else {
            uint32_t a = get32(m + offsetof(struct memd_reclaim_reply, reclaimed));
            uint32_t b = get32(m + offsetof(struct memd_reclaim_reply, remaining));
            dkv(d, "reclaimed", a);
            dkv(d, "remaining", b);
            OUT(" reclaimed=%" PRIu32 " remaining=%" PRIu32, a, b);
        }
        break;
    }
    case MEMD_OP_STATS: {
        if (len < sizeof(struct memd_stats_reply)) {
            failf(r, "the STATS reply is %" PRIu32 " bytes", len);
            return false;
        }
        static const struct { const char *key; size_t off; } keys[] = {
            { "total", offsetof(struct memd_stats_reply, total_frames) },
            { "pool", offsetof(struct memd_stats_reply, pool_frames) },
            { "laundry", offsetof(struct memd_stats_reply, laundry_frames) },
            { "untyped", offsetof(struct memd_stats_reply, untyped_frames) },
            { "allocated", offsetof(struct memd_stats_reply, allocated_frames) },
            { "quarantined", offsetof(struct memd_stats_reply, quarantined_frames) },
            { "denied", offsetof(struct memd_stats_reply, failed_denied) },
            { "invalid", offsetof(struct memd_stats_reply, failed_invalid) },
            { "not-found", offsetof(struct memd_stats_reply, failed_not_found) },
            { "exhausted", offsetof(struct memd_stats_reply, failed_exhausted) },
            { "over-budget", offsetof(struct memd_stats_reply, failed_over_budget) },
            { "internal", offsetof(struct memd_stats_reply, failed_internal) },
            { "kernel-failures", offsetof(struct memd_stats_reply, kernel_failures) },
            { "records", offsetof(struct memd_stats_reply, record_count) },
        };
        for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
            uint32_t v = get32(m + keys[i].off);
            dkv(d, keys[i].key, v);
            OUT(" %s=%" PRIu32, keys[i].key, v);
        }
        uint32_t nrec = get32(m + offsetof(struct memd_stats_reply, record_count));
        if (nrec > MEMD_ENV_MAX_CLIENTS + 1u ||
            len != sizeof(struct memd_stats_reply) + nrec * sizeof(struct memd_stats_client)) {
            failf(r, "the STATS reply says %" PRIu32 " records in %" PRIu32 " bytes", nrec, len);
            return false;
        }
        for (uint32_t i = 0; i < nrec; i++) {
            const uint8_t *p = m + sizeof(struct memd_stats_reply) + 16 * i;
            struct memd_stats_client *c = &d->record[d->nrecords++];
            c->badge = get32(p + offsetof(struct memd_stats_client, badge));
            c->frames_held = get32(p + offsetof(struct memd_stats_client, frames_held));
            c->frame_budget = get32(p + offsetof(struct memd_stats_client, frame_budget));
            c->slot_budget = get32(p + offsetof(struct memd_stats_client, slot_budget));
            OUT("; %s holds %" PRIu32 " of %" PRIu32 " (slots %" PRIu32 ")", who(c->badge),
                c->frames_held, c->frame_budget, c->slot_budget);
        }
        break;
    }
    default:
        failf(r, "an OK reply to op %#" PRIx32 ", which memd does not serve", op);
        return false;
    }
    if (ncaps != 0) {
        failf(r, "the %s reply transfers %" PRIu32 " capabilities", WORD(op_names, op), ncaps);
        ok = false;
    }
    return ok;
#undef OUT
}

static void compare_list(struct run *r, const char *what, const uint32_t *want,
                         uint32_t nwant, const uint32_t *got, uint32_t ngot)
{
    bool same = nwant == ngot;
    for (uint32_t i = 0; same && i < nwant; i++)
        same = want[i] == got[i];
    if (same)
        return;
    char a[256], b[256];
    size_t ka = 0, kb = 0;
    for (uint32_t i = 0; i < nwant && ka < sizeof a; i++)
        ka += (size_t)snprintf(a + ka, sizeof a - ka, " %" PRIu32, want[i]);
    for (uint32_t i = 0; i < ngot && kb < sizeof b; i++)
        kb += (size_t)snprintf(b + kb, sizeof b - kb, " %" PRIu32, got[i]);
    a[ka < sizeof a ? ka : sizeof a - 1] = '\0';
    b[kb < sizeof b ? kb : sizeof b - 1] = '\0';
    failf(r, "line %u: expected %s%s, got%s", r->pending->line, what,
          nwant != 0 ? a : " none", ngot != 0 ? b : " none");
}

static void check_expect(struct run *r, const struct expect *ex, const struct decoded *d,
                         const uint32_t *caps, uint32_t ncaps)
{
    unsigned line = r->pending->line;
    const struct kv *res = find_kv(d->kv, d->nkv, "result");
    if (res != NULL && res->value != ex->result)
        failf(r, "line %u: expected %s, memd answered %s", line,
              WORD(result_names, ex->result), WORD(result_names, res->value));
    const struct kv *op = find_kv(d->kv, d->nkv, "op");
    const struct kv *want_op = find_kv(ex->kv, ex->nkv, "op");
    uint32_t echo = r->sent_len >= 2 ? r->sent_op : 0u;  /* the ABI: op, or 0 */
    if (want_op == NULL && op != NULL && op->value != echo)
        failf(r, "line %u: the reply's op is %#" PRIx64 ", expected %#" PRIx32, line,
              op->value, echo);
    for (uint32_t i = 0; i < ex->nkv; i++) {
        const struct kv *got = find_kv(d->kv, d->nkv, ex->kv[i].key);
        if (got == NULL)
            failf(r, "line %u: this reply has no field '%s'", line, ex->kv[i].key);
        else if (got->value != ex->kv[i].value)
            failf(r, "line %u: expected %s=%" PRIu64 ", got %" PRIu64, line, ex->kv[i].key,
                  ex->kv[i].value, got->value);
    }
    if (ex->frames_set)
        compare_list(r, "frames", ex->frames, ex->nframes, d->frames, d->nframes);
    if (ex->slots_set)
        compare_list(r, "slots", ex->slots, ex->nslots, caps, ncaps);
    for (uint32_t i = 0; i < ex->nrecords; i++) {
        const struct record_expect *re = &ex->record[i];
        const struct memd_stats_client *c = NULL;
        for (uint32_t j = 0; j < d->nrecords; j++) {
            if (d->record[j].badge == re->badge)
                c = &d->record[j];
        }
        if (c == NULL) {
            failf(r, "line %u: no record for badge %" PRIu64, line, re->badge);
            continue;
        }
        for (uint32_t j = 0; j < re->nkv; j++) {
            uint64_t got = strcmp(re->kv[j].key, "held") == 0 ? c->frames_held
                         : strcmp(re->kv[j].key, "frame-budget") == 0 ? c->frame_budget
                         : c->slot_budget;
            if (got != re->kv[j].value)
                failf(r, "line %u: record %" PRIu64 ": expected %s=%" PRIu64 ", got %" PRIu64,
                      line, re->badge, re->kv[j].key, re->kv[j].value, got);
        }
    }
}

/* memd's names for frames must be a consistent naming: one number, one
   frame, for as long as memd runs. */
static void name_frame(struct run *r, uint32_t number, uint32_t f)
{
    struct kframe *k = &r->frames[f];
    if (number >= FRAME_NUMBERS) {
        failf(r, "memd names a frame %" PRIu32 ", beyond any frame it could manage", number);
        return;
    }
    if (k->number != UINT32_MAX && k->number != number)
        failf(r, "memd calls %s frame %" PRIu32 " now", frame_words(r, f), number);
    if (r->by_number[number] != 0 && r->by_number[number] != f + 1u)
        failf(r, "memd gives the number %" PRIu32 " to two frames: %s and the one at %#" PRIx64,
              number, frame_words(r, r->by_number[number] - 1u), k->phys);
    k->number = number;
    r->by_number[number] = f + 1u;
}

static void view_add(struct client_view *v, uint32_t number, uint32_t obj)
{
    if (v->n == v->cap) {
        v->cap = v->cap != 0 ? 2 * v->cap : 64;
        v->frames = xrealloc(v->frames, v->cap * sizeof *v->frames);
        v->objs = xrealloc(v->objs, v->cap * sizeof *v->objs);
    }
    v->frames[v->n] = number;
    v->objs[v->n++] = obj;
}

static uint32_t view_remove_at(struct client_view *v, uint32_t i)
{
    uint32_t obj = v->objs[i];
    memmove(&v->frames[i], &v->frames[i + 1], (v->n - i - 1) * sizeof v->frames[0]);
    memmove(&v->objs[i], &v->objs[i + 1], (v->n - i - 1) * sizeof v->objs[0]);
    v->n--;
    return obj;
}

/* Forget the frame the client calls `number`; the object it named, or
   UINT32_MAX if the client held no such frame. */
static uint32_t view_remove(struct client_view *v, uint32_t number)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->frames[i] == number)
            return view_remove_at(v, i);
    return UINT32_MAX;
}

/* A client that sends a free of frames it holds gives them back: from then
   on memd may revoke them (before its reply or after).  If memd refuses
   the free, the client keeps them, and the offer is withdrawn. */
static void offer_back(struct run *r, uint64_t badge, bool on)
{
    const struct client_view *v = view(r, badge);
    if (v == NULL)
        return;
    for (uint32_t i = 0; i < r->sent_nfree; i++)
        for (uint32_t j = 0; j < v->n; j++)
            if (v->frames[j] == r->sent_free[i] && v->objs[j] < r->nframes)
                r->frames[v->objs[j]].given_back = on;
}

/* Forget the frame object `obj`, whatever the client calls it. */
static void view_remove_obj(struct client_view *v, uint32_t obj)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->objs[i] == obj) {
            (void)view_remove_at(v, i);
            return;
        }
}

static uint32_t sys_reply(struct run *r, struct call *c)
{
    uint64_t msg = c->regs->rdi, len = c->regs->rsi, capsp = c->regs->rdx,
             ncaps = c->regs->r10;
    snprintf(c->desc, sizeof c->desc, "REPLY %" PRIu64 " bytes, %" PRIu64 " caps", len, ncaps);
    if (r->pending == NULL) {
        failf(r, "memd replies with no request to answer");
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    if (len > IPC_MSG_BUFFER_BYTES)
        return refuse(r, c, KERR_INVALID_ARGUMENT, "longer than a message buffer");
    if (ncaps > KERNEL_REPLY_CAPS_MAX)
        return refuse(r, c, KERR_TOO_MANY, "more capabilities than one reply carries");
    if (ncaps != 0 && (r->pending_rights & CAP_RIGHT_GRANT) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION,
                      "capabilities travel only through an endpoint with GRANT");
    uint8_t m[IPC_MSG_BUFFER_BYTES];
    uint32_t caps[KERNEL_REPLY_CAPS_MAX];
    if (!user_read(r, "the reply", msg, m, len) ||
        !user_read(r, "the reply's capability list", capsp, caps, 4 * ncaps))
        return KERR_INVALID_ARGUMENT;
    for (uint64_t i = 0; i < ncaps; i++) {
        if (caps[i] >= MEMD_CSPACE_SLOTS || r->cspace[caps[i]].type != CAP_TYPE_FRAME) {
            char why[96];
            snprintf(why, sizeof why, "slot %" PRIu32 " holds no frame", caps[i]);
            return refuse(r, c, KERR_INVALID_CAP, why);
        }
    }
    const struct step *st = r->pending;
    uint64_t to = st->badge;
    struct client_view *v = view(r, to);
    uint32_t kerr;
    if (injected(r, c, &kerr)) {
        /* The kernel fails the reply: the client receives nothing, neither
           the bytes nor a capability. */
        tracef(r, "  memd → %-9s (nothing arrives)", who(to));
        if (!st->ex.lost)
            failf(r, "line %u: the reply is lost, but the scenario expects one", st->line);
        snprintf(r->req_what, sizeof r->req_what, "lost");
        r->pending = NULL;
        r->open_req = true;
        return kerr;
    }
    if (st->ex.lost)
        failf(r, "line %u: the scenario expects this reply to be lost", st->line);
    struct decoded d;
    char text[1024], where[512];
    size_t k = 0;
    text[0] = where[0] = '\0';
    bool shaped = decode_reply(r, m, (uint32_t)len, (uint32_t)ncaps, &d, text, sizeof text);
    for (uint64_t i = 0; i < ncaps && k < sizeof where; i++)
        k += (size_t)snprintf(where + k, sizeof where - k, "%s%" PRIu32 "=%#" PRIx64,
                              i == 0 ? "" : " ", caps[i], r->frames[r->cspace[caps[i]].obj].phys);
    if (ncaps != 0)
        tracef(r, "  memd → %-9s %s; caps in slots %s", who(to), text, where);
    else
        tracef(r, "  memd → %-9s %s", who(to), text);
    /* The transfer: each frame goes to the client as a copy of memd's
       capability; the frame must have no other live copy and be clean. */
    for (uint64_t i = 0; i < ncaps; i++) {
        uint32_t f = r->cspace[caps[i]].obj;
        struct kframe *kf = &r->frames[f];
        if (!window_has(r, caps[i]))
            failf(r, "memd hands out slot %" PRIu32 ", outside its runtime window", caps[i]);
        if (kf->copies != 0)
            failf(r, "memd hands %s (slot %" PRIu32 ") to %s while %s still holds a copy",
                  frame_words(r, f), caps[i], who(to), who(kf->holder));
        else if (kf->dirty)
            failf(r, "memd hands %s (slot %" PRIu32 ") to %s without clearing it since "
                     "its last holder", frame_words(r, f), caps[i], who(to));
        kf->copies++;
        kf->holder = to;
        kf->dirty = true;
        kf->handed++;
        kf->given_back = false;
    }
    if (shaped)
        check_expect(r, &st->ex, &d, caps, (uint32_t)ncaps);
    /* What the client now believes it holds. */
    const struct kv *res = find_kv(d.kv, d.nkv, "result");
    const struct kv *op = find_kv(d.kv, d.nkv, "op");
    if (r->sent_op == MEMD_OP_FREE && !(shaped && res != NULL && res->value == MEMD_OK))
        offer_back(r, to, false);     /* refused: the client keeps its frames */
    if (shaped && res != NULL && op != NULL && res->value == MEMD_OK) {
        if (op->value == MEMD_OP_ALLOC) {
            for (uint32_t i = 0; i < d.nframes && i < ncaps; i++) {
                uint32_t f = r->cspace[caps[i]].obj;
                name_frame(r, d.frames[i], f);
                if (v != NULL)
                    view_add(v, d.frames[i], f);
            }
        } else if (op->value == MEMD_OP_FREE && v != NULL) {
            for (uint32_t i = 0; i < r->sent_nfree; i++)
                (void)view_remove(v, r->sent_free[i]);
        } else if (op->value == MEMD_OP_RECLAIM && r->sent_len >= 12) {
            /* rootd took back `reclaimed` of the client's frames, memd's
               choice which: the client's view loses each one as memd
               revokes it, and keeps the ones that remain. */
            struct client_view *gone = view(r, get32(r->sent + 8));
            const struct kv *taken = find_kv(d.kv, d.nkv, "reclaimed");
            const struct kv *left = find_kv(d.kv, d.nkv, "remaining");
            if (gone != NULL && taken != NULL) {
                gone->reclaimable += (uint32_t)taken->value;
                if (left != NULL && left->value == 0)
                    gone->n = 0;
            }
        }
    }
    /* What the request did, for the count of kernel calls per request: the
       cost of a free or a reclaim grows with its frames, so they are told
       apart by how many; every refusal costs the same. */
    const struct kv *cnt = find_kv(d.kv, d.nkv, "freed");
    const struct kv *rec = find_kv(d.kv, d.nkv, "reclaimed");
    if (!shaped || res == NULL || op == NULL || res->value != MEMD_OK)
        snprintf(r->req_what, sizeof r->req_what, "refused");
    else if (cnt != NULL)
        snprintf(r->req_what, sizeof r->req_what, "FREE of %" PRIu64, cnt->value);
    else if (rec != NULL)
        snprintf(r->req_what, sizeof r->req_what, "RECLAIM of %" PRIu64, rec->value);
    else
        snprintf(r->req_what, sizeof r->req_what, "%s", WORD(op_names, op->value));
    r->pending = NULL;
    r->open_req = true;     /* its turn goes on until the next receive */
    return KERR_OK;
}

/* --- the ready report, and halting ------------------------------------- */

static uint32_t sys_call(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi, msg = c->regs->rsi, len = c->regs->rdx;
    snprintf(c->desc, sizeof c->desc, "CALL slot %" PRIu64 ", %" PRIu64 " bytes", slot, len);
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    const struct cap *cp = &r->cspace[slot];
    if (cp->type != CAP_TYPE_ENDPOINT)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no endpoint");
    if ((cp->rights & CAP_RIGHT_WRITE) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the endpoint capability lacks WRITE");
    if (cp->obj != EP_READY) {
        failf(r, "memd calls slot %" PRIu64 ", which is not rootd's ready endpoint", slot);
        r->fatal = true;
        return KERR_INVALID_CAP;
    }
    if (r->reported) {
        failf(r, "memd reports to rootd a second time");
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    uint8_t m[IPC_MSG_BUFFER_BYTES];
    if (len > IPC_MSG_BUFFER_BYTES)
        return refuse(r, c, KERR_INVALID_ARGUMENT, "longer than a message buffer");
    if (!user_read(r, "the ready report", msg, m, len))
        return KERR_INVALID_ARGUMENT;
    uint64_t answer = c->regs->r10, answer_room = c->regs->r8;
    if (!image_range_ok(r->im, answer, answer_room, true)) {
        failf(r, "bad pointer: the buffer for rootd's answer at %#" PRIx64 ", %" PRIu64
                 " bytes, is not writable memory of the image", answer, answer_room);
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    r->reported = true;
    if (len != sizeof(struct memd_ready_report)) {
        failf(r, "the ready report is %" PRIu64 " bytes, not %zu", len,
              sizeof(struct memd_ready_report));
        r->reported_status = UINT32_MAX;
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    uint32_t op = get16(m + offsetof(struct memd_ready_report, op));
    uint32_t version = get16(m + offsetof(struct memd_ready_report, version));
    uint32_t rsv = get32(m + offsetof(struct memd_ready_report, reserved_hdr)) |
                   get16(m + offsetof(struct memd_ready_report, reserved));
    uint32_t status = get16(m + offsetof(struct memd_ready_report, status));
    uint32_t detail = get32(m + offsetof(struct memd_ready_report, detail));
    r->reported_status = status;
    tracef(r, "  memd → rootd     READY %s detail=%" PRIu32, status_word(status), detail);
    if (op != MEMD_OP_READY || version != MEMD_MSG_VERSION || rsv != 0)
        failf(r, "the ready report's header is op %#" PRIx32 " version %" PRIu32
                 " reserved %#" PRIx32, op, version, rsv);
    const struct scenario *s = r->s;
    if (status != s->startup_status)
        failf(r, "startup ends in %s; the scenario expects %s", status_word(status),
              status_word((uint32_t)s->startup_status));
    uint64_t want = s->startup_detail.set ? s->startup_detail.v
                  : status == MEMD_STARTUP_OK ? r->ram_frames : 0u;
    if (detail != want)
        failf(r, "the ready report's detail is %" PRIu32 ", expected %" PRIu64, detail, want);
    /* EriX's ready state: every slot the envelope names has been checked
       with the kernel before memd says it is ready. */
    for (uint32_t i = 0; status == MEMD_STARTUP_OK && i < s->nslots; i++) {
        uint32_t sl = s->slot[i].slot;
        if (s->slot[i].listed && sl >= MEMD_TRANSFER_SLOT_FIRST && sl < MEMD_TRANSFER_SLOT_END &&
            !r->queried[sl - MEMD_TRANSFER_SLOT_FIRST])
            failf(r, "memd reports ready without asking the kernel what slot %" PRIu32
                     " holds", sl);
    }
    c->regs->rdx = 0;     /* rootd's acknowledgement is empty */
    if (s->ready_answer != KERR_OK) {
        tracef(r, "  rootd → memd     refuses the report: %s", WORD(kerr_names, s->ready_answer));
        return (uint32_t)s->ready_answer;
    }
    if (status == MEMD_STARTUP_OK)
        tracef(r, "  rootd → memd     acknowledged: memd manages %" PRIu32 " frames", detail);
    else
        tracef(r, "  rootd → memd     acknowledged: the boot stops here");
    return KERR_OK;
}

static void sys_halt(struct run *r, struct call *c)
{
    uint64_t status = c->regs->rdi;
    r->halted = true;
    r->halt_status = (uint32_t)status;
    tracef(r, "  memd → kernel    HALT %s", status_word((uint32_t)status));
    if (!r->reported) {
        failf(r, "memd halts without telling rootd why");
        return;
    }
    uint32_t want = r->s->ready_answer != KERR_OK && r->reported_status == MEMD_STARTUP_OK
                  ? (uint32_t)MEMD_ST_READY_REJECTED : r->reported_status;
    if (want == MEMD_STARTUP_OK)
        failf(r, "memd halts after reporting ready: it no longer serves");
    else if (status != want)
        failf(r, "memd halts with %s after reporting %s", status_word((uint32_t)status),
              status_word(want));
}

/* One stop at a system call. */
static void syscall_stop(struct run *r)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, r->pid, NULL, &regs) != 0) {
        failf(r, "PTRACE_GETREGS: %s", strerror(errno));
        r->fatal = true;
        return;
    }
    struct call c = { .regs = &regs, .nr = regs.orig_rax };
    r->calls_total++;
    if (c.nr < ARRAY_LEN(r->calls))
        r->calls[c.nr]++;
    if (c.nr == SYS_RECV)
        finish_request(r);
    if (r->pending != NULL || r->open_req)
        r->req_calls++;
    else if (r->messages == 0 && c.nr != SYS_RECV)
        r->startup_calls++;     /* everything before the first request */
    for (uint32_t i = 0; i < r->s->ninject; i++) {
        const struct scn_inject *in = &r->s->inject[i];
        if (in->sys == c.nr && c.nr < ARRAY_LEN(r->calls) && in->nth == r->calls[c.nr]) {
            c.injected = true;
            c.inject_kerr = in->kerr;
        }
    }
    if (r->reported && r->reported_status != MEMD_STARTUP_OK && c.nr != SYS_HALT) {
        failf(r, "after reporting %s, memd makes system call %s instead of halting",
              status_word(r->reported_status), WORD(sys_names, c.nr));
        r->fatal = true;
        return;
    }
    uint32_t kerr = KERR_OK;
    switch (c.nr) {
    case SYS_QUERY_LOCAL_CAP: kerr = sys_query_local(r, &c); break;
    case SYS_UNTYPED_RETYPE:  kerr = sys_retype(r, &c); break;
    case SYS_CAP_REVOKE:      kerr = sys_revoke(r, &c); break;
    case SYS_CAP_DELETE:      kerr = sys_delete(r, &c); break;
    case SYS_FRAME_CLEAR:     kerr = sys_clear(r, &c); break;
    case SYS_RECV:            kerr = sys_recv(r, &c); break;
    case SYS_REPLY:           kerr = sys_reply(r, &c); break;
    case SYS_CALL:            kerr = sys_call(r, &c); break;
    case SYS_HALT:            sys_halt(r, &c); return;
    case SYS_QUERY_CAP:
        failf(r, "the image calls QUERY_CAP, which only host scaffolding may use "
                 "(rip %#llx)", regs.rip);
        r->fatal = true;
        return;
    default:
        failf(r, "the image makes system call %#llx, which the ABI does not have (rip %#llx)",
              regs.orig_rax, regs.rip);
        r->fatal = true;
        return;
    }
    regs.rax = c.injected ? c.inject_kerr : kerr;   /* all 64 bits of it */
    if (ptrace(PTRACE_SETREGS, r->pid, NULL, &regs) != 0) {
        failf(r, "PTRACE_SETREGS: %s", strerror(errno));
        r->fatal = true;
    }
}

/* ======================================================================
 * A run: boot memd into the scenario's state, serve the script, judge.
 * ====================================================================== */

static void trace_boot(struct run *r, uint64_t frame_addr, uint32_t total, uint64_t rsp)
{
    const struct scenario *s = r->s;
    const struct image *im = r->im;
    tracef(r, "boot: image %s, entry %#" PRIx64 ", stack reserve %#" PRIx64 "..%#" PRIx64
              " (%" PRIu64 " KiB)", im->path, im->entry, im->stack_low, im->stack_high - 1,
           (im->stack_high - im->stack_low) / 1024);
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct scn_slot *sl = &s->slot[i];
        char real[160], said[160];
        if (sl->real) {
            snprintf(real, sizeof real, "%s %s", WORD(type_names, sl->real_type),
                     rights_word((uint32_t)sl->real_rights));
            if (sl->real_type == CAP_TYPE_UNTYPED) {
                for (uint32_t k = 0; k < s->nuntyped; k++) {
                    const struct scn_untyped *u = &s->untyped[k];
                    if (u->slot == sl->slot) {
                        size_t n = strlen(real);
                        snprintf(real + n, sizeof real - n, ", 2^%" PRIu64 " bytes at %#" PRIx64
                                 "%s", u->real_bits, u->base,
                                 (u->flags & MEMD_UNTYPED_DEVICE) != 0 ? " (device)" : "");
                    }
                }
            }
        } else {
            snprintf(real, sizeof real, "empty");
        }
        if (!sl->listed) {
            tracef(r, "boot: slot %" PRIu32 " holds %s; the envelope does not name it",
                   sl->slot, real);
            continue;
        }
        snprintf(said, sizeof said, "%s %s", WORD(type_names, sl->type),
                 rights_word((uint32_t)sl->rights));
        bool differs = !sl->real || sl->real_type != sl->type || sl->real_rights != sl->rights;
        const char *use = sl->use == MEMD_USE_MEM_ENDPOINT ? "the memory endpoint memd serves on"
                        : sl->use == MEMD_USE_READY_ENDPOINT ? "rootd's endpoint for memd's report"
                        : sl->use == MEMD_USE_CSPACE ? "authority over memd's own slots"
                        : sl->use == MEMD_USE_UNTYPED ? "memory memd may spend"
                        : WORD(use_names, sl->use);
        for (uint32_t k = 0; sl->use == MEMD_USE_UNTYPED && k < s->nuntyped; k++) {
            if (s->untyped[k].slot == sl->slot && (s->untyped[k].flags & MEMD_UNTYPED_DEVICE) != 0u)
                use = "device memory, never to be handed out";
        }
        tracef(r, "boot: slot %" PRIu32 " holds %s: %s%s%s%s", sl->slot, real, use,
               differs ? " (the envelope says " : "", differs ? said : "", differs ? ")" : "");
    }
    for (uint32_t i = 0; i < s->nclients; i++)
        tracef(r, "boot: %s may hold %" PRIu64 " frames in %" PRIu64 " slots",
               who(s->client[i].badge), s->client[i].frames, s->client[i].slots);
    tracef(r, "boot: runtime window slots %" PRIu32 "..%" PRIu64 "; %" PRIu32
              " RAM frames described", r->window_base,
           (uint64_t)r->window_base + r->window_count - 1, r->ram_frames);
    tracef(r, "boot: startup frame at %#" PRIx64 ", %" PRIu32 " bytes; enter at %#" PRIx64
              " with rsp %#" PRIx64 ", rdi %#" PRIx64, frame_addr, total, im->entry, rsp,
           frame_addr);
    tracef(r, "startup: memd checks what it was handed");
}

static void enter_memd(struct run *r)
{
    const struct scenario *s = r->s;
    const struct image *im = r->im;
    uint8_t frame[MEMD_FRAME_MAX_BYTES + 256];
    uint32_t total = build_frame(s, frame, sizeof frame);
    uint64_t top = im->stack_high, low = im->stack_low;
    uint64_t at = (top - (((uint64_t)total + 15u) & ~(uint64_t)15u));
    if (s->f_at_set)
        at = s->f_at_top ? top - s->f_at : s->f_at;
    bool inside = at >= low && at < top;
    uint64_t rsp = (inside ? at : top - 64u) & ~(uint64_t)15u;
    trace_boot(r, at, total, rsp);
    if (inside) {
        uint64_t room = top - at, n = total < room ? total : room;
        if (!poke(r, at, frame, n)) {
            failf(r, "cannot write the startup frame at %#" PRIx64, at);
            r->fatal = true;
            return;
        }
    }
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, r->pid, NULL, &regs) != 0) {
        failf(r, "PTRACE_GETREGS: %s", strerror(errno));
        r->fatal = true;
        return;
    }
    regs.r15 = regs.r14 = regs.r13 = regs.r12 = regs.rbp = regs.rbx = 0;
    regs.r11 = regs.r10 = regs.r9 = regs.r8 = regs.rax = regs.rcx = 0;
    regs.rdx = regs.rsi = regs.rdi = 0;
    regs.rip = im->entry;
    regs.rsp = rsp;
    regs.rdi = at;
    regs.eflags &= ~(unsigned long long)0x400u;   /* direction flag clear */
    regs.fs_base = regs.gs_base = 0;
    if (ptrace(PTRACE_SETREGS, r->pid, NULL, &regs) != 0) {
        failf(r, "PTRACE_SETREGS: %s", strerror(errno));
        r->fatal = true;
    }
}

static void memd_stopped(struct run *r, int sig)
{
    siginfo_t si;
    struct user_regs_struct regs;
    memset(&si, 0, sizeof si);
    memset(&regs, 0, sizeof regs);
    (void)ptrace(PTRACE_GETSIGINFO, r->pid, NULL, &si);
    (void)ptrace(PTRACE_GETREGS, r->pid, NULL, &regs);
    char where[512];
    source_line(r, regs.rip, where, sizeof where);
    failf(r, "memd takes signal %d (%s) at rip %#llx (%s), fault address %#" PRIxPTR, sig,
          strsignal(sig), regs.rip, where, (uintptr_t)si.si_addr);
    r->fatal = true;
}

static void summarise(struct run *r)
{
    /* Kernel calls per request, by what the request did, each distinct
       count with how many requests made it: the most frequent is the
       steady state; the others are requests whose turn also refilled the
       pool. */
    char line[2048];
    size_t k = 0;
#define OUT(...) (k += (size_t)snprintf(line + k, k < sizeof line ? sizeof line - k : 0, \
                                        __VA_ARGS__))
    OUT("kernel calls per request:");
    bool *done = xcalloc(r->nreq + 1u, sizeof *done);
    for (uint32_t i = 0; i < r->nreq; i++) {
        if (done[i])
            continue;
        OUT("%s %s", i == 0 ? "" : ";", r->req[i].what);
        /* the distinct counts of this kind, in increasing order */
        uint32_t last = 0;
        for (;;) {
            uint32_t next = UINT32_MAX, times = 0;
            for (uint32_t j = i; j < r->nreq; j++) {
                if (strcmp(r->req[j].what, r->req[i].what) == 0 && r->req[j].calls > last &&
                    r->req[j].calls < next)
                    next = r->req[j].calls;
            }
            if (next == UINT32_MAX)
                break;
            for (uint32_t j = i; j < r->nreq; j++) {
                if (strcmp(r->req[j].what, r->req[i].what) == 0 && r->req[j].calls == next) {
                    times++;
                    done[j] = true;
                }
            }
            OUT(" %" PRIu32 " (x%" PRIu32 ")", next, times);
            last = next;
        }
    }
    free(done);
    if (r->nreq == 0)
        OUT(" none served (startup took %" PRIu32 ")", r->startup_calls);
#undef OUT
    tracef(r, "%s", line);
    k = 0;
    k += (size_t)snprintf(line + k, sizeof line - k, "kernel calls in all: %" PRIu64
                          " (startup %" PRIu32 ";", r->calls_total, r->startup_calls);
    for (size_t i = 0; i < sys_names_count && k < sizeof line; i++) {
        uint64_t n = r->calls[sys_names[i].value];
        if (n != 0)
            k += (size_t)snprintf(line + k, sizeof line - k, " %s %" PRIu64,
                                  sys_names[i].word, n);
    }
    if (k < sizeof line)
        snprintf(line + k, sizeof line - k, ")");
    tracef(r, "%s", line);
}

static void judge(struct run *r)
{
    const struct scenario *s = r->s;
    if (r->fatal)
        return;
    if (!r->reported) {
        failf(r, "memd never reported its startup to rootd");
        return;
    }
    if (s->startup_status != MEMD_STARTUP_OK) {
        if (!r->halted)
            failf(r, "memd refused to start but did not halt");
        else if (r->messages != 0)
            failf(r, "memd refused to start but served %" PRIu32 " requests", r->messages);
        else
            tracef(r, "nothing served: memd refused to start, as rootd was told");
        return;
    }
    if (s->ready_answer != KERR_OK) {
        if (!r->halted)
            failf(r, "rootd refused memd's report, but memd did not halt");
        else if (r->messages != 0)
            failf(r, "rootd refused memd's report, but memd served %" PRIu32 " requests",
                  r->messages);
        else
            tracef(r, "nothing served: rootd refused the report");
        return;
    }
    if (!r->idle) {
        failf(r, "memd stopped before the end of the script");
        return;
    }
    if (r->pending != NULL)
        failf(r, "memd never answered line %u", r->pending->line);
}

/* What memd's process stopped (or ended) with, carried out: a system
   call, or a failure of the run. */
static void memd_event(struct run *r, int st)
{
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
        if (watchdog_fired)
            failf(r, "memd ran %u seconds without finishing: killed", WATCHDOG_SECONDS);
        else
            failf(r, "memd's process ended (status %#x)", (unsigned)st);
        r->pid = 0;
        r->fatal = true;
    } else if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
        syscall_stop(r);
        if (r->calls_total >= MAX_CALLS_PER_RUN) {
            failf(r, "memd made %" PRIu64 " system calls without finishing",
                  r->calls_total);
            r->fatal = true;
        }
    } else if (WIFSTOPPED(st)) {
        memd_stopped(r, WSTOPSIG(st));
    }
}

/* --- under gdb (kmodel --gdb; the stub is tests/kgdb.c) -------------- */

static bool debugging;        /* the first run is served to gdb */
static size_t trace_shown;    /* how much of the trace is on stderr */

/* The trace so far, on the standard error as it grows. */
static void show_trace(struct run *r)
{
    fflush(r->trace);
    if (r->trace_len > trace_shown)
        fwrite(r->trace_buf + trace_shown, 1, r->trace_len - trace_shown, stderr);
    trace_shown = r->trace_len;
}

static bool debug_event(void *ctx, int st)
{
    struct run *r = ctx;
    memd_event(r, st);
    show_trace(r);
    return !r->fatal && !r->halted && !r->idle;
}

/* gdb holds memd from its entry point (no watchdog: a person may think at
   a breakpoint) until the run is over, or until it detaches, when the
   model's own loop plays the rest. */
static void debug_session(struct run *r)
{
    const struct kgdb_model m = { r, debug_event };
    trace_shown = 0;
    show_trace(r);
    if (kgdb_serve(r->pid, &m) == KGDB_KILLED) {
        failf(r, "the debugger ended memd's run before the end of the script");
        r->fatal = true;
    }
}

/* Boots memd once into the scenario; fills r with the trace and the
   verdict. */
static void run_once(const struct scenario *s, const struct image *im, struct run *r)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->im = im;
    r->trace = open_memstream(&r->trace_buf, &r->trace_len);
    if (r->trace == NULL) {
        fprintf(stderr, "kmodel: open_memstream: %s\n", strerror(errno));
        exit(2);
    }
    if (s->title[0] != '\0')
        tracef(r, "scenario: %s", s->title);
    kernel_setup(r);
    if (!spawn(r)) {
        failf(r, "cannot start %s under ptrace", im->path);
        r->fatal = true;
    } else {
        enter_memd(r);
    }
    if (debugging && !r->fatal)
        debug_session(r);
    watchdog_fired = 0;
    alarm(WATCHDOG_SECONDS);
    while (!r->fatal && !r->halted && !r->idle) {
        int st;
        if (ptrace(PTRACE_SYSEMU, r->pid, NULL, NULL) != 0) {
            failf(r, "PTRACE_SYSEMU: %s", strerror(errno));
            r->fatal = true;
            break;
        }
        pid_t w;
        do {
            w = waitpid(r->pid, &st, 0);
        } while (w < 0 && errno == EINTR);
        if (w != r->pid) {
            failf(r, "waitpid: %s", strerror(errno));
            r->fatal = true;
            break;
        }
        memd_event(r, st);
    }
    alarm(0);
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        int st;
        while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    watchdog_pid = 0;
    finish_request(r);
    judge(r);
    summarise(r);
    if (debugging)
        show_trace(r);
    fclose(r->trace);
    free(r->cspace);
    free(r->by_number);
    free(r->frames);
    free(r->req);
    for (uint32_t i = 0; i < MAX_BADGES; i++) {
        free(r->client[i].frames);
        free(r->client[i].objs);
    }
}

static void print_names(void)
{
    for (size_t t = 0; t < all_tables_count; t++) {
        for (size_t i = 0; i < all_tables[t].count; i++) {
            const struct name *n = &all_tables[t].names[i];
            printf("%s %s %" PRIu64 "%s%s\n", all_tables[t].what, n->abi, n->value,
                   n->word != NULL ? " " : "", n->word != NULL ? n->word : "");
        }
    }
}

int main(int argc, char **argv)
{
    bool quiet = false;
    int a = 1;
    if (argc == 2 && strcmp(argv[1], "--names") == 0) {
        print_names();
        return 0;
    }
    if (a < argc && strcmp(argv[a], "-q") == 0) {
        quiet = true;
        a++;
    } else if (a < argc && strcmp(argv[a], "--gdb") == 0) {
        debugging = true;
        a++;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: kmodel [-q] IMAGE SCENARIO\n       kmodel --gdb IMAGE SCENARIO\n"
                        "       kmodel --names\n");
        return 2;
    }
    if (debugging && !kgdb_setup())
        return 2;
    struct image im;
    if (!load_image(argv[a], &im))
        return 2;
    static struct scenario s;
    parse_scenario(argv[a + 1], &s);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    static struct run r1, r2;
    run_once(&s, &im, &r1);
    bool pass = r1.failures == 0;
    const char *why = r1.first_failure;
    bool debugged = debugging;
    debugging = false;        /* a second run is the model's alone */
    if (!debugged && !quiet)  /* under gdb, the trace is out already */
        fwrite(r1.trace_buf, 1, r1.trace_len, stdout);
    else if (!debugged)
        for (char *l = r1.trace_buf; l != NULL && *l != '\0';) {
            char *nl = strchr(l, '\n');
            size_t n = nl != NULL ? (size_t)(nl - l + 1) : strlen(l);
            if (strncmp(l, "kernel calls", 12) == 0 || strncmp(l, "   !!", 5) == 0)
                fwrite(l, 1, n, stdout);
            l += n;
        }
    char twice_note[160] = "";
    if (s.twice) {
        run_once(&s, &im, &r2);
        if (r2.failures != 0 && pass) {
            pass = false;
            why = r2.first_failure;
        }
        if (r1.trace_len != r2.trace_len ||
            memcmp(r1.trace_buf, r2.trace_buf, r1.trace_len) != 0) {
            size_t i = 0;
            while (i < r1.trace_len && i < r2.trace_len && r1.trace_buf[i] == r2.trace_buf[i])
                i++;
            size_t line = 1;
            for (size_t j = 0; j < i; j++)
                line += r1.trace_buf[j] == '\n';
            if (pass) {
                pass = false;
                why = "the second run's trace differs from the first";
            }
            printf("the second run's trace differs from the first at line %zu\n", line);
        } else {
            snprintf(twice_note, sizeof twice_note, "; booted twice, identical traces");
        }
        free(r2.trace_buf);
    }
    if (pass)
        printf("PASS %s: %" PRIu32 " requests answered as expected%s\n", s.path, r1.messages,
               twice_note);
    else
        printf("FAIL: %s\n", why);
    free(r1.trace_buf);
    if (debugged)
        kgdb_finish(pass ? 0 : 1);
    return pass ? 0 : 1;
}
