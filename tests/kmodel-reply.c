/* tests/kmodel-reply.c: the kernel model's reply checker.  It decodes
 * each reply memd sends by the layouts of the ABI header (memd-abi.h,
 * tangled from memd.nw), checks the shape the ABI gives it, renders it
 * for the trace, and compares it with what the scenario expects.
 * tests/kmodel.c calls it for every reply; tests/kernel.c follows what
 * the reply hands each client.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "kmodel.h"

#define OFF(type, field) ((uint32_t)offsetof(struct type, field))
#define SIZE(type) ((uint32_t)sizeof(struct type))

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (get16(p + 2) << 16);
}

static void cfail(const struct reply_check *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cfail(const struct reply_check *ck, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ck->fail(ck->ctx, what);
}

static void dkv(struct decoded *d, const char *key, uint64_t v)
{
    if (d->nkv == MAX_KV)
        return;
    (void)snprintf(d->kv[d->nkv].key, sizeof d->kv[0].key, "%s", key);
    d->kv[d->nkv++].value = v;
}

const struct kv *find_kv(const struct kv *kv, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    }
    return NULL;
}

/* Checks the shape the ABI gives a reply; fills d with its fields, and
   text with the reply as a person reads it. */
bool decode_reply(const struct reply_check *ck, const uint8_t *m, uint32_t len,
                         uint32_t ncaps, struct decoded *d, char *text, size_t n)
{
    size_t k = 0;
    bool ok = true;
#define OUT(...) appendf(text, n, &k, __VA_ARGS__)
    memset(d, 0, sizeof *d);
    if (len < sizeof(struct memd_reply_header)) {
        OUT("a reply of %" PRIu32 " bytes", len);
        cfail(ck, "the reply is %" PRIu32 " bytes, shorter than its header", len);
        return false;
    }
    uint32_t op = get16(m + OFF(memd_reply_header, op)),
             version = get16(m + OFF(memd_reply_header, version)),
             result = get16(m + OFF(memd_reply_header, result)),
             field = get16(m + OFF(memd_reply_header, field));
    dkv(d, "op", op);
    dkv(d, "result", result);
    const char *rw = WORD(result_names, result);
    for (size_t i = 0; rw[i] != '\0'; i++)
        OUT("%c", rw[i] >= 'a' && rw[i] <= 'z' ? rw[i] - 'a' + 'A' : rw[i]);
    if (version != MEMD_MSG_VERSION) {
        cfail(ck, "the reply's version is %" PRIu32 ", not %u", version, MEMD_MSG_VERSION);
        ok = false;
    }
    if (op != (ck->sent_len >= 2 ? ck->sent_op : 0u))
        OUT(" op=%s", WORD(op_names, op));
    if (result != MEMD_OK) {
        dkv(d, "field", field);
        OUT(" field=%s", WORD(field_names, field));
        if (len != sizeof(struct memd_error_reply)) {
            cfail(ck, "an error reply is %zu bytes; this one is %" PRIu32,
                  sizeof(struct memd_error_reply), len);
            return false;
        }
        static const struct { const char *key; uint32_t off; } keys[] = {
            { "asked", OFF(memd_error_reply, asked) },
            { "budget-left", OFF(memd_error_reply, budget_left) },
            { "frames-left", OFF(memd_error_reply, frames_left) },
            { "index", OFF(memd_error_reply, index) },
        };
        for (uint32_t i = 0; i < ARRAY_LEN(keys); i++) {
            uint32_t v = get32(m + keys[i].off);
            dkv(d, keys[i].key, v);
            OUT(" %s=%" PRIu32, keys[i].key, v);
        }
        if (ncaps != 0) {
            cfail(ck, "an error reply transfers %" PRIu32 " capabilities", ncaps);
            ok = false;
        }
        return ok;
    }
    if (field != 0) {
        cfail(ck, "an OK reply names field %" PRIu32, field);
        ok = false;
    }
    OUT(" %s", WORD(op_names, op));
    switch (op) {
    case MEMD_OP_ALLOC: {
        if (len < sizeof(struct memd_alloc_reply)) {
            cfail(ck, "the ALLOC reply is %" PRIu32 " bytes", len);
            return false;
        }
        uint32_t count = get32(m + offsetof(struct memd_alloc_reply, count));
        uint32_t left = get32(m + offsetof(struct memd_alloc_reply, budget_left));
        dkv(d, "count", count);
        dkv(d, "budget-left", left);
        OUT(" count=%" PRIu32 " budget-left=%" PRIu32 " frames", count, left);
        if (count > MEMD_ALLOC_MAX || len != SIZE(memd_alloc_reply) + 4u * count) {
            cfail(ck, "the ALLOC reply says %" PRIu32 " frames in %" PRIu32 " bytes", count, len);
            return false;
        }
        for (uint32_t i = 0; i < count; i++) {
            d->frames[d->nframes++] = get32(m + SIZE(memd_alloc_reply) + (size_t)4 * i);
            OUT(" %" PRIu32, d->frames[i]);
        }
        if (ncaps != count) {
            cfail(ck, "the ALLOC reply names %" PRIu32 " frames but transfers %" PRIu32
                     " capabilities", count, ncaps);
            ok = false;
        }
        return ok;
    }
    case MEMD_OP_FREE:
    case MEMD_OP_RECLAIM: {
        uint32_t want = SIZE(memd_free_reply);
        if (op == MEMD_OP_RECLAIM)
            want = SIZE(memd_reclaim_reply);
        if (len != want) {
            cfail(ck, "the %s reply is %" PRIu32 " bytes, not %" PRIu32, WORD(op_names, op), len,
                  want);
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
            cfail(ck, "the STATS reply is %" PRIu32 " bytes", len);
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
            cfail(ck, "the STATS reply says %" PRIu32 " records in %" PRIu32 " bytes", nrec, len);
            return false;
        }
        for (uint32_t i = 0; i < nrec; i++) {
            const uint8_t *p = m + SIZE(memd_stats_reply) + (size_t)SIZE(memd_stats_client) * i;
            struct memd_stats_client *c = &d->record[d->nrecords++];
            c->badge = get32(p + offsetof(struct memd_stats_client, badge));
            c->frames_held = get32(p + offsetof(struct memd_stats_client, frames_held));
            c->frame_budget = get32(p + offsetof(struct memd_stats_client, frame_budget));
            c->slot_budget = get32(p + offsetof(struct memd_stats_client, slot_budget));
            OUT("; %s holds %" PRIu32 " of %" PRIu32 " (slots %" PRIu32 ")", k_who(c->badge),
                c->frames_held, c->frame_budget, c->slot_budget);
        }
        break;
    }
    default:
        cfail(ck, "an OK reply to op %#" PRIx32 ", which memd does not serve", op);
        return false;
    }
    if (ncaps != 0) {
        cfail(ck, "the %s reply transfers %" PRIu32 " capabilities", WORD(op_names, op), ncaps);
        ok = false;
    }
    return ok;
#undef OUT
}

