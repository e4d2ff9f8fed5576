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
 * one of memd's system calls.  It decodes the call from the registers and
 * has the one model of the kernel, tests/kernel.c (the same the host tests
 * run on), carry it out, as the ABI chapter of memd.nw defines it: a
 * capability space of typed slots with rights, untyped objects with a
 * watermark, frames and the copies clients hold, endpoints and badges;
 * receive and reply it does here, with message buffers copied out of and
 * into memd's memory.  It shapes memd's address space as the kernel and
 * rootd would (Linux's stack unmapped, the metadata region the envelope
 * names mapped, the guard page below the stack reserve checked), so that
 * memd can write nothing but its image, its stack and that region; it
 * writes the startup frame at the top of the image's stack reserve and
 * sets the entry registers; it plays rootd and memd's clients from a
 * scenario file (tests/scenarios/README.md describes the format;
 * tests/kmodel-scenario.c reads it) and checks every reply memd sends
 * (tests/kmodel-reply.c).
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
#define _GNU_SOURCE  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): glibc's switch for process_vm_readv
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
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel.h"
#include "kgdb.h"
#include "kmodel.h"

/* Where a field lies on the wire, and how long a message is: the ABI
   header's structures say, and nothing here re-types an offset. */
#define OFF(type, field) ((uint32_t)offsetof(struct type, field))
#define SIZE(type) ((uint32_t)sizeof(struct type))

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
 * point, its loadable segments (to check every pointer memd passes), the
 * two ends of its stack reserve (where the startup frame goes), where
 * the image begins (memd_image_low: the metadata region must keep off
 * the image) and one `syscall` instruction of its code (0f 05: the model
 * has the host carry out a few calls in memd's process before entry, to
 * shape its address space).
 * ====================================================================== */

#define MAX_SEGS 16u
#define PAGE ((uint64_t)MEMD_FRAME_BYTES)

struct seg { uint64_t lo, hi; uint32_t flags; };

struct image {
    const char *path;
    uint64_t entry, stack_low, stack_high;
    uint64_t image_low;       /* memd_image_low, or the first segment's page */
    uint64_t syscall_at;      /* the address of bytes 0f 05 in code; 0: none */
    uint32_t nseg;
    struct seg seg[MAX_SEGS];
};

static bool load_image(const char *path, struct image *im)
{
    memset(im, 0, sizeof *im);
    im->path = path;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        (void)fprintf(stderr, "kmodel: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    (void)fseek(f, 0, SEEK_END);
    long size = ftell(f);
    (void)fseek(f, 0, SEEK_SET);
    if (size < (long)sizeof(Elf64_Ehdr) || size > (64L << 20)) {
        (void)fclose(f);
        (void)fprintf(stderr, "kmodel: %s: not an image of a sensible size\n", path);
        return false;
    }
    uint8_t *b = xcalloc((size_t)size, 1);
    bool ok = fread(b, 1, (size_t)size, f) == (size_t)size;
    (void)fclose(f);
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
            if (im->nseg == 1 || (ph.p_vaddr & ~(PAGE - 1u)) < im->image_low)
                im->image_low = ph.p_vaddr & ~(PAGE - 1u);
            /* The first `syscall` of the code, as the file holds it. */
            if ((ph.p_flags & PF_X) != 0u && im->syscall_at == 0 &&
                ph.p_offset <= (uint64_t)size && ph.p_filesz <= (uint64_t)size - ph.p_offset)
                for (uint64_t k = 0; k + 1 < ph.p_filesz && im->syscall_at == 0; k++)
                    if (b[ph.p_offset + k] == 0x0Fu && b[ph.p_offset + k + 1] == 0x05u)
                        im->syscall_at = ph.p_vaddr + k;
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
            } else if (strcmp(nm, "memd_image_low") == 0) {
                im->image_low = sym.st_value;
            }
        }
    }
    if (why == NULL && (!low || !high || im->stack_high <= im->stack_low))
        why = "no stack reserve (symbols memd_stack_low, memd_stack_high)";
    if (why == NULL && im->syscall_at == 0)
        why = "no syscall instruction in its code";
    free(b);
    if (why != NULL) {
        (void)fprintf(stderr, "kmodel: %s: %s\n", path, why);
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
    /* the kernel (tests/kernel.c) */
    struct kernel k;
    uint64_t calls[0x100];    /* by system-call number */
    uint64_t calls_total;
    uint64_t ram_frames;      /* what rootd expects in the ready report */
    /* the metadata region, as the envelope names it */
    uint64_t meta_base, meta_size;
    bool meta_mapped;         /* the model mapped it into memd's space */
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
    uint32_t req_calls;
    bool open_req;            /* replied; the turn's work after the reply goes on */
    char req_what[32];        /* what the request did, for the summary */
    uint32_t startup_calls;
    uint32_t nreq, cap_req;
    struct req_stat *req;
    uint32_t messages;
};

/* --- the trace ------------------------------------------------------- */

static void tracef(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tracef(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vfprintf(r->trace, fmt, ap);
    va_end(ap);
    (void)fputc('\n', r->trace);
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
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)fprintf(r->trace, "   !! %s\n", msg);
    if (r->failures++ == 0)
        (void)snprintf(r->first_failure, sizeof r->first_failure, "%s", msg);
}

/* The kernel's reports (tests/kernel.c), into the trace. */
static void kernel_traces(void *ctx, const char *line)
{
    struct run *r = ctx;
    (void)fprintf(r->trace, "%s\n", line);
}

static void kernel_finds(void *ctx, const char *what)
{
    failf(ctx, "%s", what);
}

/* --- the envelope, built from the scenario ------------------------------ */

static uint64_t or_default(struct opt o, uint64_t d)
{
    return o.set ? o.v : d;
}

/* Writes the startup frame (header, then the envelope) into buf; returns
   its size. */
static uint32_t build_frame(const struct run *r, uint8_t *buf, size_t cap)
{
    const struct scenario *s = r->s;
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
        (void)fprintf(stderr, "kmodel: %s: the startup frame would be %u bytes\n",
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
    put64(e + offsetof(struct memd_env_header, meta_base), r->meta_base);
    put64(e + offsetof(struct memd_env_header, meta_size), r->meta_size);

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
            (void)fprintf(stderr, "kmodel: %s: poke beyond the frame\n", s->path);
            exit(2);
        }
        memcpy(buf + base + k->offset, k->bytes, k->len);
        if (base + k->offset + k->len > total)
            total = base + k->offset + k->len;
    }
    return total;
}

