/* tests/kernel.c: the kernel's objects and their rules (tests/kernel.h
 * says what the model is and who drives it).
 *
 * The rules are seL4's, in its order of checks, as the ABI chapter of
 * memd.nw records them; the promises are memd's, as its book states
 * them.  Every slot carries the generation it was written in, so that a
 * reset between test cases or fuzz inputs is an increment, not a sweep.
 * The capability space (2^31 slots) and the table of frame numbers are
 * sparse: kept in chunks of K_CHUNK entries, each allocated when an entry
 * of it is first touched, so that a model of memd managing a terabyte
 * costs what memd touches, not what it could.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kmodel.h"

#define K "  memd → kernel    "

/* --- reporting ----------------------------------------------------------- */

static void ktrace(struct kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ktrace(struct kernel *k, const char *fmt, ...)
{
    if (k->trace == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    k->trace(k->ctx, line);
}

/* memd broke a promise the kernel would have let it break. */
static void kbroken(struct kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void kbroken(struct kernel *k, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (k->broken != NULL)
        k->broken(k->ctx, what);
}

/* The kernel refuses, for a reason memd could have foreseen. */
static uint32_t krefuse(struct kernel *k, uint32_t kerr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uint32_t krefuse(struct kernel *k, uint32_t kerr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(k->why_buf, sizeof k->why_buf, fmt, ap);
    va_end(ap);
    k->why = k->why_buf;
    return kerr;
}

/* --- setting up ------------------------------------------------------------ */

void k_init(struct kernel *k)
{
    memset(k, 0, sizeof *k);
    k->cspace = xcalloc(K_SLOTS / K_CHUNK, sizeof(struct k_cap *));
    k->by_number = xcalloc(K_FRAME_NUMBERS / K_CHUNK, sizeof(struct k_number *));
    k->gen = 1;
}

void k_reset(struct kernel *k)
{
    if (k->gen == UINT32_MAX) {     /* after 2^32 resets: sweep once */
        for (uint32_t c = 0; c < K_SLOTS / K_CHUNK; c++)
            if (k->cspace[c] != NULL)
                memset(k->cspace[c], 0, K_CHUNK * sizeof *k->cspace[c]);
        for (uint32_t c = 0; c < K_FRAME_NUMBERS / K_CHUNK; c++)
            if (k->by_number[c] != NULL)
                memset(k->by_number[c], 0, K_CHUNK * sizeof *k->by_number[c]);
        k->gen = 0;
    }
    k->gen++;
    k->nuntyped = 0;
    k->nframes = 0;
    k->frames_made = 0;
    k->envelope_known = false;
    k->window_base = k->window_count = 0;
    memset(k->named, 0, sizeof k->named);
    memset(k->queried, 0, sizeof k->queried);
    for (uint32_t i = 0; i < K_MAX_HOLDERS; i++) {
        k->holder[i].departed = false;
        k->holder[i].reclaimable = 0;
        k->holder[i].n = 0;
    }
    k->from = 0;
    k->sent_op = K_NONE;
    k->sent_arg = 0;
    k->nfree = 0;
    k->why = NULL;
}

/* cppcheck-suppress unusedFunction ; tests/kmodel.c uses it */
void k_release(struct kernel *k)
{
    for (uint32_t c = 0; c < K_SLOTS / K_CHUNK; c++)
        free(k->cspace[c]);
    for (uint32_t c = 0; c < K_FRAME_NUMBERS / K_CHUNK; c++)
        free(k->by_number[c]);
    free(k->cspace);
    free(k->by_number);
    free(k->frames);
    for (uint32_t i = 0; i < K_MAX_HOLDERS; i++) {
        free(k->holder[i].frames);
        free(k->holder[i].objs);
    }
    memset(k, 0, sizeof *k);
}

struct k_cap *k_slot(struct kernel *k, uint64_t slot)
{
    if (slot >= K_SLOTS)
        return NULL;
    struct k_cap **chunk = &k->cspace[slot / K_CHUNK];
    if (*chunk == NULL)
        *chunk = xcalloc(K_CHUNK, sizeof **chunk);
    struct k_cap *c = &(*chunk)[slot % K_CHUNK];
    if (c->gen != k->gen) {
        memset(c, 0, sizeof *c);
        c->gen = k->gen;
    }
    return c;
}

static uint32_t new_frame(struct kernel *k, uint64_t phys, uint32_t untyped,
                          uint32_t slot)
{
    if (k->nframes == k->cap_frames) {
        k->cap_frames = k->cap_frames != 0 ? 2 * k->cap_frames : 256;
        k->frames = xrealloc(k->frames, k->cap_frames * sizeof *k->frames);
    }
    struct k_frame *f = &k->frames[k->nframes];
    memset(f, 0, sizeof *f);
    f->phys = phys;
    f->untyped = untyped;
    f->slot = slot;
    f->number = K_NONE;
    return k->nframes++;
}

uint32_t k_put(struct kernel *k, uint64_t slot, uint32_t type, uint32_t rights)
{
    struct k_cap *c = k_slot(k, slot);
    if (c == NULL)
        return KERR_RANGE;
    c->type = (uint8_t)type;
    c->rights = (uint8_t)rights;
    c->obj = 0;
    if (type == CAP_TYPE_ENDPOINT)
        c->obj = slot == SLOT_KERNEL_MEM_ENDPOINT ? K_EP_MEM
               : slot == SLOT_ROOTD_READY_ENDPOINT ? K_EP_READY
               : K_EP_OTHER;
    else if (type == CAP_TYPE_FRAME)   /* a frame from elsewhere */
        c->obj = new_frame(k, 0xF0000000u + 0x1000u * (uint64_t)(slot & 0xFFFFu),
                           K_NONE, (uint32_t)slot);
    else if (type == CAP_TYPE_UNTYPED) {
        /* an untyped with no object described: an empty region */
        uint32_t u;
        for (u = 0; u < k->nuntyped && k->untyped[u].slot != slot; u++)
            ;
        if (u == k->nuntyped) {
            if (k->nuntyped == K_MAX_UNTYPED)
                return KERR_TOO_MANY;
            memset(&k->untyped[u], 0, sizeof k->untyped[u]);
            k->untyped[u].slot = (uint32_t)slot;
            k->nuntyped++;
        }
        c->obj = u;
    }
    return KERR_OK;
}

/* cppcheck-suppress unusedFunction ; tests/kmodel.c uses it */
uint32_t k_put_frame(struct kernel *k, uint64_t slot, uint32_t rights,
                     uint64_t phys)
{
    uint32_t err = k_put(k, slot, CAP_TYPE_FRAME, rights);
    if (err == KERR_OK)
        k->frames[k_slot(k, slot)->obj].phys = phys;
    return err;
}

uint32_t k_put_untyped(struct kernel *k, uint64_t slot, uint32_t rights,
                       uint64_t base, uint32_t bits, uint32_t declared_bits,
                       bool device, bool described)
{
    if (k->nuntyped == K_MAX_UNTYPED || bits > 63u)
        return KERR_TOO_MANY;
    if (slot >= K_SLOTS)
        return KERR_RANGE;
    struct k_untyped *u = &k->untyped[k->nuntyped++];
    memset(u, 0, sizeof *u);
    u->slot = (uint32_t)slot;
    u->base = base;
    u->bits = bits;
    u->declared_bits = declared_bits;
    u->device = device;
    u->described = described;
    struct k_cap *c = k_slot(k, slot);
    c->type = CAP_TYPE_UNTYPED;
    c->rights = (uint8_t)rights;
    c->obj = k->nuntyped - 1u;
    return KERR_OK;
}

void k_window(struct kernel *k, uint32_t base, uint32_t count)
{
    k->envelope_known = true;
    k->window_base = base;
    k->window_count = count;
}

void k_name(struct kernel *k, uint64_t slot)
{
    k->envelope_known = true;
    if (slot >= MEMD_TRANSFER_SLOT_FIRST && slot < MEMD_TRANSFER_SLOT_END)
        k->named[slot - MEMD_TRANSFER_SLOT_FIRST] = true;
}

/* --- reading the state ------------------------------------------------------- */

bool k_window_has(const struct kernel *k, uint64_t slot)
{
    return slot >= k->window_base && slot - k->window_base < k->window_count;
}

/* A slot memd may use: one the envelope names, or one of its window.
   Without an envelope, every slot. */
bool k_slot_named(const struct kernel *k, uint64_t slot)
{
    if (!k->envelope_known)
        return true;
    if (slot >= MEMD_TRANSFER_SLOT_FIRST && slot < MEMD_TRANSFER_SLOT_END)
        return k->named[slot - MEMD_TRANSFER_SLOT_FIRST];
    return k_window_has(k, slot);
}

static bool in_window(const struct kernel *k, uint64_t slot)
{
    return !k->envelope_known || k_window_has(k, slot);
}

struct k_holder *k_holder(struct kernel *k, uint64_t badge)
{
    return badge < K_MAX_HOLDERS ? &k->holder[badge] : NULL;
}

/* cppcheck-suppress unusedFunction ; tests/kmodel.c uses it */
uint32_t k_live_copies(const struct kernel *k, uint64_t badge)
{
    uint32_t n = 0;
    for (uint32_t f = 0; f < k->nframes; f++)
        n += k->frames[f].copies != 0 && k->frames[f].holder == badge ? 1u : 0u;
    return n;
}

const char *k_frame_words(const struct kernel *k, uint32_t f)
{
    char *b = ring_buf();
    const struct k_frame *fr = &k->frames[f];
    if (fr->number != K_NONE)
        (void)snprintf(b, 96, "frame %" PRIu32 " at %#" PRIx64, fr->number, fr->phys);
    else
        (void)snprintf(b, 96, "frame at %#" PRIx64, fr->phys);
    return b;
}

const char *k_cap_words(const struct k_cap *c)
{
    char *b = ring_buf();
    if (c->type == CAP_TYPE_EMPTY)
        return "empty";
    (void)snprintf(b, 96, "%s %s", WORD(type_names, c->type), rights_word(c->rights));
    return b;
}

const char *k_who(uint64_t badge)
{
    char *b = ring_buf();
    if (badge == MEMD_BADGE_ROOTD)
        return "rootd";
    if (badge == MEMD_BADGE_NONE)
        return "unbadged";
    (void)snprintf(b, 96, "client %" PRIu64, badge);
    return b;
}

static struct k_untyped *untyped_of(struct kernel *k, const struct k_cap *cp)
{
    return cp->type == CAP_TYPE_UNTYPED && cp->obj < k->nuntyped ? &k->untyped[cp->obj]
                                                                 : NULL;
}

/* --- what each client holds ------------------------------------------------------ */

static void view_add(struct k_holder *v, uint32_t number, uint32_t obj)
{
    if (v->n == v->cap) {
        v->cap = v->cap != 0 ? 2 * v->cap : 64;
        v->frames = xrealloc(v->frames, v->cap * sizeof *v->frames);
        v->objs = xrealloc(v->objs, v->cap * sizeof *v->objs);
    }
    v->frames[v->n] = number;
    v->objs[v->n++] = obj;
}

static uint32_t view_remove_at(struct k_holder *v, uint32_t i)
{
    uint32_t obj = v->objs[i];
    memmove(&v->frames[i], &v->frames[i + 1], (v->n - i - 1) * sizeof v->frames[0]);
    memmove(&v->objs[i], &v->objs[i + 1], (v->n - i - 1) * sizeof v->objs[0]);
    v->n--;
    return obj;
}

/* Forget the frame the client calls `number`. */
static void view_remove(struct k_holder *v, uint32_t number)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->frames[i] == number) {
            (void)view_remove_at(v, i);
            return;
        }
}

/* Forget the frame object `obj`, whatever the client calls it. */
static void view_remove_obj(struct k_holder *v, uint32_t obj)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->objs[i] == obj) {
            (void)view_remove_at(v, i);
            return;
        }
}

