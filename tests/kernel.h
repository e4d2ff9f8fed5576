/* tests/kernel.h: the one model of the EriX kernel that memd's tests hold
 * memd to.
 *
 * The model of the kernel's objects and their rules: memd's capability
 * space (typed slots with rights), untyped objects with a watermark,
 * frames with the copies clients hold, endpoints, and what each client
 * holds by memd's replies.  Two drivers use it, and nothing else models
 * the kernel:
 *
 *   - memd-host.c (tangled from memd.nw, chapter "Host builds") maps the
 *     core's kernel interface, memd_k_*, onto it, for the host tests, the
 *     fuzzers and the benchmark;
 *   - tests/kmodel.c decodes the real image's system calls from its
 *     registers under ptrace and carries each out here.
 *
 * So a host test is held to every rule and every promise the image is
 * held to.  An operation returns the KERR_* code the kernel answers.  A
 * refusal that memd should have foreseen (it checks what it asks before
 * asking) leaves its reason in k->why; a refusal memd cannot foresee
 * leaves k->why NULL.  What the kernel allows but breaks one of memd's
 * promises (a frame handed out while a copy of it lives, a clear of a
 * frame a client still holds, a revoke of a frame its holder never gave
 * back...) is reported through k->broken, whatever the driver does with
 * it.  Every name and number comes from memd-abi.h, tangled from memd.nw.
 */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memd-abi.h"

#define K_SLOTS MEMD_CSPACE_SLOTS      /* the slots of memd's space */
#define K_MAX_UNTYPED 64u
#define K_MAX_HOLDERS 64u              /* badges whose frames the model follows */
#define K_MAX_FREE 1024u               /* frames one request may name */
#define K_FRAME_NUMBERS MEMD_CSPACE_SLOTS  /* frame numbers the model follows */
#define K_CHUNK 4096u                  /* entries of a sparse table's chunk */
#define K_NONE UINT32_MAX

/* Which endpoint a capability names: the kernel's fact, fixed by the
   ABI's slots (memd serves on slot 2224 and reports on slot 2225). */
enum k_endpoint { K_EP_NONE, K_EP_MEM, K_EP_READY, K_EP_OTHER };

struct k_cap {
    uint32_t gen;             /* valid only if equal to kernel.gen */
    uint8_t type;
    uint8_t rights;
    uint32_t obj;             /* untyped, frame: index; endpoint: k_endpoint */
};

struct k_untyped {
    uint32_t slot;
    uint64_t base;
    uint32_t bits;            /* its real size, 2^bits bytes */
    uint32_t declared_bits;   /* the size the envelope declares for it */
    bool device;
    bool described;           /* the envelope's untyped table names it as RAM */
    uint64_t watermark;       /* bytes retyped so far */
};

struct k_frame {
    uint64_t phys;
    uint32_t untyped;         /* its parent untyped, or K_NONE */
    uint32_t slot;            /* memd's slot holding it; K_NONE if deleted */
    uint32_t copies;          /* copies alive in clients' spaces */
    uint64_t holder;          /* the badge holding the copy */
    bool dirty;               /* a client may have written to it */
    uint32_t number;          /* memd's name for it; K_NONE until named */
    uint32_t handed;          /* how many times it went to a client */
    bool given_back;          /* its holder sent a free naming it */
};

struct k_holder {             /* what a client believes it holds */
    bool departed;
    uint32_t reclaimable;     /* frames rootd's reclaims let memd take back */
    uint32_t n, cap;
    uint32_t *frames;         /* frame numbers, in the order received */
    uint32_t *objs;           /* the frame objects the caps named */
};

struct k_number { uint32_t gen, frame1; };  /* frame number -> frame + 1 */

struct kernel {
    uint32_t gen;
    struct k_cap **cspace;            /* K_SLOTS slots, in chunks */
    struct k_number **by_number;      /* K_FRAME_NUMBERS, in chunks */
    uint32_t nuntyped;
    struct k_untyped untyped[K_MAX_UNTYPED];
    uint32_t nframes, cap_frames;
    struct k_frame *frames;
    uint32_t frames_made;             /* frames memd retyped */
    /* the envelope, when the driver knows it */
    bool envelope_known;
    uint32_t window_base, window_count;
    bool named[MEMD_TRANSFER_SLOT_COUNT];    /* slots the envelope names */
    bool queried[MEMD_TRANSFER_SLOT_COUNT];  /* ... memd asked about */
    struct k_holder holder[K_MAX_HOLDERS];
    /* the request memd is serving */
    uint64_t from;
    uint32_t sent_op, sent_arg, nfree;
    uint32_t sent_free[K_MAX_FREE];
    /* what the last operation said */
    const char *why;
    char why_buf[160];
    /* the driver's */
    void (*trace)(void *ctx, const char *line);   /* may be NULL */
    void (*broken)(void *ctx, const char *what);
    void *ctx;
};

/* Setting up. */
void k_init(struct kernel *k);
void k_reset(struct kernel *k);
void k_release(struct kernel *k);
struct k_cap *k_slot(struct kernel *k, uint64_t slot);
uint32_t k_put(struct kernel *k, uint64_t slot, uint32_t type, uint32_t rights);
uint32_t k_put_frame(struct kernel *k, uint64_t slot, uint32_t rights,
                     uint64_t phys);
uint32_t k_put_untyped(struct kernel *k, uint64_t slot, uint32_t rights,
                       uint64_t base, uint32_t bits, uint32_t declared_bits,
                       bool device, bool described);
void k_window(struct kernel *k, uint32_t base, uint32_t count);
void k_name(struct kernel *k, uint64_t slot);

/* The kernel's operations on memd's space; desc is the call, for the
   trace and for what is reported. */
uint32_t k_query(struct kernel *k, uint64_t slot, const char *desc,
                 uint32_t *type, uint32_t *rights);
uint32_t k_retype(struct kernel *k, uint64_t untyped_slot, uint64_t type,
                  uint64_t first, uint64_t count, const char *desc);
uint32_t k_revoke(struct kernel *k, uint64_t slot, const char *desc);
uint32_t k_delete(struct kernel *k, uint64_t slot, const char *desc);
uint32_t k_clear(struct kernel *k, uint64_t slot, const char *desc);

/* A reply's capabilities: k_transfer_ok checks what the kernel checks
   (KERR_INVALID_CAP unless every slot holds a frame); k_transfer hands
   the copies to `to`, holding memd to its promises about them. */
uint32_t k_transfer_ok(struct kernel *k, const uint32_t *caps, uint32_t n,
                       uint32_t endpoint_rights);
void k_transfer(struct kernel *k, uint64_t to, const uint32_t *caps,
                uint32_t n);

/* The clients' side: a request memd received, and memd's reply to it
   (delivered: bytes and caps), update what each client holds and what it
   has given back. */
void k_request(struct kernel *k, uint64_t from, const uint8_t *m,
               uint32_t len);
void k_replied(struct kernel *k, const uint8_t *m, uint32_t len,
               const uint32_t *caps, uint32_t ncaps);
void k_reply_lost(struct kernel *k);

/* Reading the state. */
bool k_window_has(const struct kernel *k, uint64_t slot);
bool k_slot_named(const struct kernel *k, uint64_t slot);
struct k_holder *k_holder(struct kernel *k, uint64_t badge);
uint32_t k_live_copies(const struct kernel *k, uint64_t badge);
const char *k_frame_words(const struct kernel *k, uint32_t f);
const char *k_cap_words(const struct k_cap *c);
const char *k_who(uint64_t badge);     /* rootd, unbadged, client N */

#endif /* KERNEL_H */