static void compare_list(const struct reply_check *ck, const char *what, const uint32_t *want,
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
    cfail(ck, "line %u: expected %s%s, got%s", ck->line, what,
          nwant != 0 ? a : " none", ngot != 0 ? b : " none");
}

void check_expect(const struct reply_check *ck, const struct expect *ex, const struct decoded *d,
                         const uint32_t *caps, uint32_t ncaps)
{
    unsigned line = ck->line;
    const struct kv *res = find_kv(d->kv, d->nkv, "result");
    if (res != NULL && res->value != ex->result)
        cfail(ck, "line %u: expected %s, memd answered %s", line,
              WORD(result_names, ex->result), WORD(result_names, res->value));
    const struct kv *op = find_kv(d->kv, d->nkv, "op");
    const struct kv *want_op = find_kv(ex->kv, ex->nkv, "op");
    uint32_t echo = ck->sent_len >= 2 ? ck->sent_op : 0u;  /* the ABI: op, or 0 */
    if (want_op == NULL && op != NULL && op->value != echo)
        cfail(ck, "line %u: the reply's op is %#" PRIx64 ", expected %#" PRIx32, line,
              op->value, echo);
    for (uint32_t i = 0; i < ex->nkv; i++) {
        const struct kv *got = find_kv(d->kv, d->nkv, ex->kv[i].key);
        if (got == NULL)
            cfail(ck, "line %u: this reply has no field '%s'", line, ex->kv[i].key);
        else if (got->value != ex->kv[i].value)
            cfail(ck, "line %u: expected %s=%" PRIu64 ", got %" PRIu64, line, ex->kv[i].key,
                  ex->kv[i].value, got->value);
    }
    if (ex->frames_set)
        compare_list(ck, "frames", ex->frames, ex->nframes, d->frames, d->nframes);
    if (ex->slots_set)
        compare_list(ck, "slots", ex->slots, ex->nslots, caps, ncaps);
    for (uint32_t i = 0; i < ex->nrecords; i++) {
        const struct record_expect *re = &ex->record[i];
        const struct memd_stats_client *c = NULL;
        for (uint32_t j = 0; j < d->nrecords; j++) {
            if (d->record[j].badge == re->badge)
                c = &d->record[j];
        }
        if (c == NULL) {
            cfail(ck, "line %u: no record for badge %" PRIu64, line, re->badge);
            continue;
        }
        for (uint32_t j = 0; j < re->nkv; j++) {
            uint64_t got = strcmp(re->kv[j].key, "held") == 0 ? c->frames_held
                         : strcmp(re->kv[j].key, "frame-budget") == 0 ? c->frame_budget
                         : c->slot_budget;
            if (got != re->kv[j].value)
                cfail(ck, "line %u: record %" PRIu64 ": expected %s=%" PRIu64 ", got %" PRIu64,
                      line, re->badge, re->kv[j].key, re->kv[j].value, got);
        }
    }
}