/* A client that sends a free of frames it holds gives them back: from then
   on memd may revoke them (before its reply or after).  If memd refuses
   the free, the client keeps them, and the offer is withdrawn. */
static void offer_back(struct kernel *k, bool on)
{
    const struct k_holder *v = k_holder(k, k->from);
    if (v == NULL)
        return;
    for (uint32_t i = 0; i < k->nfree; i++)
        for (uint32_t j = 0; j < v->n; j++)
            if (v->frames[j] == k->sent_free[i] && v->objs[j] < k->nframes)
                k->frames[v->objs[j]].given_back = on;
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (get16(p + 2) << 16);
}

void k_request(struct kernel *k, uint64_t from, const uint8_t *m, uint32_t len)
{
    k->from = from;
    k->sent_op = len >= sizeof(struct memd_msg_header)
               ? get16(m + offsetof(struct memd_msg_header, op)) : K_NONE;
    k->sent_arg = 0;
    k->nfree = 0;
    if (k->sent_op == MEMD_OP_RECLAIM && len >= sizeof(struct memd_reclaim_request))
        k->sent_arg = get32(m + offsetof(struct memd_reclaim_request, badge));
    if (k->sent_op == MEMD_OP_FREE && len >= sizeof(struct memd_free_request)) {
        for (uint32_t i = sizeof(struct memd_free_request); i + 4u <= len &&
             k->nfree < K_MAX_FREE; i += 4u)
            k->sent_free[k->nfree++] = get32(m + i);
        offer_back(k, true);
    }
}

