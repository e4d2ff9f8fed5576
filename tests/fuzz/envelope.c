/* tests/fuzz/envelope.c: a libFuzzer target for memd's startup.
 *
 * The input is one control byte, then the bytes of a startup frame.  The
 * harness builds the world memd boots into from what the frame's tables
 * declare, read tolerantly (whatever fits), so that most inputs get past
 * the envelope's rules to the ready-state check; the control byte then
 * makes the real slots disagree with the declaration in one way, so that
 * the check against the kernel is fuzzed too.
 *
 * memd_startup runs on an exactly sized heap copy of the frame (so
 * AddressSanitizer sees any read past its end), and afterwards the
 * harness checks what must hold whatever the input:
 *   - memd asked the kernel nothing but QUERY (no retype, receive, reply,
 *     report or halt: startup decides, memd_main acts);
 *   - a refusal leaves *boot untouched, and its status is one of the
 *     ABI's codes;
 *   - an acceptance gives a configuration that keeps every promise the
 *     Startup chapter makes about it, the metadata region's among them
 *     (whole pages in the user half, clear of memd, large enough), and
 *     the regions in the order memd spends them, highest first.
 * Any breach aborts, which libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memd-host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz/envelope: %s:%d: %s\n", __FILE__,       \
                    __LINE__, #cond);                                     \
            abort();                                                      \
        }                                                                 \
    } while (0)

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

#define FIELD(base, type, field) \
    le((base) + offsetof(struct type, field), sizeof(((struct type *)0)->field))

/* Where the harness says memd lies: 128 KiB at 1 TiB, as an image might. */
static const struct memd_self FUZZ_SELF = { 0x10000000000u, 0x10000020000u };

struct declared {
    uint32_t slot, use, type, rights;
};

/* Read the tables as far as they fit, and install what they declare. */
static void build_world(const uint8_t *f, size_t n, uint8_t ctl)
{
    struct declared d[MEMD_ENV_MAX_SLOTS];
    uint32_t nd = 0;
    uint32_t cspace = UINT32_MAX;

    memd_host_reset();
    if (n < sizeof(struct memd_startup_frame))
        return;
    uint64_t off = FIELD(f, memd_startup_frame, envelope_offset);
    if (off > n || n - off < sizeof(struct memd_env_header))
        return;
    const uint8_t *env = f + off;
    size_t env_len = n - (size_t)off;
    uint32_t slots = (uint32_t)FIELD(env, memd_env_header, slot_count);
    uint32_t untyped = (uint32_t)FIELD(env, memd_env_header, untyped_count);
    size_t at = sizeof(struct memd_env_header);

    for (uint32_t i = 0; i < slots && nd < MEMD_ENV_MAX_SLOTS; i++) {
        if (env_len - at < sizeof(struct memd_env_slot))
            break;
        const uint8_t *e = env + at;
        d[nd].slot = (uint32_t)FIELD(e, memd_env_slot, slot);
        d[nd].use = (uint32_t)FIELD(e, memd_env_slot, use);
        d[nd].type = (uint32_t)FIELD(e, memd_env_slot, type);
        d[nd].rights = (uint32_t)FIELD(e, memd_env_slot, rights);
        if (d[nd].use == MEMD_USE_CSPACE && cspace == UINT32_MAX)
            cspace = d[nd].slot;
        nd++;
        at += sizeof(struct memd_env_slot);
    }
    at = sizeof(struct memd_env_header) + (size_t)slots * sizeof(struct memd_env_slot);
    for (uint32_t i = 0; i < nd; i++)
        (void)memd_host_put(d[i].slot, d[i].type, d[i].rights);
    for (uint32_t j = 0; j < untyped && at <= env_len; j++) {
        if (env_len - at < sizeof(struct memd_env_untyped))
            break;
        const uint8_t *u = env + at;
        uint32_t slot = (uint32_t)FIELD(u, memd_env_untyped, slot);
        uint32_t rights = 0;
        for (uint32_t i = 0; i < nd; i++)
            if (d[i].slot == slot)
                rights = d[i].rights;
        (void)memd_host_put_untyped(slot, rights,
                                    FIELD(u, memd_env_untyped, phys_base),
                                    (uint32_t)FIELD(u, memd_env_untyped, size_bits),
                                    (FIELD(u, memd_env_untyped, flags) &
                                     MEMD_UNTYPED_DEVICE) != 0u);
        at += sizeof(struct memd_env_untyped);
    }

    /* The control byte: which disagreement between the declaration and
       the real slots to make, and at which entry. */
    uint32_t k = nd != 0u ? (uint32_t)(ctl >> 3) % nd : 0u;
    switch (ctl & 7u) {
    case 1: if (nd) (void)memd_host_put(d[k].slot, d[k].type ^ 1u, d[k].rights); break;
    case 2: if (nd) (void)memd_host_put(d[k].slot, d[k].type, d[k].rights ^ (1u << (ctl >> 6))); break;
    case 3: if (nd) (void)memd_host_put(d[k].slot, CAP_TYPE_EMPTY, 0); break;
    case 4: memd_host_fail(MEMD_HOST_QUERY, ctl >> 3, KERR_INVALID_CAP); break;
    case 5: cspace = UINT32_MAX; break;
    default: break;
    }
    memd_host_set_cspace(cspace);
}

