/* tests/kmodel.h: what the parts of the kernel model share.
 *
 * tests/kmodel-names.c holds the ABI's names; tests/kmodel-scenario.c
 * reads scenario files into a struct scenario; tests/kmodel-reply.c
 * decodes and checks memd's replies; tests/kmodel.c boots the image and
 * plays the scenario as the EriX kernel (tests/kernel.c: the kernel's
 * objects and rules, kernel.h), rootd and memd's clients.  tests/kmodel.c
 * says what the model is for.
 */
#ifndef KMODEL_H
#define KMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memd-abi.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ----------------------------------------------------------------------
 * The ABI's names (kmodel-scenario.c): every constant a scenario or the
 * trace names, with the value the ABI header gives it.
 * ---------------------------------------------------------------------- */

struct name {
    const char *abi;      /* the header's name */
    const char *word;     /* the scenario's and the trace's word for it */
    uint64_t value;
};

struct name_table {
    const char *what;
    const struct name *names;
    size_t count;
};

extern const struct name status_names[], kerr_names[], result_names[],
    field_names[], op_names[], sys_names[], type_names[], right_names[],
    use_names[];
extern const size_t status_names_count, kerr_names_count, result_names_count,
    field_names_count, op_names_count, sys_names_count, type_names_count,
    right_names_count, use_names_count;
extern const struct name_table all_tables[];
extern const size_t all_tables_count;