/* memd names a frame in an ALLOC reply: one number for one frame, for as
   long as memd manages it. */
static void name_frame(struct kernel *k, uint32_t number, uint32_t f)
{
    struct k_frame *fr = &k->frames[f];
    if (number >= K_FRAME_NUMBERS) {
        kbroken(k, "memd names a frame %" PRIu32 ", beyond any frame it could manage", number);
        return;
    }
    struct k_number **chunk = &k->by_number[number / K_CHUNK];
    if (*chunk == NULL)
        *chunk = xcalloc(K_CHUNK, sizeof **chunk);
    struct k_number *bn = &(*chunk)[number % K_CHUNK];
    if (bn->gen != k->gen) {
        bn->gen = k->gen;
        bn->frame1 = 0;
    }
    if (fr->number != K_NONE && fr->number != number)
        kbroken(k, "memd calls %s frame %" PRIu32 " now", k_frame_words(k, f), number);
    if (bn->frame1 != 0 && bn->frame1 != f + 1u)
        kbroken(k, "memd gives the number %" PRIu32 " to two frames: %s and the one at %#" PRIx64,
                number, k_frame_words(k, bn->frame1 - 1u), fr->phys);
    fr->number = number;
    bn->frame1 = f + 1u;
}

void k_replied(struct kernel *k, const uint8_t *m, uint32_t len,
               const uint32_t *caps, uint32_t ncaps)
{
    struct k_holder *v = k_holder(k, k->from);
    bool ok = len >= sizeof(struct memd_reply_header) &&
              get16(m + offsetof(struct memd_reply_header, result)) == MEMD_OK;
    uint32_t op = len >= sizeof(struct memd_reply_header)
                ? get16(m + offsetof(struct memd_reply_header, op)) : K_NONE;
    if (k->sent_op == MEMD_OP_FREE && !(ok && op == MEMD_OP_FREE &&
                                        len == sizeof(struct memd_free_reply)))
        offer_back(k, false);     /* refused: the client keeps its frames */
    if (!ok)
        return;
    if (op == MEMD_OP_ALLOC && len >= sizeof(struct memd_alloc_reply)) {
        uint32_t count = get32(m + offsetof(struct memd_alloc_reply, count));
        if (count > MEMD_ALLOC_MAX ||
            len != sizeof(struct memd_alloc_reply) + (size_t)4 * count)
            return;
        for (uint32_t i = 0; i < count && i < ncaps; i++) {
            const struct k_cap *c = k_slot(k, caps[i]);
            if (c == NULL || c->type != CAP_TYPE_FRAME)
                continue;
            uint32_t number = get32(m + sizeof(struct memd_alloc_reply) + (size_t)4 * i);
            name_frame(k, number, c->obj);
            if (v != NULL)
                view_add(v, number, c->obj);
        }
    } else if (op == MEMD_OP_FREE && len == sizeof(struct memd_free_reply) && v != NULL) {
        for (uint32_t i = 0; i < k->nfree; i++)
            view_remove(v, k->sent_free[i]);
    } else if (op == MEMD_OP_RECLAIM && len == sizeof(struct memd_reclaim_reply) &&
               k->sent_op == MEMD_OP_RECLAIM) {
        /* rootd took back `reclaimed` of the client's frames, memd's
           choice which: the client's view loses each one as memd revokes
           it, and keeps the ones that remain. */
        struct k_holder *gone = k_holder(k, k->sent_arg);
        uint32_t taken = get32(m + offsetof(struct memd_reclaim_reply, reclaimed));
        uint32_t left = get32(m + offsetof(struct memd_reclaim_reply, remaining));
        if (gone != NULL) {
            gone->reclaimable += taken;
            if (left == 0)
                gone->n = 0;
        }
    }
}