static bool known_status(uint32_t st)
{
    static const uint32_t known[] = {
#define S(x) x,
        S(MEMD_ST_FRAME_TRUNCATED) S(MEMD_ST_FRAME_MAGIC) S(MEMD_ST_FRAME_MAJOR)
        S(MEMD_ST_FRAME_MINOR) S(MEMD_ST_FRAME_RESERVED) S(MEMD_ST_FRAME_SIZE)
        S(MEMD_ST_FRAME_ENVELOPE_BOUNDS) S(MEMD_ST_ENV_TRUNCATED) S(MEMD_ST_ENV_MAGIC)
        S(MEMD_ST_ENV_MAJOR) S(MEMD_ST_ENV_MINOR) S(MEMD_ST_ENV_SIZE_MISMATCH)
        S(MEMD_ST_ENV_ROLE) S(MEMD_ST_ENV_RESERVED) S(MEMD_ST_ENV_REPLY_SLOT)
        S(MEMD_ST_ENV_SLOT_COUNT) S(MEMD_ST_ENV_UNTYPED_COUNT)
        S(MEMD_ST_ENV_CLIENT_COUNT) S(MEMD_ST_ENV_LAYOUT) S(MEMD_ST_SLOT_RANGE)
        S(MEMD_ST_SLOT_DUPLICATE) S(MEMD_ST_SLOT_USE) S(MEMD_ST_SLOT_TYPE)
        S(MEMD_ST_SLOT_RIGHTS_BITS) S(MEMD_ST_SLOT_RESERVED) S(MEMD_ST_UNTYPED_SLOT)
        S(MEMD_ST_UNTYPED_SLOT_DUPLICATE) S(MEMD_ST_UNTYPED_FLAGS)
        S(MEMD_ST_UNTYPED_RESERVED) S(MEMD_ST_UNTYPED_SIZE) S(MEMD_ST_UNTYPED_BEYOND_PHYS)
        S(MEMD_ST_UNTYPED_ALIGN) S(MEMD_ST_UNTYPED_OVERLAP)
        S(MEMD_ST_UNTYPED_TOO_MANY_FRAMES) S(MEMD_ST_UNTYPED_UNDESCRIBED)
        S(MEMD_ST_UNTYPED_NO_RAM) S(MEMD_ST_CLIENT_BADGE) S(MEMD_ST_CLIENT_DUPLICATE)
        S(MEMD_ST_CLIENT_RESERVED) S(MEMD_ST_CLIENT_BUDGET)
        S(MEMD_ST_INTAKE_DUPLICATE_USE) S(MEMD_ST_INTAKE_MEM_ENDPOINT_SLOT)
        S(MEMD_ST_INTAKE_READY_SLOT) S(MEMD_ST_INTAKE_TYPE)
        S(MEMD_ST_INTAKE_RIGHTS_MISSING) S(MEMD_ST_INTAKE_RIGHTS_OVERBROAD)
        S(MEMD_ST_INTAKE_MISSING) S(MEMD_ST_WINDOW_OVERLAP) S(MEMD_ST_WINDOW_RANGE)
        S(MEMD_ST_WINDOW_TOO_SMALL) S(MEMD_ST_META_ALIGN) S(MEMD_ST_META_RANGE)
        S(MEMD_ST_META_OVERLAP) S(MEMD_ST_META_TOO_SMALL) S(MEMD_ST_REAL_QUERY_FAILED)
        S(MEMD_ST_REAL_TYPE) S(MEMD_ST_REAL_RIGHTS)
#undef S
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] == st)
            return true;
    return false;
}