/* --- setting up the kernel's side from the scenario --------------------- */

static void kernel_setup(struct run *r)
{
    const struct scenario *s = r->s;
    struct kernel *k = &r->k;
    k_init(k);
    k->trace = kernel_traces;
    k->broken = kernel_finds;
    k->ctx = r;
    k_window(k, (uint32_t)or_default(s->e_wbase, 0), (uint32_t)or_default(s->e_wcount, 0));
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slot[i].listed)
            k_name(k, s->slot[i].slot);
    k_name(k, SLOT_ROOTD_READY_ENDPOINT);
    /* The untyped objects: one per untyped line, in its slot. */
    for (uint32_t i = 0; i < s->nuntyped; i++) {
        const struct scn_untyped *u = &s->untyped[i];
        bool device = (u->flags & MEMD_UNTYPED_DEVICE) != 0u;
        bool described = !device && !u->unlisted;
        const struct scn_slot *sl = NULL;
        for (uint32_t j = 0; j < s->nslots; j++)
            if (s->slot[j].slot == u->slot && s->slot[j].real)
                sl = &s->slot[j];
        (void)k_put_untyped(k, u->slot, sl != NULL ? (uint32_t)sl->real_rights : 0u, u->base,
                            (uint32_t)u->real_bits, (uint32_t)u->bits, device, described);
        if (sl == NULL || sl->real_type != CAP_TYPE_UNTYPED)   /* no capability to it */
            (void)k_put(k, u->slot, CAP_TYPE_EMPTY, 0);
        if (described && u->bits >= MEMD_FRAME_BITS && u->bits <= MEMD_UNTYPED_MAX_BITS)
            r->ram_frames += (uint64_t)1 << (u->bits - MEMD_FRAME_BITS);
    }
    /* The capabilities the kernel really holds in memd's slots.  Which
       endpoint a slot holds is the kernel's fact, fixed by the ABI's
       slots, not what the envelope says of it: memd serves on slot 2224
       and reports on slot 2225 whatever the envelope lists (a refusal of
       an envelope that omits or mislabels slot 2225 still reaches
       rootd). */
    for (uint32_t i = 0; i < s->nslots; i++) {
        const struct scn_slot *sl = &s->slot[i];
        if (!sl->real || sl->slot >= MEMD_CSPACE_SLOTS)
            continue;
        const struct k_cap *c = k_slot(k, sl->slot);
        if (sl->real_type == CAP_TYPE_UNTYPED && c->type == CAP_TYPE_UNTYPED)
            continue;   /* its untyped line put it there */
        if (sl->real_type == CAP_TYPE_FRAME)
            (void)k_put_frame(k, sl->slot, (uint32_t)sl->real_rights,
                              0xF0000000u + 0x1000u * (uint64_t)i);
        else
            (void)k_put(k, sl->slot, (uint32_t)sl->real_type, (uint32_t)sl->real_rights);
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
    (void)snprintf(path, sizeof path, "%s", r->im->path);
    (void)fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        (void)fprintf(stderr, "kmodel: fork: %s\n", strerror(errno));
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
        (void)fprintf(stderr, "kmodel: %s did not stop at exec (status %#x)\n", path,
                (unsigned)st);
        return false;
    }
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(uintptr_t)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) != 0) {
        (void)fprintf(stderr, "kmodel: PTRACE_SETOPTIONS: %s\n", strerror(errno));
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

/* --- memd's address space ------------------------------------------------ */

/* What Linux gives an exec'd program, the model makes into what the EriX
   kernel gives memd (memd.nw, "Limits, and the metadata region" and
   "Entering the image"): the image's segments, the stack reserve with an
   unmapped guard page below it, and the metadata region rootd maps.
   Linux's own stack goes, so that those three are the only writable
   memory memd has: a write anywhere else faults, and the fault fails the
   run, named for what it was.  Linux's vdso and vvar stay (memd never
   calls into them; neither is writable). */

#define META_DEFAULT_BASE ((uint64_t)1 << 40)  /* 1 TiB: far from the image */
#define META_FILL_HEAD ((uint64_t)4 << 20)      /* filled from its start ... */
#define META_FILL_TAIL ((uint64_t)64 << 10)     /* ... and up to its end */
#define META_PATTERN 0xA5u                      /* never what memd wrote */
#define MAX_MAPS 256u

/* A system call the host carries out in memd's process, before memd runs
   or after it has faulted: the call's registers are set, with rip on the
   image's `syscall` instruction; the process takes one PTRACE_SINGLESTEP
   (not PTRACE_SYSEMU: this call is the host's to carry out), and its
   registers are put back as they were.  *ret is the host's rax: a
   result, or -errno. */
static bool host_call(struct run *r, uint64_t nr, const uint64_t arg[6], int64_t *ret)
{
    struct user_regs_struct saved, regs;
    if (ptrace(PTRACE_GETREGS, r->pid, NULL, &saved) != 0)
        return false;
    regs = saved;
    regs.orig_rax = ~0ull;      /* no system call of memd's to restart */
    regs.rax = nr;
    regs.rdi = arg[0];
    regs.rsi = arg[1];
    regs.rdx = arg[2];
    regs.r10 = arg[3];
    regs.r8 = arg[4];
    regs.r9 = arg[5];
    regs.rip = r->im->syscall_at;
    bool ok = ptrace(PTRACE_SETREGS, r->pid, NULL, &regs) == 0 &&
              ptrace(PTRACE_SINGLESTEP, r->pid, NULL, NULL) == 0;
    int st = 0;
    pid_t w = -1;
    while (ok && (w = waitpid(r->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    ok = ok && w == r->pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP &&
         ptrace(PTRACE_GETREGS, r->pid, NULL, &regs) == 0 &&
         regs.rip == r->im->syscall_at + 2u;
    if (ok)
        *ret = (int64_t)regs.rax;
    return ptrace(PTRACE_SETREGS, r->pid, NULL, &saved) == 0 && ok;
}

static bool host_mmap(struct run *r, uint64_t addr, uint64_t len, uint64_t prot,
                      int64_t *ret)
{
    const uint64_t arg[6] = { addr, len, prot,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                              ~0ull, 0 };
    return host_call(r, SYS_mmap, arg, ret);
}

static bool host_munmap(struct run *r, uint64_t addr, uint64_t len, int64_t *ret)
{
    const uint64_t arg[6] = { addr, len, 0, 0, 0, 0 };
    return host_call(r, SYS_munmap, arg, ret);
}

struct mapping { uint64_t lo, hi; bool write; char name[64]; };

/* memd's mappings, from /proc/PID/maps; the count, or 0 if unreadable. */
static uint32_t read_maps(const struct run *r, struct mapping *m, uint32_t max)
{
    char path[64], line[512];
    (void)snprintf(path, sizeof path, "/proc/%d/maps", (int)r->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    uint32_t n = 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        if (strchr(line, '\n') == NULL) {     /* a long name: the rest of it goes */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        }
        char *p = line, *end;
        struct mapping *e = &m[n];
        e->lo = strtoull(p, &end, 16);
        if (end == p || *end != '-')
            continue;
        p = end + 1;
        e->hi = strtoull(p, &end, 16);
        if (end == p || *end != ' ' || strlen(end) < 5)
            continue;
        e->write = end[2] == 'w';
        /* perms, offset, device, inode; then the name, if any */
        p = end;
        for (int field = 0; field < 4 && p != NULL; field++)
            p = strchr(p + 1, ' ');
        while (p != NULL && *p == ' ')
            p++;
        (void)snprintf(e->name, sizeof e->name, "%s", p != NULL ? p : "");
        e->name[strcspn(e->name, "\n")] = '\0';
        n++;
    }
    (void)fclose(f);
    return n;
}

static bool in_meta(const struct run *r, uint64_t a)
{
    return r->meta_mapped && a >= r->meta_base && a - r->meta_base < r->meta_size;
}

/* The pages of the image's segments (the stack reserve is one of them). */
static const struct seg *in_segment(const struct image *im, uint64_t a)
{
    for (uint32_t i = 0; i < im->nseg; i++)
        if (a >= (im->seg[i].lo & ~(PAGE - 1u)) && a < ((im->seg[i].hi + PAGE - 1u) & ~(PAGE - 1u)))
            return &im->seg[i];
    return NULL;
}

/* Why the model will not map the region the envelope names, or NULL:
   rootd maps a region only where the book lets it. */
static const char *meta_unmappable(const struct run *r)
{
    uint64_t base = r->meta_base, size = r->meta_size;
    if (size == 0)
        return "it is empty";
    if (((base | size) & (PAGE - 1u)) != 0)
        return "it is not whole pages";
    if (base < PAGE || base > MEMD_USER_TOP || size > MEMD_USER_TOP - base)
        return "it does not lie in the user half above page 0";
    if (base < r->im->stack_high && r->im->image_low < base + size)
        return "it overlaps memd's image or its stack";
    return NULL;
}

/* "12 KiB", "2 GiB 4 KiB": a size as a person reads it. */
static const char *size_words(uint64_t n)
{
    static const char *const unit[] = { "TiB", "GiB", "MiB", "KiB", "bytes" };
    char *b = ring_buf();
    size_t k = 0;
    b[0] = '\0';
    for (unsigned i = 0; i < ARRAY_LEN(unit); i++) {
        unsigned shift = 40u - 10u * i;
        uint64_t part = i == 0 ? n >> shift : (n >> shift) & 1023u;
        if (part != 0)
            appendf(b, 96, &k, "%s%" PRIu64 " %s", k != 0 ? " " : "", part, unit[i]);
    }
    if (k == 0)
        appendf(b, 96, &k, "0 bytes");
    return b;
}

/* Where the metadata region is, as the envelope will say: the model's
   choice (1 TiB, the size the RAM frames need), or the scenario's. */
static void choose_metadata(struct run *r)
{
    const struct scenario *s = r->s;
    uint64_t need = MEMD_META_BYTES(r->ram_frames);
    r->meta_base = s->meta_none ? 0 : or_default(s->meta_base, META_DEFAULT_BASE);
    r->meta_size = s->meta_none ? 0 : or_default(s->meta_size, need);
    r->meta_mapped = !s->meta_none && meta_unmappable(r) == NULL;
}

static void trace_metadata(struct run *r)
{
    uint64_t need = MEMD_META_BYTES(r->ram_frames);
    char needs[128] = "";
    if (r->meta_size != need)
        (void)snprintf(needs, sizeof needs, ", which need %s", size_words(need));
    if (r->s->meta_none)
        tracef(r, "boot: no metadata region: meta_base and meta_size are 0 (%" PRIu64
                  " RAM frames need %s)", r->ram_frames, size_words(need));
    else if (r->meta_mapped)
        tracef(r, "boot: metadata region %#" PRIx64 "..%#" PRIx64 " (%s) for %" PRIu64
                  " RAM frames%s", r->meta_base, r->meta_base + r->meta_size - 1u,
               size_words(r->meta_size), r->ram_frames, needs);
    else
        tracef(r, "boot: metadata region at %#" PRIx64 ", %#" PRIx64 " bytes, for %" PRIu64
                  " RAM frames%s: not mapped, since %s", r->meta_base, r->meta_size,
               r->ram_frames, needs, meta_unmappable(r));
}

/* Fills [from, to) of memd's memory with the pattern. */
static bool fill_range(struct run *r, uint64_t from, uint64_t to)
{
    static uint8_t pattern[64u << 10];
    memset(pattern, META_PATTERN, sizeof pattern);
    for (uint64_t a = from; a < to; a += sizeof pattern)
        if (!poke(r, a, pattern, to - a < sizeof pattern ? to - a : sizeof pattern))
            return false;
    return true;
}

/* Fills the region's first and last pages with a pattern, not zeros: a
   record memd reads before it wrote it is garbage, as on a machine. */
static bool fill_metadata(struct run *r)
{
    uint64_t end = r->meta_base + r->meta_size;
    uint64_t head_end = r->meta_size > META_FILL_HEAD ? r->meta_base + META_FILL_HEAD : end;
    uint64_t tail = r->meta_size > META_FILL_TAIL ? end - META_FILL_TAIL : r->meta_base;
    return fill_range(r, r->meta_base, head_end) &&
           fill_range(r, tail > head_end ? tail : head_end, end);
}

/* Shapes memd's address space before entry; false, with the failure
   reported, if it cannot be what the book says. */
static bool prepare_space(struct run *r)
{
    const struct image *im = r->im;
    static struct mapping m[MAX_MAPS];
    uint32_t n = read_maps(r, m, MAX_MAPS);
    int64_t ret = 0;
    if (n == 0) {
        failf(r, "cannot read memd's mappings from /proc/%d/maps", (int)r->pid);
        return false;
    }
    /* The guard page: nothing mapped in the page below the reserve. */
    uint64_t guard = im->stack_low - PAGE;
    for (uint32_t i = 0; i < n; i++) {
        if (m[i].lo < im->stack_low && guard < m[i].hi) {
            failf(r, "the image has no guard page below its stack reserve: %#" PRIx64 "..%#"
                     PRIx64 " is mapped (%#" PRIx64 "..%#" PRIx64 "%s%s)", guard,
                  im->stack_low - 1u, m[i].lo, m[i].hi - 1u, m[i].name[0] != '\0' ? ", " : "",
                  m[i].name);
            return false;
        }
    }
    /* Linux's stack, which EriX does not give memd. */
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "[stack]") != 0)
            continue;
        if (!host_munmap(r, m[i].lo, m[i].hi - m[i].lo, &ret) || ret != 0) {
            failf(r, "cannot unmap Linux's stack from memd's process: %s",
                  ret < 0 ? strerror((int)-ret) : "ptrace failed");
            return false;
        }
    }
    /* The metadata region, as rootd maps it: read and write, not execute. */
    if (r->meta_mapped) {
        if (!host_mmap(r, r->meta_base, r->meta_size, PROT_READ | PROT_WRITE, &ret) ||
            (uint64_t)ret != r->meta_base) {
            failf(r, "cannot map the metadata region at %#" PRIx64 ", %#" PRIx64 " bytes: %s",
                  r->meta_base, r->meta_size,
                  ret < 0 ? strerror((int)-ret) : "the host put it elsewhere");
            return false;
        }
        if (!fill_metadata(r)) {
            failf(r, "cannot fill the metadata region at %#" PRIx64, r->meta_base);
            return false;
        }
    }
    /* Now nothing is writable but the image's segments and the region. */
    n = read_maps(r, m, MAX_MAPS);
    for (uint32_t i = 0; i < n; i++) {
        const struct seg *sg = in_segment(im, m[i].lo);
        bool planned = (sg != NULL && in_segment(im, m[i].hi - 1u) == sg) ||
                       (in_meta(r, m[i].lo) && in_meta(r, m[i].hi - 1u));
        if (m[i].write && !planned) {
            failf(r, "memd's process has writable memory the model did not give it: %#" PRIx64
                     "..%#" PRIx64 " %s", m[i].lo, m[i].hi - 1u, m[i].name);
            return false;
        }
    }
    return true;
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
    (void)snprintf(out, n, "?");
    (void)snprintf(cmd, sizeof cmd, "addr2line -e '%s' %#" PRIx64 " 2>/dev/null",
             r->im->path, addr);
    /* addr2line, a fixed program, on the image path the model was given */
    FILE *p = popen(cmd, "r");  // NOLINT(cert-env33-c)
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

/* The kernel's answer to a call carried out by tests/kernel.c: a refusal
   memd should have foreseen is traced and fails the run (refuse). */
static uint32_t carried_out(struct run *r, struct call *c, uint32_t kerr)
{
    if (kerr != KERR_OK && r->k.why != NULL)
        return refuse(r, c, kerr, r->k.why);
    return kerr;
}

static uint32_t sys_query_local(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr, type, rights;
    (void)snprintf(c->desc, sizeof c->desc, "QUERY_LOCAL_CAP slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    kerr = carried_out(r, c, k_query(&r->k, slot, c->desc, &type, &rights));
    if (kerr == KERR_OK) {
        c->regs->rdx = type;
        c->regs->r8 = rights;
        /* A scenario's answer, all 64 bits of it: a kernel whose register
           holds more than the type or rights (memd compares them whole). */
        for (uint32_t i = 0; i < r->s->nslots; i++) {
            const struct scn_slot *sl = &r->s->slot[i];
            if (sl->slot != slot || (!sl->answer_type.set && !sl->answer_rights.set))
                continue;
            c->regs->rdx = or_default(sl->answer_type, type);
            c->regs->r8 = or_default(sl->answer_rights, rights);
            tracef(r, K "  (the answer's registers: rdx %#llx, r8 %#llx: what the scenario "
                        "makes the kernel say)", c->regs->rdx, c->regs->r8);
        }
    }
    return kerr;
}

static uint32_t sys_retype(struct run *r, struct call *c)
{
    uint64_t us = c->regs->rdi, type = c->regs->rsi, first = c->regs->rdx,
             count = c->regs->r10;
    uint32_t kerr;
    (void)snprintf(c->desc, sizeof c->desc,
             "UNTYPED_RETYPE untyped %" PRIu64 " → %" PRIu64 " %s%s into slots %" PRIu64
             "..%" PRIu64, us, count, WORD(type_names, type), count == 1 ? "" : "s",
             first, first + count - 1);
    if (injected(r, c, &kerr))
        return kerr;
    return carried_out(r, c, k_retype(&r->k, us, type, first, count, c->desc));
}

static uint32_t sys_revoke(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    (void)snprintf(c->desc, sizeof c->desc, "CAP_REVOKE slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    return carried_out(r, c, k_revoke(&r->k, slot, c->desc));
}

static uint32_t sys_delete(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    (void)snprintf(c->desc, sizeof c->desc, "CAP_DELETE slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    return carried_out(r, c, k_delete(&r->k, slot, c->desc));
}

static uint32_t sys_clear(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi;
    uint32_t kerr;
    (void)snprintf(c->desc, sizeof c->desc, "FRAME_CLEAR slot %" PRIu64, slot);
    if (injected(r, c, &kerr))
        return kerr;
    return carried_out(r, c, k_clear(&r->k, slot, c->desc));
}

/* --- messages from the script ------------------------------------------ */

static uint32_t layout_length(uint32_t op, const uint8_t *m, uint32_t len)
{
    switch (op) {
    case MEMD_OP_ALLOC:
        return SIZE(memd_alloc_request);
    case MEMD_OP_RECLAIM:
        return SIZE(memd_reclaim_request);
    case MEMD_OP_STATS:
        return SIZE(memd_msg_header);
    case MEMD_OP_FREE:
        return len >= OFF(memd_free_request, count) + 4u
             ? SIZE(memd_free_request) + 4u * get32(m + OFF(memd_free_request, count))
             : SIZE(memd_free_request);
    default:
        return 0;
    }
}

/* A message as a person reads it, decoded from its bytes. */
static void render_request(const uint8_t *m, uint32_t len, char *out, size_t n)
{
    size_t k = 0;
#define OUT(...) appendf(out, n, &k, __VA_ARGS__)
    if (len < sizeof(struct memd_msg_header)) {
        OUT("a short message, %" PRIu32 " bytes:", len);
        for (uint32_t i = 0; i < len; i++)
            OUT(" %02x", m[i]);
        return;
    }
    uint32_t op = get16(m + OFF(memd_msg_header, op)),
             version = get16(m + OFF(memd_msg_header, version)),
             reserved = get32(m + OFF(memd_msg_header, reserved));
    const char *name = NAME_OF(op_names, op);
    if (name != NULL)
        OUT("%s", name);
    else
        OUT("unknown op %#" PRIx32, op);
    if (op == MEMD_OP_ALLOC && len >= OFF(memd_alloc_request, count) + 4u)
        OUT(" count=%" PRIu32, get32(m + OFF(memd_alloc_request, count)));
    if (op == MEMD_OP_RECLAIM && len >= OFF(memd_reclaim_request, badge) + 4u)
        OUT(" badge=%" PRIu32, get32(m + OFF(memd_reclaim_request, badge)));
    if (op == MEMD_OP_FREE && len >= OFF(memd_free_request, count) + 4u) {
        const uint32_t list = SIZE(memd_free_request), shown = 16u;
        OUT(" count=%" PRIu32 " frames", get32(m + OFF(memd_free_request, count)));
        for (uint32_t i = list; i + 4 <= len && i < list + 4 * shown; i += 4)
            OUT(" %" PRIu32, get32(m + i));
        if (len > list + 4 * shown)
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
        put32(m + OFF(memd_alloc_request, count), st->args[0]);
        n = SIZE(memd_alloc_request);
        break;
    case MSG_RECLAIM:
        op = MEMD_OP_RECLAIM;
        put32(m + OFF(memd_reclaim_request, badge), st->args[0]);
        n = SIZE(memd_reclaim_request);
        break;
    case MSG_STATS:
        op = MEMD_OP_STATS;
        n = SIZE(memd_msg_header);
        break;
    case MSG_FREE: {
        op = MEMD_OP_FREE;
        const uint32_t *list = st->args;
        uint32_t count = st->nargs;
        const struct k_holder *v = k_holder(&r->k, st->badge);
        if (st->free_held) {
            if (v == NULL) {
                failf(r, "line %u: the model follows no frames of badge %" PRIu64,
                      st->line, st->badge);
                return false;
            }
            list = v->frames;
            count = v->n;
        }
        if (SIZE(memd_free_request) + 4u * (uint64_t)count > IPC_MSG_BUFFER_BYTES) {
            failf(r, "line %u: %" PRIu32 " frames do not fit one message", st->line, count);
            return false;
        }
        put32(m + OFF(memd_free_request, count), count);
        for (uint32_t i = 0; i < count; i++)
            put32(m + SIZE(memd_free_request) + (size_t)4 * i, list[i]);
        n = SIZE(memd_free_request) + 4 * count;
        if (st->m_count.set)
            put32(m + OFF(memd_free_request, count), st->m_count.v);
        break;
    }
    case MSG_RAW:
        for (uint32_t i = 0; i < st->nargs; i++)
            m[i] = (uint8_t)st->args[i];
        n = st->nargs;
        break;
    }
    if (st->msg != MSG_RAW) {
        put16(m + OFF(memd_msg_header, op), st->m_op.set ? st->m_op.v : op);
        put16(m + OFF(memd_msg_header, version), or_default(st->m_version, MEMD_MSG_VERSION));
        put32(m + OFF(memd_msg_header, reserved), or_default(st->m_reserved, 0));
        if (st->msg == MSG_ALLOC && st->m_count.set)
            put32(m + OFF(memd_alloc_request, count), st->m_count.v);
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
        const struct k_holder *v = k_holder(&r->k, st->c_arg);
        got = v != NULL ? v->n : 0;
        (void)snprintf(what, sizeof what, "%s holds %" PRIu64 " frames (by memd's replies)",
                 k_who(st->c_arg), st->c_want);
        break;
    }
    case CHECK_COPIES:
        got = k_live_copies(&r->k, st->c_arg);
        (void)snprintf(what, sizeof what, "%s holds %" PRIu64 " live frame copies (by the kernel)",
                 k_who(st->c_arg), st->c_want);
        break;
    case CHECK_CALLS:
        got = st->c_arg < ARRAY_LEN(r->calls) ? r->calls[st->c_arg] : 0;
        (void)snprintf(what, sizeof what, "memd made %" PRIu64 " %s calls so far", st->c_want,
                 WORD(sys_names, st->c_arg));
        break;
    case CHECK_UNTYPED_USED: {
        uint32_t u;
        for (u = 0; u < r->k.nuntyped && r->k.untyped[u].slot != st->c_arg; u++)
            ;
        got = u < r->k.nuntyped ? r->k.untyped[u].watermark >> MEMD_FRAME_BITS : 0;
        (void)snprintf(what, sizeof what, "untyped slot %" PRIu64 " has %" PRIu64
                 " frames retyped", st->c_arg, st->c_want);
        break;
    }
    case CHECK_FRAMES_MADE:
        got = r->k.frames_made;
        (void)snprintf(what, sizeof what, "memd has retyped %" PRIu64 " frames in all", st->c_want);
        break;
    case CHECK_FRAME_IN_UNTYPED:
    case CHECK_FRAME_AT: {
        /* The frame the client holds under that number: which untyped the
           kernel made it from, or where it lies (by the kernel's record,
           not memd's word). */
        bool at = st->check == CHECK_FRAME_AT;
        const struct k_holder *v = k_holder(&r->k, st->c_arg);
        uint32_t i = 0;
        while (v != NULL && i < v->n && v->frames[i] != st->c_arg2)
            i++;
        if (at)
            (void)snprintf(what, sizeof what, "%s holds frame %" PRIu64 ", at phys %#" PRIx64,
                           k_who(st->c_arg), st->c_arg2, st->c_want);
        else
            (void)snprintf(what, sizeof what, "%s holds frame %" PRIu64
                           ", made from the untyped in slot %" PRIu64, k_who(st->c_arg),
                           st->c_arg2, st->c_want);
        if (v == NULL || i == v->n) {
            failf(r, "line %u: check %s: no, it holds no frame %" PRIu64, st->line, what,
                  st->c_arg2);
            return;
        }
        const struct k_frame *fr = &r->k.frames[v->objs[i]];
        uint64_t slot = fr->untyped < r->k.nuntyped ? r->k.untyped[fr->untyped].slot : UINT64_MAX;
        got = at ? fr->phys : slot;
        size_t k = strlen(what);
        if (at)
            (void)snprintf(what + k, sizeof what - k, " (of the untyped in slot %" PRIu64 ")",
                           slot);
        else
            (void)snprintf(what + k, sizeof what - k, " (phys %#" PRIx64 ")", fr->phys);
        break;
    }
    }
    if (got == st->c_want)
        tracef(r, "  check            %s: yes", what);
    else if (st->check == CHECK_FRAME_AT)
        failf(r, "line %u: check %s: no, %#" PRIx64, st->line, what, got);
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
            struct k_holder *v = k_holder(&r->k, st->badge);
            if (v == NULL || !v->departed)
                failf(r, "line %u: %s returns, but it never departed", st->line,
                      k_who(st->badge));
            else
                v->departed = false;
            tracef(r, "%s returns, under the same badge", k_who(st->badge));
        } else {
            struct k_holder *v = k_holder(&r->k, st->badge);
            uint32_t copies = k_live_copies(&r->k, st->badge);
            if (v != NULL)
                v->departed = true;
            tracef(r, "%s departs; its %" PRIu32 " frame copies stay until memd revokes them",
                   k_who(st->badge), copies);
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
    (void)snprintf(q->what, sizeof q->what, "%s", r->req_what);
    q->calls = r->req_calls;
}

static uint32_t sys_recv(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi, buf = c->regs->rsi, capacity = c->regs->rdx;
    (void)snprintf(c->desc, sizeof c->desc, "RECV slot %" PRIu64, slot);
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    const struct k_cap *cp = k_slot(&r->k, slot);
    if (cp->type != CAP_TYPE_ENDPOINT)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no endpoint");
    if ((cp->rights & CAP_RIGHT_READ) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the endpoint capability lacks READ");
    if (cp->obj != K_EP_MEM) {
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
              k_who(r->pending->badge), r->pending->line);
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
    const struct k_holder *v = k_holder(&r->k, st->badge);
    if (v != NULL && v->departed)
        failf(r, "line %u: %s departed and cannot send", st->line, k_who(st->badge));
    if (!build_message(r, st, r->sent, &r->sent_len)) {
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
    }
    r->sent_op = r->sent_len >= OFF(memd_msg_header, op) + 2u
               ? get16(r->sent + OFF(memd_msg_header, op)) : UINT32_MAX;
    k_request(&r->k, st->badge, r->sent, r->sent_len);
    uint32_t copy = r->sent_len < capacity ? r->sent_len : (uint32_t)capacity;
    if (!user_write(r, "the receive buffer", buf, r->sent, copy, capacity))
        return KERR_INVALID_ARGUMENT;
    char text[512];
    render_request(r->sent, r->sent_len, text, sizeof text);
    r->messages++;
    tracef(r, "request %" PRIu32 " (line %u): %s → memd  %s", r->messages, st->line,
           k_who(st->badge), text);
    r->pending = st;
    r->pending_rights = cp->rights;
    r->req_calls = 1;       /* this RECV */
    c->regs->rdx = r->sent_len;
    c->regs->r8 = st->badge;
    return KERR_OK;
}

/* --- memd's replies: delivered here, decoded and checked by kmodel-reply.c */

static uint32_t sys_reply(struct run *r, struct call *c)
{
    uint64_t msg = c->regs->rdi, len = c->regs->rsi, capsp = c->regs->rdx,
             ncaps = c->regs->r10;
    (void)snprintf(c->desc, sizeof c->desc, "REPLY %" PRIu64 " bytes, %" PRIu64 " caps", len, ncaps);
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
    uint32_t kerr = k_transfer_ok(&r->k, caps, (uint32_t)ncaps, r->pending_rights);
    if (kerr != KERR_OK)
        return refuse(r, c, kerr, r->k.why);
    const struct step *st = r->pending;
    uint64_t to = st->badge;
    if (injected(r, c, &kerr)) {
        /* The kernel fails the reply: the client receives nothing, neither
           the bytes nor a capability. */
        tracef(r, "  memd → %-9s (nothing arrives)", k_who(to));
        k_reply_lost(&r->k);
        if (!st->ex.lost)
            failf(r, "line %u: the reply is lost, but the scenario expects one", st->line);
        (void)snprintf(r->req_what, sizeof r->req_what, "lost");
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
    const struct reply_check ck = { r->sent_op, r->sent_len, st->line, kernel_finds, r };
    bool shaped = decode_reply(&ck, m, (uint32_t)len, (uint32_t)ncaps, &d, text, sizeof text);
    for (uint64_t i = 0; i < ncaps && k < sizeof where; i++)
        k += (size_t)snprintf(where + k, sizeof where - k, "%s%" PRIu32 "=%#" PRIx64,
                              i == 0 ? "" : " ", caps[i], r->k.frames[k_slot(&r->k, caps[i])->obj].phys);
    if (ncaps != 0)
        tracef(r, "  memd → %-9s %s; caps in slots %s", k_who(to), text, where);
    else
        tracef(r, "  memd → %-9s %s", k_who(to), text);
    k_transfer(&r->k, to, caps, (uint32_t)ncaps);
    if (shaped)
        check_expect(&ck, &st->ex, &d, caps, (uint32_t)ncaps);
    /* What the client now believes it holds. */
    k_replied(&r->k, m, (uint32_t)len, caps, (uint32_t)ncaps);
    const struct kv *res = find_kv(d.kv, d.nkv, "result");
    const struct kv *op = find_kv(d.kv, d.nkv, "op");
    /* What the request did, for the count of kernel calls per request: the
       cost of a free or a reclaim grows with its frames, so they are told
       apart by how many; every refusal costs the same. */
    const struct kv *cnt = find_kv(d.kv, d.nkv, "freed");
    const struct kv *rec = find_kv(d.kv, d.nkv, "reclaimed");
    if (!shaped || res == NULL || op == NULL || res->value != MEMD_OK)
        (void)snprintf(r->req_what, sizeof r->req_what, "refused");
    else if (cnt != NULL)
        (void)snprintf(r->req_what, sizeof r->req_what, "FREE of %" PRIu64, cnt->value);
    else if (rec != NULL)
        (void)snprintf(r->req_what, sizeof r->req_what, "RECLAIM of %" PRIu64, rec->value);
    else
        (void)snprintf(r->req_what, sizeof r->req_what, "%s", WORD(op_names, op->value));
    r->pending = NULL;
    r->open_req = true;     /* its turn goes on until the next receive */
    return KERR_OK;
}

/* --- the ready report, and halting ------------------------------------- */

static uint32_t sys_call(struct run *r, struct call *c)
{
    uint64_t slot = c->regs->rdi, msg = c->regs->rsi, len = c->regs->rdx;
    (void)snprintf(c->desc, sizeof c->desc, "CALL slot %" PRIu64 ", %" PRIu64 " bytes", slot, len);
    if (slot >= MEMD_CSPACE_SLOTS)
        return refuse(r, c, KERR_RANGE, "no such slot");
    const struct k_cap *cp = k_slot(&r->k, slot);
    if (cp->type != CAP_TYPE_ENDPOINT)
        return refuse(r, c, KERR_INVALID_CAP, "the slot holds no endpoint");
    if ((cp->rights & CAP_RIGHT_WRITE) == 0u)
        return refuse(r, c, KERR_ILLEGAL_OPERATION, "the endpoint capability lacks WRITE");
    if (cp->obj != K_EP_READY) {
        failf(r, "memd calls slot %" PRIu64 ", which is not rootd's ready endpoint", slot);
        r->fatal = true;
        return KERR_INVALID_CAP;
    }
    if (r->s->startup_unreported) {
        failf(r, "memd reports to rootd; the scenario expects it to halt with %s without a report",
              status_word((uint32_t)r->s->startup_status));
        r->fatal = true;
        return KERR_INVALID_ARGUMENT;
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
            !r->k.queried[sl - MEMD_TRANSFER_SLOT_FIRST])
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
    if (!r->reported && r->s->startup_unreported) {
        if (status != r->s->startup_status)
            failf(r, "memd halts with %s without a report; the scenario expects %s",
                  status_word((uint32_t)status), status_word((uint32_t)r->s->startup_status));
        return;
    }
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
            (void)snprintf(real, sizeof real, "%s %s", WORD(type_names, sl->real_type),
                     rights_word((uint32_t)sl->real_rights));
            if (sl->real_type == CAP_TYPE_UNTYPED) {
                for (uint32_t k = 0; k < s->nuntyped; k++) {
                    const struct scn_untyped *u = &s->untyped[k];
                    if (u->slot == sl->slot) {
                        size_t n = strlen(real);
                        (void)snprintf(real + n, sizeof real - n, ", 2^%" PRIu64 " bytes at %#" PRIx64
                                 "%s", u->real_bits, u->base,
                                 (u->flags & MEMD_UNTYPED_DEVICE) != 0 ? " (device)" : "");
                    }
                }
            }
        } else {
            (void)snprintf(real, sizeof real, "empty");
        }
        if (!sl->listed) {
            tracef(r, "boot: slot %" PRIu32 " holds %s; the envelope does not name it",
                   sl->slot, real);
            continue;
        }
        (void)snprintf(said, sizeof said, "%s %s", WORD(type_names, sl->type),
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
               k_who(s->client[i].badge), s->client[i].frames, s->client[i].slots);
    tracef(r, "boot: runtime window slots %" PRIu32 "..%" PRIu64 "; %" PRIu64
              " RAM frames described", r->k.window_base,
           (uint64_t)r->k.window_base + r->k.window_count - 1, r->ram_frames);
    trace_metadata(r);
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
    choose_metadata(r);
    uint32_t total = build_frame(r, frame, sizeof frame);
    uint64_t top = im->stack_high, low = im->stack_low;
    uint64_t at = (top - (((uint64_t)total + 15u) & ~(uint64_t)15u));
    if (s->f_at_set)
        at = s->f_at_top ? top - s->f_at : s->f_at;
    bool inside = at >= low && at < top;
    uint64_t rsp = (inside ? at : top - 64u) & ~(uint64_t)15u;
    trace_boot(r, at, total, rsp);
    if (!prepare_space(r)) {
        r->fatal = true;
        return;
    }
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

/* What the instruction at rip does with memory, read from its bytes, for
   a fault the model cannot test (below): 'w' for the common stores, 'r'
   for the common loads, 0 when it cannot tell. */
static char access_of(const uint8_t *c, size_t n)
{
    size_t i = 0;
    while (i < n && (c[i] == 0x66u || c[i] == 0x67u || c[i] == 0xF2u || c[i] == 0xF3u ||
                     c[i] == 0x64u || c[i] == 0x65u))
        i++;                                   /* prefixes */
    if (i < n && (c[i] & 0xF0u) == 0x40u)
        i++;                                   /* REX */
    if (i >= n)
        return 0;
    switch (c[i]) {
    case 0x88: case 0x89: case 0xC6: case 0xC7: case 0xAA: case 0xAB:
        return 'w';                            /* mov to memory, stos */
    case 0x8A: case 0x8B: case 0xAC: case 0xAD:
        return 'r';                            /* mov from memory, lods */
    case 0x0F:
        return i + 1 < n && (c[i + 1] == 0xB6u || c[i + 1] == 0xB7u || c[i + 1] == 0xBEu ||
                             c[i + 1] == 0xBFu) ? 'r' : 0;   /* movzx, movsx */
    default:
        return 0;
    }
}

/* Was the access that faulted at address a a read or a write?  The model
   maps the page there read-only and has memd take the instruction once
   more: if it now goes through, it read; if it faults on that page again,
   it wrote.  Then the page goes and the registers are as they were, for
   gdb to see the fault where it happened.  Where nothing can be mapped
   (page 0, say), the instruction's bytes tell, for the common forms.
   Returns "wrote", "read", "ran code" or "read or wrote". */
static const char *fault_access(struct run *r, const struct user_regs_struct *at, uint64_t a)
{
    if (a >= at->rip && a - at->rip < 16u)
        return "ran code";
    uint64_t page = a & ~(PAGE - 1u);
    int64_t ret = 0;
    const char *how = NULL;
    if (host_mmap(r, page, PAGE, PROT_READ, &ret) && (uint64_t)ret == page) {
        int st = 0;
        pid_t w = -1;
        if (ptrace(PTRACE_SINGLESTEP, r->pid, NULL, NULL) == 0)
            while ((w = waitpid(r->pid, &st, 0)) < 0 && errno == EINTR)
                ;
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (w == r->pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP)
            how = "read";
        else if (w == r->pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSEGV &&
                 ptrace(PTRACE_GETSIGINFO, r->pid, NULL, &si) == 0 &&
                 ((uintptr_t)si.si_addr & ~(PAGE - 1u)) == page)
            how = "wrote";
        (void)ptrace(PTRACE_SETREGS, r->pid, NULL, at);
        (void)host_munmap(r, page, PAGE, &ret);
    }
    uint8_t code[16];
    if (how == NULL && peek(r, at->rip, code, sizeof code)) {
        char c = access_of(code, sizeof code);
        how = c == 'w' ? "wrote" : c == 'r' ? "read" : NULL;
    }
    return how != NULL ? how : "read or wrote";
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
    r->fatal = true;
    const struct image *im = r->im;
    uint64_t a = (uintptr_t)si.si_addr;
    const struct seg *sg = in_segment(im, a);
    /* A page fault (not a general-protection fault, which has no address):
       said plainly, by where it was. */
    if (sig == SIGSEGV && si.si_code != SI_KERNEL) {
        if (a < im->stack_low && im->stack_low - a <= PAGE) {
            failf(r, "memd ran its stack into the guard page below memd_stack_low: address %#"
                     PRIx64 ", at %s (signal %d, %s, rip %#llx)", a, where, sig,
                  strsignal(sig), regs.rip);
            return;
        }
        if (sg == NULL && !in_meta(r, a)) {
            failf(r, "memd %s outside its image, its stack and its metadata region: address %#"
                     PRIx64 ", at %s (signal %d, %s, rip %#llx)", fault_access(r, &regs, a), a,
                  where, sig, strsignal(sig), regs.rip);
            return;
        }
        /* A segment the image may read: only a write, or running code
           that is not code, faults there. */
        if (sg != NULL && (sg->flags & PF_W) == 0u && (a < regs.rip || a - regs.rip >= 16u)) {
            failf(r, "memd wrote to read-only memory of its image: address %#" PRIx64
                     ", at %s (signal %d, %s, rip %#llx)", a, where, sig, strsignal(sig), regs.rip);
            return;
        }
    }
    failf(r, "memd takes signal %d (%s) at rip %#llx (%s), fault address %#" PRIx64, sig,
          strsignal(sig), regs.rip, where, a);
}

static void summarise(struct run *r)
{
    /* Kernel calls per request, by what the request did, each distinct
       count with how many requests made it: the most frequent is the
       steady state; the others are requests whose turn also refilled the
       pool. */
    char line[2048];
    size_t k = 0;
#define OUT(...) appendf(line, sizeof line, &k, __VA_ARGS__)
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
        (void)snprintf(line + k, sizeof line - k, ")");
    tracef(r, "%s", line);
}

static void judge(struct run *r)
{
    const struct scenario *s = r->s;
    if (r->fatal)
        return;
    if (s->startup_unreported) {
        if (!r->halted)
            failf(r, "memd did not halt; the scenario expects it to halt with %s without a report",
                  status_word((uint32_t)s->startup_status));
        else if (r->messages != 0)
            failf(r, "memd served %" PRIu32 " requests without reporting its startup",
                  r->messages);
        else
            tracef(r, "nothing served: memd halted without reporting, as the scenario expects");
        return;
    }
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
    (void)fflush(r->trace);
    if (r->trace_len > trace_shown)
        (void)fwrite(r->trace_buf + trace_shown, 1, r->trace_len - trace_shown, stderr);
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
        (void)fprintf(stderr, "kmodel: open_memstream: %s\n", strerror(errno));
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
    (void)fclose(r->trace);
    k_release(&r->k);
    free(r->req);
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
        (void)fprintf(stderr, "usage: kmodel [-q] IMAGE SCENARIO\n       kmodel --gdb IMAGE SCENARIO\n"
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
        (void)fwrite(r1.trace_buf, 1, r1.trace_len, stdout);
    else if (!debugged)
        for (char *l = r1.trace_buf; l != NULL && *l != '\0';) {
            char *nl = strchr(l, '\n');
            size_t n = nl != NULL ? (size_t)(nl - l + 1) : strlen(l);
            if (strncmp(l, "kernel calls", 12) == 0 || strncmp(l, "   !!", 5) == 0)
                (void)fwrite(l, 1, n, stdout);
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
            (r1.trace_len != 0 && r1.trace_buf != NULL && r2.trace_buf != NULL &&
             memcmp(r1.trace_buf, r2.trace_buf, r1.trace_len) != 0)) {
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
            (void)snprintf(twice_note, sizeof twice_note, "; booted twice, identical traces");
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