/* The kernel failed memd's reply: the client heard nothing.  What memd
   carried out stands (a free, a reclaim), and memd may go on with it
   after the reply.  A reclaim's reply would have said how many frames
   memd takes back; lost, it leaves rootd's request as the only word, and
   rootd asked for all of them. */
void k_reply_lost(struct kernel *k)
{
    if (k->sent_op != MEMD_OP_RECLAIM || k->from != MEMD_BADGE_ROOTD)
        return;
    struct k_holder *gone = k_holder(k, k->sent_arg);
    if (gone != NULL)
        gone->reclaimable = gone->n;
}

/* --- the operations ------------------------------------------------------------ */

uint32_t k_query(struct kernel *k, uint64_t slot, const char *desc,
                 uint32_t *type, uint32_t *rights)
{
    k->why = NULL;
    *type = CAP_TYPE_EMPTY;
    *rights = 0;
    const struct k_cap *cp = k_slot(k, slot);
    if (cp == NULL)
        return krefuse(k, KERR_RANGE, "no such slot");
    if (!k_slot_named(k, slot))
        kbroken(k, "memd asks about slot %" PRIu64 ", which the envelope does not name", slot);
    if (slot >= MEMD_TRANSFER_SLOT_FIRST && slot < MEMD_TRANSFER_SLOT_END)
        k->queried[slot - MEMD_TRANSFER_SLOT_FIRST] = true;
    ktrace(k, K "%s → %s", desc, k_cap_words(cp));
    *type = cp->type;
    *rights = cp->rights;
    return KERR_OK;
}

