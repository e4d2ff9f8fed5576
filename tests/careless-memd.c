/* tests/careless-memd.c: a deliberately careless memd, to test the tester.
 *
 * The kernel model (tests/kmodel.c) claims to catch memd's mistakes rather
 * than echo them.  This image proves it: it is built like the real image
 * (freestanding, linked by linker.ld, entered at _start, talking through
 * `syscall`), serves allocations and frees crudely, and makes exactly one
 * mistake, chosen by the envelope's `flags` word.  Each scenario in
 * tests/selftest/ sets one mistake and names the failure the model must
 * report; mistake 0 makes none, and the model must let it pass.
 *
 * It is not memd and checks nothing: it trusts the envelope, serves any
 * badge, and knows one untyped region.  It does use the metadata region
 * the envelope names, as memd does: it writes its first and last bytes and
 * reads them back, so that the case with no mistake shows the model
 * gives it the whole region, writable.  It is never installed anywhere.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "memd-abi.h"

enum mistake {
    CARELESS_NONE = 0,
    CARELESS_UNKNOWN_SYSCALL = 1,  /* a system call the ABI does not have */
    CARELESS_QUERY_CAP = 2,        /* the host scaffolding's query */
    CARELESS_UNNAMED_SLOT = 3,     /* asks about a slot nobody named */
    CARELESS_SKIP_QUERY = 4,       /* reports ready without asking the kernel */
    CARELESS_BAD_BUFFER = 5,       /* receives into read-only memory */
    CARELESS_OCCUPIED = 6,         /* retypes into slots already full */
    CARELESS_NO_CLEAR = 7,         /* reuses a freed frame without clearing it */
    CARELESS_NO_REVOKE = 8,        /* reuses a freed frame the client still holds */
    CARELESS_TWICE = 9,            /* hands one frame to two clients */
    CARELESS_FAULT = 10,           /* dereferences a null pointer */
    CARELESS_HALT_OTHER = 11,      /* refuses, then halts with another status */
    CARELESS_SERVE_REFUSED = 12,   /* refuses, then serves anyway */
    CARELESS_SHORT_REPLY = 13,     /* an ALLOC reply shorter than its layout */
    CARELESS_OUTSIDE_WINDOW = 14,  /* retypes below its runtime window */
    CARELESS_WRONG_DETAIL = 15,    /* reports fewer frames than it manages */
    CARELESS_DELETE_HELD = 16,     /* deletes a frame a client still holds */
    CARELESS_REVOKE_OTHER = 17,    /* on a free, also takes the next frame back */
    CARELESS_META_OVERRUN = 18,    /* writes one byte past its metadata region */
    CARELESS_STACK_DIVE = 19,      /* recurses down into the guard page */
    CARELESS_META_UNDERREAD = 20,  /* reads the byte before its metadata region */
    CARELESS_WRITE_CODE = 21,      /* writes over its own code */
};

__attribute__((section(".stack_reserve"), aligned(4096), used))
static uint8_t careless_stack[64u * 1024u];

__asm__(".section .text.start, \"ax\", @progbits\n"
        ".globl _start\n"
        "_start:\n"
        "    xorl %ebp, %ebp\n"
        "    andq $-16, %rsp\n"
        "    call careless_entry\n"
        "1:  pause\n"
        "    jmp 1b\n"
        ".text\n");

struct sysret { uint64_t rax, rdx, r8; };

static struct sysret sys(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
                         uint64_t a3)
{
    register uint64_t rax __asm__("rax") = nr;
    register uint64_t rdi __asm__("rdi") = a0;
    register uint64_t rsi __asm__("rsi") = a1;
    register uint64_t rdx __asm__("rdx") = a2;
    register uint64_t r10 __asm__("r10") = a3;
    register uint64_t r8 __asm__("r8") = 0;
    __asm__ volatile("syscall"
                     : "+r"(rax), "+r"(rdx), "+r"(r8)
                     : "r"(rdi), "r"(rsi), "r"(r10)
                     : "rcx", "r11", "memory");
    struct sysret r = { rax, rdx, r8 };
    return r;
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (get16(p + 2) << 16);
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | ((uint64_t)get32(p + 4) << 32);
}

