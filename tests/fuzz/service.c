/* tests/fuzz/service.c: a stateful libFuzzer target for memd's service.
 *
 * Every input starts from the same memd: a fresh host kernel model, two
 * RAM regions, rootd and four clients with different budgets, as after a
 * valid boot.  The input is then read as a sequence of requests, each
 * received and answered by one turn of the real service loop
 * (memd_serve_one: receive, handle, reply, then the maintenance that
 * refills the pool and launders freed frames).  A request is either
 * structured (an allocation, a free of frames the harness saw handed out
 * or of any number, statistics, a reclaim), so that inputs reach deep
 * states quickly, or raw bytes, so that the decoder sees everything; the
 * input can also arm a kernel failure for the next retype, revoke, clear
 * or reply.
 *
 * After every request the harness checks:
 *   - the checking build found every accounting invariant intact
 *     (memd_check_failures stays 0: MEMD_CHECKING is on);
 *   - the kernel model saw nothing the kernel or memd's promises forbid
 *     (a frame handed out while another copy lives or while dirty, a
 *     reply with nobody to reply to, device memory retyped);
 *   - the reply is well formed: at least a header, a known result, and an
 *     error reply of exactly the error shape;
 *   - a reference model agrees: an allocation hands out only frames
 *     nobody holds, and a free of frames the caller holds (each named
 *     once) succeeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memd-host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz/service: %s:%d: %s (checker: %s; "      \
                    "model: %s)\n", __FILE__, __LINE__, #cond,            \
                    memd_check_what ? memd_check_what : "-",              \
                    memd_host_last_violation());                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

#define UNTYPED_SLOT 2100u
static struct memd_boot world;

/* The reference model: where frame f is.  A frame nobody holds is FREE;
   one a request freed whose reply was lost is UNKNOWN (the client cannot
   know); a HELD frame is held by the badge holder[f].  The place and the
   badge are kept apart, so that no badge, whatever its value, can be
   mistaken for "nobody" or "unknown" (an 8-bit owner with 0xFF and 0xFE
   for those once made the harness abort on memd's correct answer to
   badge 254: tests/fuzz/corpus/service/owner-collision-badge-254). */
enum place { FREE, HELD, UNKNOWN };
static uint8_t place[1u << 7];
static uint64_t holder[1u << 7];

static bool held_by(uint32_t f, uint64_t badge)
{
    return place[f] == HELD && holder[f] == badge;
}

static void set_place(uint32_t f, enum place p, uint64_t badge)
{
    place[f] = (uint8_t)p;
    holder[f] = p == HELD ? badge : 0u;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | get16(p + 2) << 16; }

static void boot(void)
{
    memd_host_reset();
    memset(&world, 0, sizeof world);
    world.mem_endpoint_slot = SLOT_KERNEL_MEM_ENDPOINT;
    world.ready_slot = SLOT_ROOTD_READY_ENDPOINT;
    world.runtime_slot_base = MEMD_TRANSFER_SLOT_END;
    (void)memd_host_put(SLOT_KERNEL_MEM_ENDPOINT, CAP_TYPE_ENDPOINT,
                        CAP_RIGHT_READ | CAP_RIGHT_GRANT);
    static const uint32_t bits[] = { 6, 5 };    /* 64 + 32 frames */
    for (uint32_t r = 0; r < 2; r++) {
        uint64_t phys = (uint64_t)(r + 1u) << 32;
        (void)memd_host_put_untyped(UNTYPED_SLOT + r, CAP_RIGHT_READ | CAP_RIGHT_RETYPE,
                                    phys, bits[r] + MEMD_FRAME_BITS, false);
        world.region[r].slot = UNTYPED_SLOT + r;
        world.region[r].entry = r;
        world.region[r].first_frame = world.total_frames;
        world.region[r].frames = 1u << bits[r];
        world.region[r].phys_base = phys;
        world.total_frames += 1u << bits[r];
    }
    world.region_count = 2;
    world.runtime_slot_count = world.total_frames;
    static const uint32_t budget[][3] = {      /* badge, frames, slots */
        { MEMD_BADGE_ROOTD, 16, 16 }, { 2, 80, 80 }, { 3, 24, 24 },
        { 4, 1000, 1000 }, { 5, 0, 0 },
    };
    for (size_t i = 0; i < sizeof budget / sizeof budget[0]; i++) {
        struct memd_caller_cfg *c = &world.caller[budget[i][0] - 1u];
        c->present = true;
        c->frame_budget = budget[i][1];
        c->slot_budget = budget[i][2];
    }
    /* The metadata region rootd would map: not zeroed, so that a link
       memd read before writing it would be garbage. */
    static uint8_t meta[MEMD_META_BYTES(96)] __attribute__((aligned(4096)));
    memset(meta, 0xA5, sizeof meta);
    world.meta_base = (uint64_t)(uintptr_t)meta;
    world.meta_size = sizeof meta;
    uint32_t detail = 0;
    REQUIRE(memd_accounting_init(&world, &detail) == MEMD_STARTUP_OK);
    memset(place, FREE, sizeof place);
    memset(holder, 0, sizeof holder);
    memd_check_failures = 0;
}