uint32_t k_retype(struct kernel *k, uint64_t untyped_slot, uint64_t type,
                  uint64_t first, uint64_t count, const char *desc)
{
    uint64_t us = untyped_slot;
    k->why = NULL;
    /* What seL4 checks, in its order. */
    const struct k_cap *ucap = k_slot(k, us);
    if (ucap == NULL || ucap->type != CAP_TYPE_UNTYPED)
        return krefuse(k, KERR_INVALID_CAP, "the slot holds no untyped capability");
    if ((ucap->rights & CAP_RIGHT_RETYPE) == 0u)
        return krefuse(k, KERR_ILLEGAL_OPERATION, "the untyped capability lacks RETYPE");
    if (type != CAP_TYPE_FRAME)
        return krefuse(k, KERR_INVALID_ARGUMENT, "memd makes frames and nothing else");
    if (count == 0)
        return krefuse(k, KERR_INVALID_ARGUMENT, "zero objects");
    if (count > KERNEL_RETYPE_MAX)
        return krefuse(k, KERR_TOO_MANY, "more objects than one retype makes");
    if (first >= K_SLOTS || count > K_SLOTS - first)
        return krefuse(k, KERR_RANGE, "destination slots outside the capability space");
    for (uint64_t i = 0; i < count; i++) {
        const struct k_cap *d = k_slot(k, first + i);
        if (d == NULL || d->type != CAP_TYPE_EMPTY)
            return krefuse(k, KERR_DELETE_FIRST, "destination slot %" PRIu64 " is occupied",
                           first + i);
    }
    struct k_untyped *u = untyped_of(k, ucap);
    uint64_t size = u != NULL && u->bits < 64u ? (uint64_t)1 << u->bits : 0;
    uint64_t need = count << MEMD_FRAME_BITS;
    if (u != NULL && size - u->watermark < need && u->declared_bits > u->bits &&
        u->declared_bits < 64u && ((uint64_t)1 << u->declared_bits) - u->watermark >= need) {
        /* The envelope declared a larger untyped than the kernel holds.
           memd cannot know (a query tells a slot's type and rights, not
           its size), so this refusal is the kernel's, not memd's fault:
           it is told, and the run goes on. */
        ktrace(k, K "%s → refused: %s (the untyped is smaller than the envelope "
                    "declares: memd cannot know)", desc,
               WORD(kerr_names, KERR_NOT_ENOUGH_MEMORY));
        return KERR_NOT_ENOUGH_MEMORY;
    }
    if (u == NULL || size - u->watermark < need)
        return krefuse(k, KERR_NOT_ENOUGH_MEMORY, "the untyped has too little left");
    /* What the kernel allows but memd has promised not to do. */
    if (!k_slot_named(k, us))
        kbroken(k, "memd spends untyped slot %" PRIu64 ", which the envelope does not give it",
                us);
    if (u->device)
        kbroken(k, "memd retypes device memory (slot %" PRIu64 ") into RAM frames", us);
    else if (!u->described)
        kbroken(k, "memd spends untyped slot %" PRIu64 ", which no untyped entry describes", us);
    if (!in_window(k, first) || !in_window(k, first + count - 1))
        kbroken(k, "memd retypes into slots %" PRIu64 "..%" PRIu64
                   ", outside its runtime window", first, first + count - 1);
    uint64_t from = u->base + u->watermark;
    uint32_t parent = ucap->obj;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t f = new_frame(k, u->base + u->watermark, parent, (uint32_t)(first + i));
        struct k_cap *d = k_slot(k, first + i);
        if (d == NULL)              /* in range: checked above */
            break;
        d->type = CAP_TYPE_FRAME;
        d->rights = CAP_RIGHT_READ | CAP_RIGHT_WRITE;
        d->obj = f;
        u->watermark += MEMD_FRAME_BYTES;
    }
    k->frames_made += (uint32_t)count;
    ktrace(k, K "%s → ok: phys %#" PRIx64 "..%#" PRIx64 ", %" PRIu64 " of %" PRIu64
                " frames of the untyped used", desc, from,
           u->base + u->watermark - 1, u->watermark >> MEMD_FRAME_BITS,
           size >> MEMD_FRAME_BITS);
    return KERR_OK;
}