/* Each call takes a frame of some 540 bytes, written at its bottom, and
   writes again once the deeper call returns (so no compiler can make the
   recursion a loop): the stack runs down the reserve a few hundred bytes
   at a time, and the first write below it lands in the guard page. */
__attribute__((noinline)) static uint32_t careless_dive(uint32_t depth);

__attribute__((noinline)) static uint32_t careless_dive(uint32_t depth)
{
    volatile uint8_t pad[512];
    pad[0] = (uint8_t)depth;
    if (depth == 0)
        return pad[0];
    uint32_t deeper = careless_dive(depth - 1u);
    pad[1] = (uint8_t)deeper;
    return pad[1];
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

#define FRAMES 16u

static uint8_t msg[IPC_MSG_BUFFER_BYTES];
static uint8_t out[IPC_MSG_BUFFER_BYTES];
static uint32_t caps[MEMD_ALLOC_MAX];
static uint64_t owner[FRAMES];       /* badge holding each frame, 0: free */
static uint8_t report[16];

static void careless_report(uint32_t status, uint32_t detail)
{
    for (unsigned i = 0; i < sizeof report; i++)
        report[i] = 0;
    put16(report, MEMD_OP_READY);
    put16(report + 2, MEMD_MSG_VERSION);
    put16(report + 8, status);
    put32(report + 12, detail);
    (void)sys(SYS_CALL, SLOT_ROOTD_READY_ENDPOINT, (uint64_t)(uintptr_t)report,
              sizeof report, 0);
}

_Noreturn void careless_entry(const uint8_t *frame);

_Noreturn void careless_entry(const uint8_t *frame)
{
    const uint8_t *env = frame + sizeof(struct memd_startup_frame);
    uint32_t mistake = get32(env + offsetof(struct memd_env_header, flags));
    uint32_t window = get32(env + offsetof(struct memd_env_header, runtime_slot_base));
    uint32_t nslots = get16(env + offsetof(struct memd_env_header, slot_count));
    uint32_t nuntyped = get16(env + offsetof(struct memd_env_header, untyped_count));
    const uint8_t *slots = env + sizeof(struct memd_env_header);
    const uint8_t *untyped = slots + 16u * nslots;
    uint32_t untyped_slot = get32(untyped + offsetof(struct memd_env_untyped, slot));
    volatile uint8_t *meta =
        (volatile uint8_t *)(uintptr_t)get64(env + offsetof(struct memd_env_header, meta_base));
    uint64_t meta_size = get64(env + offsetof(struct memd_env_header, meta_size));
    uint32_t ram = 0;

    (void)careless_stack;
    if (mistake == CARELESS_UNKNOWN_SYSCALL)
        (void)sys(0x99, 0, 0, 0, 0);
    if (mistake == CARELESS_QUERY_CAP)
        (void)sys(SYS_QUERY_CAP, 2226, SLOT_KERNEL_MEM_ENDPOINT, 0, 0);
    if (mistake == CARELESS_UNNAMED_SLOT)
        (void)sys(SYS_QUERY_LOCAL_CAP, 2300, 0, 0, 0);
    for (uint32_t i = 0; i < nslots && mistake != CARELESS_SKIP_QUERY; i++)
        (void)sys(SYS_QUERY_LOCAL_CAP, get32(slots + 16u * i), 0, 0, 0);
    for (uint32_t i = 0; i < nuntyped; i++) {
        uint32_t bits = untyped[16u * i + offsetof(struct memd_env_untyped, size_bits)];
        ram += 1u << (bits - MEMD_FRAME_BITS);
    }
    if (mistake == CARELESS_HALT_OTHER || mistake == CARELESS_SERVE_REFUSED) {
        careless_report(MEMD_ST_ENV_RESERVED, 0);
        if (mistake == CARELESS_HALT_OTHER)
            (void)sys(SYS_HALT, MEMD_ST_ENV_MAGIC, 0, 0, 0);
    } else {
        careless_report(MEMD_STARTUP_OK, mistake == CARELESS_WRONG_DETAIL ? ram - 1u : ram);
    }
    /* Its records, in the region rootd mapped: the first byte and the last. */
    meta[0] = 0x5Au;
    meta[meta_size - 1u] = 0xA5u;
    if (meta[0] != 0x5Au || meta[meta_size - 1u] != 0xA5u)
        (void)sys(SYS_HALT, MEMD_ST_META_TOO_SMALL, 0, 0, 0);
    if (mistake == CARELESS_META_OVERRUN)
        meta[meta_size] = 1u;
    if (mistake == CARELESS_META_UNDERREAD && meta[-1] == 0u)
        ram = 0;
    if (mistake == CARELESS_WRITE_CODE)
        *(volatile uint8_t *)(uintptr_t)&careless_report = 0xC3u;
    if (mistake == CARELESS_STACK_DIVE)
        (void)careless_dive(1u << 20);
    if (mistake == CARELESS_OUTSIDE_WINDOW)
        window -= FRAMES;
    bool made = false;
    uint8_t *buf = mistake == CARELESS_BAD_BUFFER ? (uint8_t *)(uintptr_t)&careless_entry : msg;
    for (;;) {
        struct sysret r = sys(SYS_RECV, SLOT_KERNEL_MEM_ENDPOINT, (uint64_t)(uintptr_t)buf,
                              sizeof msg, 0);
        uint64_t badge = r.r8;
        uint32_t op = get16(msg), len = 24, ncaps = 0;
        if (mistake == CARELESS_FAULT)
            *(volatile uint8_t *)(uintptr_t)r.rax = 1;   /* rax is 0: a null write */
        for (unsigned i = 0; i < 24; i++)
            out[i] = 0;
        put16(out, op);
        put16(out + 2, MEMD_MSG_VERSION);
        if (op == MEMD_OP_ALLOC) {
            uint32_t count = get32(msg + 8);
            if (!made || mistake == CARELESS_OCCUPIED) {
                (void)sys(SYS_UNTYPED_RETYPE, untyped_slot, CAP_TYPE_FRAME, window, FRAMES);
                made = true;
            }
            for (uint32_t f = 0; f < FRAMES && ncaps < count && ncaps < MEMD_ALLOC_MAX; f++) {
                if (owner[f] != 0 && mistake != CARELESS_TWICE)
                    continue;
                owner[f] = badge;
                caps[ncaps] = window + f;
                put32(out + 16 + 4 * ncaps, f);
                ncaps++;
            }
            put32(out + 8, ncaps);
            len = mistake == CARELESS_SHORT_REPLY ? 12 : 16 + 4 * ncaps;
        } else if (op == MEMD_OP_FREE) {
            uint32_t count = get32(msg + 8);
            for (uint32_t i = 0; i < count && i < MEMD_FREE_MAX; i++) {
                uint32_t f = get32(msg + 16 + 4 * i) % FRAMES;
                if (mistake == CARELESS_DELETE_HELD)
                    (void)sys(SYS_CAP_DELETE, window + f, 0, 0, 0);
                else if (mistake != CARELESS_NO_REVOKE)
                    (void)sys(SYS_CAP_REVOKE, window + f, 0, 0, 0);
                if (mistake != CARELESS_NO_CLEAR)
                    (void)sys(SYS_FRAME_CLEAR, window + f, 0, 0, 0);
                owner[f] = 0;
                if (mistake == CARELESS_REVOKE_OTHER && f + 1 < FRAMES) {
                    /* the next frame, which another client may hold */
                    (void)sys(SYS_CAP_REVOKE, window + f + 1, 0, 0, 0);
                    (void)sys(SYS_FRAME_CLEAR, window + f + 1, 0, 0, 0);
                }
            }
            put32(out + 8, count);
            len = 16;
        } else {
            put16(out + 4, MEMD_INVALID_ARGUMENT);
            put16(out + 6, MEMD_FIELD_OP);
        }
        (void)sys(SYS_REPLY, (uint64_t)(uintptr_t)out, len, (uint64_t)(uintptr_t)caps, ncaps);
    }
}

/* What a freestanding compiler may call. */
void *memset(void *dst, int c, size_t n);
void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)c;
    return dst;
}