/* What an accepted configuration promises (chapter Startup). */
static void check_boot(const struct memd_boot *b)
{
    REQUIRE(b->mem_endpoint_slot == SLOT_KERNEL_MEM_ENDPOINT);
    REQUIRE(b->ready_slot == SLOT_ROOTD_READY_ENDPOINT);
    REQUIRE(b->region_count >= 1u && b->region_count <= MEMD_ENV_MAX_UNTYPED);
    REQUIRE(b->runtime_slot_base >= MEMD_TRANSFER_SLOT_END);
    REQUIRE(b->runtime_slot_count <= MEMD_CSPACE_SLOTS - b->runtime_slot_base);
    REQUIRE(b->total_frames <= MEMD_MAX_FRAMES);
    REQUIRE(b->runtime_slot_count >= b->total_frames);
    /* the metadata region: whole pages, in the user half above page 0,
       clear of memd, and large enough for every frame and list head */
    REQUIRE(b->meta_base % MEMD_FRAME_BYTES == 0u && b->meta_size % MEMD_FRAME_BYTES == 0u);
    REQUIRE(b->meta_base >= MEMD_FRAME_BYTES && b->meta_base <= MEMD_USER_TOP &&
            b->meta_size <= MEMD_USER_TOP - b->meta_base);
    REQUIRE(b->meta_base + b->meta_size <= FUZZ_SELF.low || b->meta_base >= FUZZ_SELF.high);
    REQUIRE(b->meta_size >= MEMD_META_BYTES(b->total_frames));
    uint32_t next = 0;
    uint32_t entries = 0;                      /* a bit per untyped entry used */
    for (uint32_t r = 0; r < b->region_count; r++) {
        const struct memd_region *g = &b->region[r];
        REQUIRE(g->first_frame == next);
        REQUIRE(g->entry < MEMD_ENV_MAX_UNTYPED && (entries & (1u << g->entry)) == 0u);
        entries |= 1u << g->entry;
        if (r > 0u)                            /* spent highest first */
            REQUIRE(g->phys_base < b->region[r - 1u].phys_base);
        REQUIRE(g->frames != 0u && (g->frames & (g->frames - 1u)) == 0u);
        uint64_t bytes = (uint64_t)g->frames << MEMD_FRAME_BITS;
        REQUIRE((g->phys_base & (bytes - 1u)) == 0u);
        REQUIRE(g->phys_base <= (((uint64_t)1 << MEMD_PHYS_BITS) - 1u) - (bytes - 1u));
        REQUIRE(g->slot >= MEMD_TRANSFER_SLOT_FIRST && g->slot < MEMD_TRANSFER_SLOT_END);
        REQUIRE(memd_host_slot_type(g->slot) == CAP_TYPE_UNTYPED);
        for (uint32_t q = 0; q < r; q++) {     /* no two regions overlap */
            const struct memd_region *h = &b->region[q];
            uint64_t g_end = g->phys_base + (bytes - 1u);
            uint64_t h_end = h->phys_base + (((uint64_t)h->frames << MEMD_FRAME_BITS) - 1u);
            REQUIRE(g_end < h->phys_base || h_end < g->phys_base);
            REQUIRE(g->slot != h->slot);
        }
        next += g->frames;
    }
    REQUIRE(next == b->total_frames);
    for (uint32_t c = 0; c < MEMD_CALLERS; c++)
        if (b->caller[c].present)
            REQUIRE(b->caller[c].frame_budget <= b->caller[c].slot_budget);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u || size > MEMD_FRAME_MAX_BYTES + 64u)
        return 0;
    size_t n = size - 1u;
    build_world(data + 1, n, data[0]);

    uint8_t *frame = malloc(n != 0u ? n : 1u);
    REQUIRE(frame != NULL);
    if (n != 0u)
        memcpy(frame, data + 1, n);
    struct memd_boot boot, before;
    memset(&boot, 0xA5, sizeof boot);
    memcpy(&before, &boot, sizeof boot);
    uint32_t detail = 0xDEADBEEFu;
    uint32_t st = memd_startup(frame, n, &FUZZ_SELF, &boot, &detail);
    free(frame);

    for (int op = MEMD_HOST_RETYPE; op < MEMD_HOST_OPS; op++)
        REQUIRE(memd_host_calls((enum memd_host_op)op) == 0u);
    REQUIRE(memd_host_violations() == 0u);
    if (st == MEMD_STARTUP_OK) {
        REQUIRE(detail == 0u);
        check_boot(&boot);
    } else {
        REQUIRE(known_status(st));
        REQUIRE(memcmp(&boot, &before, sizeof boot) == 0);
    }
    return 0;
}