uint32_t k_revoke(struct kernel *k, uint64_t slot, const char *desc)
{
    k->why = NULL;
    struct k_cap *cp = k_slot(k, slot);
    if (cp == NULL)
        return krefuse(k, KERR_RANGE, "no such slot");
    if (cp->type == CAP_TYPE_EMPTY)
        return krefuse(k, KERR_INVALID_CAP, "the slot is empty");
    if (!k_slot_named(k, slot))
        kbroken(k, "memd revokes slot %" PRIu64 ", which the envelope does not name", slot);
    if (cp->type == CAP_TYPE_FRAME) {
        struct k_frame *fr = &k->frames[cp->obj];
        uint64_t holder = fr->holder;
        if (fr->copies != 0) {
            /* memd may take a frame back only from a holder that gave it
               back, or whose frames rootd reclaimed. */
            struct k_holder *hv = k_holder(k, holder);
            if (fr->given_back)
                fr->given_back = false;
            else if (hv != NULL && hv->reclaimable != 0) {
                hv->reclaimable--;
                view_remove_obj(hv, cp->obj);
            } else
                kbroken(k, "memd revokes %s, which %s holds and has not given back",
                        k_frame_words(k, cp->obj), k_who(holder));
        }
        uint32_t n = fr->copies;
        fr->copies = 0;
        if (n != 0)
            ktrace(k, K "%s (%s) → ok: %s's copy removed", desc, k_frame_words(k, cp->obj),
                   k_who(holder));
        else
            ktrace(k, K "%s (%s) → ok: no copy was alive", desc, k_frame_words(k, cp->obj));
        return KERR_OK;
    }
    if (cp->type == CAP_TYPE_UNTYPED) {
        /* seL4: revoking an untyped destroys every object made from it and
           resets its watermark. */
        struct k_untyped *u = untyped_of(k, cp);
        uint32_t destroyed = 0;
        for (uint32_t f = 0; f < k->nframes; f++) {
            struct k_frame *fr = &k->frames[f];
            if (fr->untyped != cp->obj || fr->slot == K_NONE)
                continue;
            if (fr->copies != 0)
                kbroken(k, "revoking untyped slot %" PRIu64 " destroys %s, which %s still holds",
                        slot, k_frame_words(k, f), k_who(fr->holder));
            fr->copies = 0;
            struct k_cap *held = k_slot(k, fr->slot);
            if (held != NULL) {
                held->type = CAP_TYPE_EMPTY;
                held->rights = 0;
                held->obj = 0;
            }
            fr->slot = K_NONE;
            destroyed++;
        }
        if (u != NULL)
            u->watermark = 0;
        ktrace(k, K "%s → ok: %" PRIu32 " frames made from it destroyed", desc, destroyed);
        return KERR_OK;
    }
    ktrace(k, K "%s (%s) → ok", desc, k_cap_words(cp));
    kbroken(k, "memd revokes its %s capability in slot %" PRIu64
               ": every copy derived from it (clients' badged endpoints) would go",
            WORD(type_names, cp->type), slot);
    return KERR_OK;
}