/* A badge byte names the badge itself, except 255: a badge wider than
   32 bits, which no client can hold. */
static uint64_t badge_of(uint8_t b)
{
    return b == 255u ? 0x100000002ull : b;
}

/* The input, consumed a byte at a time; zeros once it runs out. */
struct input { const uint8_t *p; size_t n; };
static uint8_t next(struct input *in)
{
    if (in->n == 0u)
        return 0;
    in->n--;
    return *in->p++;
}

/* A frame the caller holds in the model, picked by k, or any number. */
static uint32_t pick_frame(uint64_t caller_badge, uint8_t k)
{
    if (k & 0x80u)
        return (uint32_t)k * 7u;                /* any number, often wrong */
    uint32_t seen = 0;
    for (uint32_t f = 0; f < world.total_frames; f++)
        if (held_by(f, caller_badge) && seen++ == (k & 0x3Fu))
            return f;
    return k & 0x3Fu;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192u)
        return 0;
    boot();
    struct input in = { data, size };
    while (in.n != 0u) {
        uint8_t msg[IPC_MSG_BUFFER_BYTES + 8];
        uint32_t len = 0;
        uint64_t badge = badge_of(next(&in));
        uint8_t kind = next(&in);
        uint32_t op = 0, model_free[MEMD_FREE_MAX], model_free_n = 0;
        bool model_says_free_ok = false;

        memset(msg, 0, sizeof msg);
        switch (kind % 6u) {
        case 0: {                               /* allocate */
            op = MEMD_OP_ALLOC;
            put32(msg + 8, next(&in) % 80u);
            len = 16;
            break;
        }
        case 1: {                               /* free */
            op = MEMD_OP_FREE;
            uint32_t n = next(&in) % 9u;
            model_says_free_ok = n != 0u;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t f = pick_frame(badge, next(&in));
                put32(msg + 16 + 4 * i, f);
                model_free[i] = f;
                if (f >= world.total_frames || !held_by(f, badge))
                    model_says_free_ok = false;
                for (uint32_t j = 0; j < i; j++)
                    if (model_free[j] == f)
                        model_says_free_ok = false;
            }
            model_free_n = n;
            put32(msg + 8, n);
            len = 16 + 4 * n;
            break;
        }
        case 2:                                 /* statistics */
            op = MEMD_OP_STATS;
            len = 8;
            break;
        case 3:                                 /* reclaim */
            op = MEMD_OP_RECLAIM;
            put32(msg + 8, next(&in));
            len = 16;
            break;
        case 4: {                               /* raw bytes */
            len = next(&in);
            len |= (uint32_t)(next(&in) & 7u) << 8;  /* up to past the buffer */
            if (len > sizeof msg)
                len = sizeof msg;
            for (uint32_t i = 0; i < len; i++)
                msg[i] = next(&in);
            break;
        }
        default: {                              /* arm a kernel failure */
            static const enum memd_host_op ops[] = {
                MEMD_HOST_RETYPE, MEMD_HOST_REVOKE, MEMD_HOST_CLEAR, MEMD_HOST_REPLY };
            memd_host_fail(ops[next(&in) % 4u], next(&in) % 4u,
                           KERR_INVALID_ARGUMENT + next(&in) % 7u);
            continue;
        }
        }
        if (op != 0u) {
            put16(msg, op);
            put16(msg + 2, MEMD_MSG_VERSION);
        }

        /* What the request asks, read back from its bytes: a raw message
           that memd accepts is as real as a structured one. */
        uint32_t asked = len >= 2u ? get16(msg) : 0u;
        if (asked == MEMD_OP_FREE && len >= 16u) {
            uint32_t n = get32(msg + 8);
            model_free_n = n <= MEMD_FREE_MAX && len == 16u + 4u * n ? n : 0u;
            for (uint32_t i = 0; i < model_free_n; i++)
                model_free[i] = get32(msg + 16 + 4 * i);
        }

        uint64_t replies_before = memd_host_calls(MEMD_HOST_REPLY);
        REQUIRE(memd_host_push(badge, msg, len) == KERR_OK);
        memd_serve_one();

        REQUIRE(memd_check_failures == 0u);
        REQUIRE(memd_host_violations() == 0u);
        REQUIRE(memd_host_calls(MEMD_HOST_REPLY) == replies_before + 1u);
        uint32_t rlen = 0, ncaps = 0;
        const uint8_t *r = memd_host_reply(&rlen);
        const uint32_t *caps = memd_host_reply_caps(&ncaps);
        if (rlen == 0u) {
            /* An injected reply failure: the client heard nothing.  memd
               takes an allocation back, but a free or a reclaim it carried
               out stands, and the client cannot know: the model no longer
               knows who holds those frames. */
            if (asked == MEMD_OP_FREE)
                for (uint32_t i = 0; i < model_free_n; i++)
                    if (model_free[i] < world.total_frames && held_by(model_free[i], badge))
                        set_place(model_free[i], UNKNOWN, 0);
            if (asked == MEMD_OP_RECLAIM && len >= 12u)
                for (uint32_t f = 0; f < world.total_frames; f++)
                    if (held_by(f, get32(msg + 8)))
                        set_place(f, UNKNOWN, 0);
            continue;
        }
        REQUIRE(rlen >= sizeof(struct memd_reply_header));
        uint32_t result = get16(r + 4);
        REQUIRE(result < MEMD_RESULT_LIMIT);
        if (result != MEMD_OK) {
            REQUIRE(rlen == sizeof(struct memd_error_reply));
            REQUIRE(ncaps == 0u);
        }
        if (op == MEMD_OP_FREE && model_says_free_ok)
            REQUIRE(result == MEMD_OK);
        if (result != MEMD_OK)
            continue;
        /* Keep the reference model in step with what memd said. */
        if (asked == MEMD_OP_ALLOC) {
            uint32_t count = get32(r + 8);
            REQUIRE(rlen == 16u + 4u * count && ncaps == count);
            for (uint32_t i = 0; i < count; i++) {
                uint32_t f = get32(r + 16 + 4 * i);
                REQUIRE(f < world.total_frames);
                REQUIRE(place[f] != HELD);             /* nobody holds it */
                REQUIRE(caps[i] == world.runtime_slot_base + f);
                set_place(f, HELD, badge);
            }
        } else if (asked == MEMD_OP_FREE) {
            for (uint32_t i = 0; i < model_free_n; i++)
                set_place(model_free[i], FREE, 0);
        } else if (asked == MEMD_OP_RECLAIM) {
            uint32_t who = get32(msg + 8);
            uint32_t reclaimed = get32(r + 8), remaining = get32(r + 12);
            uint32_t held = 0, unknown = 0;
            for (uint32_t f = 0; f < world.total_frames; f++) {
                held += held_by(f, who);
                unknown += place[f] == UNKNOWN;
            }
            REQUIRE(held <= reclaimed + remaining &&
                    reclaimed + remaining <= held + unknown);
            if (remaining != 0u)
                return 0;   /* which frames went first is memd's choice: stop here */
            for (uint32_t f = 0; f < world.total_frames; f++)
                if (held_by(f, who))
                    set_place(f, FREE, 0);
        }
    }
    return 0;
}