const char *name_of(const struct name *t, size_t n, uint64_t v);
bool value_of(const struct name *t, size_t n, const char *s, uint64_t *v);
char *ring_buf(void);
void appendf(char *buf, size_t n, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *word_or_number(const struct name *t, size_t n, uint64_t v);
const char *status_word(uint32_t st);
const char *rights_word(uint32_t rights);

#define NAME_OF(t, v) name_of(t, t##_count, (uint64_t)(v))
#define VALUE_OF(t, s, v) value_of(t, t##_count, s, v)
#define WORD(t, v) word_or_number(t, t##_count, (uint64_t)(v))

void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
bool parse_u64(const char *s, uint64_t *v);

/* ----------------------------------------------------------------------
 * Scenarios.  A scenario is the boot state (the startup frame and
 * envelope rootd hands memd, and the capabilities the kernel really holds
 * in memd's slots) and a script: messages from rootd and clients, each
 * with the reply expected, and checks of the kernel's state in between.
 * tests/scenarios/README.md is the reference of the format.
 * ---------------------------------------------------------------------- */

#define MAX_SLOTS 256u        /* slot lines: more than the envelope allows */
#define MAX_UNTYPED 64u
#define MAX_CLIENTS 64u
#define MAX_POKES 32u
#define MAX_INJECT 16u
#define MAX_LIST 1024u        /* frames in one expectation or free */
#define MAX_KV 24u
#define MAX_RECORDS 40u
#define MAX_BADGES 64u        /* badges whose frames the model follows */
#define FRAME_NUMBERS MEMD_CSPACE_SLOTS  /* frame numbers the model can follow */

struct opt { bool set; uint64_t v; };

struct scn_slot {
    uint32_t slot;
    uint64_t use, type, rights, reserved;
    bool listed;              /* in the envelope's slot table */
    bool real;                /* the kernel holds a capability there */
    uint64_t real_type, real_rights;
    struct opt answer_type, answer_rights;  /* what a query of it puts in rdx,
                                               r8: all 64 bits, whatever it holds */
};

struct scn_untyped {
    uint64_t base, slot, bits, flags, reserved;
    uint64_t real_bits;       /* the kernel object's real size */
    bool unlisted;            /* the kernel's only: not in the envelope */
};

struct scn_client {
    uint64_t badge, frames, slots, reserved;
};

struct scn_poke {
    bool envelope;            /* offset from the envelope, else the frame */
    uint32_t offset, len;
    uint8_t bytes[64];
};

struct scn_inject {
    uint32_t sys;             /* a SYS_* number */
    uint32_t nth;             /* the nth call of it (1-based) fails */
    uint64_t kerr;            /* what rax says: not KERR_OK, and it may be
                                 wider than 32 bits, which no KERR_* is */
};

enum msg_kind { MSG_ALLOC, MSG_FREE, MSG_STATS, MSG_RECLAIM, MSG_RAW };

struct kv { char key[24]; uint64_t value; };

struct record_expect { uint64_t badge; uint32_t nkv; struct kv kv[4]; };

struct expect {
    bool lost;                /* the reply fails in the kernel: nothing arrives */
    uint64_t result;
    uint32_t nkv;
    struct kv kv[MAX_KV];
    bool frames_set, slots_set;
    uint32_t nframes, nslots;
    uint32_t *frames, *slots;
    uint32_t nrecords;
    struct record_expect record[MAX_RECORDS];
};

enum step_kind { STEP_MSG, STEP_CHECK, STEP_DEPART, STEP_RETURN };

enum check_kind { CHECK_HOLDS, CHECK_COPIES, CHECK_CALLS, CHECK_UNTYPED_USED,
                  CHECK_FRAMES_MADE, CHECK_FRAME_IN_UNTYPED, CHECK_FRAME_AT };

struct step {
    enum step_kind kind;
    unsigned line;
    uint64_t badge;
    /* a message */
    enum msg_kind msg;
    uint32_t nargs;
    uint32_t *args;           /* ALLOC count, FREE frames, RECLAIM badge, RAW bytes */
    bool free_held;           /* FREE: every frame the client holds */
    struct opt m_op, m_version, m_reserved, m_count, m_pad, m_cut;
    bool has_expect;
    struct expect ex;
    /* a check */
    enum check_kind check;
    uint64_t c_arg, c_arg2, c_want;
};

struct scenario {
    const char *path;
    char title[200];
    bool twice;
    /* the startup frame */
    struct opt f_magic, f_major, f_minor, f_size, f_env_offset, f_env_size,
        f_reserved;
    bool f_at_set, f_at_top;  /* at=ADDR, or at=top-N */
    uint64_t f_at;
    /* the metadata region (envelope's meta_base, meta_size): by default
       the model's choice, mapped; a metadata line sets either by hand */
    bool meta_none;           /* metadata none: both fields zero */
    struct opt meta_base, meta_size;
    /* the envelope header */
    struct opt e_magic, e_major, e_minor, e_size, e_role, e_flags, e_reply,
        e_wbase, e_wcount, e_nslots, e_nuntyped, e_nclients, e_res0, e_res1;
    uint32_t nslots, nuntyped, nclients, npokes, ninject;
    struct scn_slot slot[MAX_SLOTS];
    struct scn_untyped untyped[MAX_UNTYPED];
    struct scn_client client[MAX_CLIENTS];
    struct scn_poke poke[MAX_POKES];
    struct scn_inject inject[MAX_INJECT];
    uint64_t ready_answer;    /* the KERR_* rootd's side gives the report */
    /* what startup must end in */
    bool startup_set;
    bool startup_unreported;  /* memd halts with startup_status, reporting nothing */
    uint64_t startup_status;
    struct opt startup_detail;
    /* the script */
    uint32_t nsteps, cap_steps;
    struct step *steps;
};

void parse_scenario(const char *path, struct scenario *s);

/* ----------------------------------------------------------------------
 * The reply checker (kmodel-reply.c): memd's replies decoded by the ABI's
 * layouts, checked for shape, and compared with the scenario.
 * ---------------------------------------------------------------------- */

struct decoded {
    uint32_t nkv;
    struct kv kv[MAX_KV];
    uint32_t nframes;
    uint32_t frames[MEMD_ALLOC_MAX + 1];
    uint32_t nrecords;
    struct memd_stats_client record[MEMD_ENV_MAX_CLIENTS + 1];
};

struct reply_check {
    uint32_t sent_op, sent_len;   /* the request being answered */
    unsigned line;                /* its line of the scenario */
    void (*fail)(void *ctx, const char *what);
    void *ctx;
};

bool decode_reply(const struct reply_check *ck, const uint8_t *m, uint32_t len,
                  uint32_t ncaps, struct decoded *d, char *text, size_t n);
void check_expect(const struct reply_check *ck, const struct expect *ex,
                  const struct decoded *d, const uint32_t *caps, uint32_t ncaps);
const struct kv *find_kv(const struct kv *kv, uint32_t n, const char *key);

#endif /* KMODEL_H */