/* cppcheck-suppress unusedFunction ; tests/kmodel.c uses it */
uint32_t k_delete(struct kernel *k, uint64_t slot, const char *desc)
{
    k->why = NULL;
    struct k_cap *cp = k_slot(k, slot);
    if (cp == NULL)
        return krefuse(k, KERR_RANGE, "no such slot");
    if (!in_window(k, slot))
        kbroken(k, "memd deletes slot %" PRIu64 ", outside its runtime window", slot);
    if (cp->type == CAP_TYPE_FRAME) {
        struct k_frame *fr = &k->frames[cp->obj];
        if (fr->copies != 0)
            kbroken(k, "memd deletes its capability to %s while %s holds a copy: "
                       "it can never revoke that copy", k_frame_words(k, cp->obj),
                    k_who(fr->holder));
        fr->slot = K_NONE;
    }
    ktrace(k, K "%s (%s) → ok", desc, k_cap_words(cp));
    cp->type = CAP_TYPE_EMPTY;
    cp->rights = 0;
    cp->obj = 0;
    return KERR_OK;
}

uint32_t k_clear(struct kernel *k, uint64_t slot, const char *desc)
{
    k->why = NULL;
    const struct k_cap *cp = k_slot(k, slot);
    if (cp == NULL)
        return krefuse(k, KERR_RANGE, "no such slot");
    if (cp->type != CAP_TYPE_FRAME)
        return krefuse(k, KERR_INVALID_CAP, "the slot holds no frame capability");
    if ((cp->rights & CAP_RIGHT_WRITE) == 0u)
        return krefuse(k, KERR_ILLEGAL_OPERATION, "the frame capability lacks WRITE");
    if (!k_slot_named(k, slot))
        kbroken(k, "memd clears slot %" PRIu64 ", which the envelope does not name", slot);
    struct k_frame *fr = &k->frames[cp->obj];
    if (fr->copies != 0) {
        /* The holder may write again the moment after: the clear is worth
           nothing, and memd clears only what it has revoked. */
        ktrace(k, K "%s (%s) → ok, but %s still holds a copy: it stays dirty",
               desc, k_frame_words(k, cp->obj), k_who(fr->holder));
        kbroken(k, "memd clears %s while %s still holds a copy",
                k_frame_words(k, cp->obj), k_who(fr->holder));
    } else {
        fr->dirty = false;
        ktrace(k, K "%s (%s) → ok: zeroed", desc, k_frame_words(k, cp->obj));
    }
    return KERR_OK;
}

uint32_t k_transfer_ok(struct kernel *k, const uint32_t *caps, uint32_t n,
                       uint32_t endpoint_rights)
{
    k->why = NULL;
    if (n > KERNEL_REPLY_CAPS_MAX)
        return krefuse(k, KERR_TOO_MANY, "more capabilities than one reply carries");
    if (n != 0 && (endpoint_rights & CAP_RIGHT_GRANT) == 0u)
        return krefuse(k, KERR_ILLEGAL_OPERATION,
                       "capabilities travel only through an endpoint with GRANT");
    for (uint32_t i = 0; i < n; i++) {
        const struct k_cap *c = k_slot(k, caps[i]);
        if (c == NULL || c->type != CAP_TYPE_FRAME)
            return krefuse(k, KERR_INVALID_CAP, "slot %" PRIu32 " holds no frame", caps[i]);
    }
    return KERR_OK;
}

/* The transfer: each frame goes to the client as a copy of memd's
   capability; the frame must have no other live copy and be clean. */
void k_transfer(struct kernel *k, uint64_t to, const uint32_t *caps, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct k_cap *c = k_slot(k, caps[i]);
        if (c == NULL || c->type != CAP_TYPE_FRAME)   /* k_transfer_ok refuses it */
            continue;
        uint32_t f = c->obj;
        struct k_frame *fr = &k->frames[f];
        if (!in_window(k, caps[i]))
            kbroken(k, "memd hands out slot %" PRIu32 ", outside its runtime window", caps[i]);
        if (fr->copies != 0)
            kbroken(k, "memd hands %s (slot %" PRIu32 ") to %s while %s still holds a copy",
                    k_frame_words(k, f), caps[i], k_who(to), k_who(fr->holder));
        else if (fr->dirty)
            kbroken(k, "memd hands %s (slot %" PRIu32 ") to %s without clearing it since "
                       "its last holder", k_frame_words(k, f), caps[i], k_who(to));
        fr->copies++;
        fr->holder = to;
        fr->dirty = true;
        fr->handed++;
        fr->given_back = false;
    }
}
