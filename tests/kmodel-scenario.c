/* tests/kmodel-scenario.c: the kernel model's reader of scenarios.
 * tests/scenarios/README.md is the reference of the format; tests/kmodel.c
 * plays what this file reads, with the names of tests/kmodel-names.c.
 */
#define _GNU_SOURCE  // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): glibc's switch for strtok_r
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmodel.h"

/* --- the parser ------------------------------------------------------- */

struct parser {
    struct scenario *s;
    const char *file;
    unsigned line;
    int repeat_depth;
    uint32_t repeat_start, repeat_times;
    unsigned repeat_line;
};

static void scn_error(const struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void scn_error(const struct parser *p, const char *fmt, ...)
{
    va_list ap;
    (void)fprintf(stderr, "%s:%u: ", p->file, p->line);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    exit(2);
}

static uint64_t num(const struct parser *p, const char *s, const char *what)
{
    uint64_t v;
    if (!parse_u64(s, &v))
        scn_error(p, "%s: not a number: '%s'", what, s != NULL ? s : "");
    return v;
}

static uint64_t named(const struct parser *p, const struct name *t, size_t n,
                      const char *s, const char *what)
{
    uint64_t v;
    if (s == NULL)
        scn_error(p, "%s missing", what);
    if (value_of(t, n, s, &v) || parse_u64(s, &v))
        return v;
    scn_error(p, "unknown %s '%s'", what, s);
}

#define NAMED_ARG(p, t, s, what) named(p, t, t##_count, s, what)

/* Rights: words joined by '+' ("read+write"), "none", or a number. */
static uint64_t rights_arg(const struct parser *p, const char *s)
{
    uint64_t v = 0, bit;
    if (s == NULL)
        scn_error(p, "rights missing");
    if (strcmp(s, "none") == 0)
        return 0;
    if (parse_u64(s, &v))
        return v;
    char buf[128];
    (void)snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *w = strtok_r(buf, "+", &save); w != NULL;
         w = strtok_r(NULL, "+", &save)) {
        if (!VALUE_OF(right_names, w, &bit))
            scn_error(p, "unknown right '%s'", w);
        v |= bit;
    }
    return v;
}

/* key=value: split in place; returns the value, or NULL if no '='. */
static char *split_kv(char *tok)
{
    char *eq = strchr(tok, '=');
    if (eq == NULL)
        return NULL;
    *eq = '\0';
    return eq + 1;
}

static void set_opt(const struct parser *p, struct opt *o, const char *v,
                    const char *key)
{
    o->set = true;
    o->v = num(p, v, key);
}

static struct step *new_step(struct parser *p, enum step_kind kind)
{
    struct scenario *s = p->s;
    if (s->nsteps == s->cap_steps) {
        s->cap_steps = s->cap_steps != 0 ? 2 * s->cap_steps : 64;
        s->steps = xrealloc(s->steps, s->cap_steps * sizeof *s->steps);
    }
    struct step *st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->line = p->line;
    return st;
}

static uint32_t *list_alloc(void)
{
    return xcalloc(MAX_LIST, sizeof(uint32_t));
}

static void parse_envelope(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    for (int i = 1; i < n; i++) {
        char *v = split_kv(tok[i]);
        const char *k = tok[i];
        if (v == NULL)
            scn_error(p, "envelope: expected KEY=VALUE, got '%s'", k);
        if (strcmp(k, "window") == 0) {
            char *plus = strchr(v, '+');
            if (plus == NULL)
                scn_error(p, "window=FIRST+COUNT expected");
            *plus = '\0';
            set_opt(p, &s->e_wbase, v, k);
            set_opt(p, &s->e_wcount, plus + 1, k);
        } else if (strcmp(k, "role") == 0) {
            char up[64];
            size_t j;
            for (j = 0; v[j] != '\0' && j + 1 < sizeof up; j++)
                up[j] = (char)(v[j] >= 'a' && v[j] <= 'z' ? v[j] - 32 : v[j]);
            up[j] = '\0';
            s->e_role.set = true;
            if (strcmp(up, "MEMD") == 0)
                s->e_role.v = MEMD_ROLE_MEMD;
            else if (strcmp(up, "VSPACED") == 0)
                s->e_role.v = MEMD_ROLE_VSPACED;
            else if (strcmp(up, "PAGERD") == 0)
                s->e_role.v = MEMD_ROLE_PAGERD;
            else if (strcmp(up, "PROCD") == 0)
                s->e_role.v = MEMD_ROLE_PROCD;
            else
                s->e_role.v = num(p, v, k);
        } else {
            static const struct { const char *key; size_t off; } keys[] = {
                { "magic", offsetof(struct scenario, e_magic) },
                { "major", offsetof(struct scenario, e_major) },
                { "minor", offsetof(struct scenario, e_minor) },
                { "size", offsetof(struct scenario, e_size) },
                { "flags", offsetof(struct scenario, e_flags) },
                { "reply-slot", offsetof(struct scenario, e_reply) },
                { "window-base", offsetof(struct scenario, e_wbase) },
                { "window-count", offsetof(struct scenario, e_wcount) },
                { "slot-count", offsetof(struct scenario, e_nslots) },
                { "untyped-count", offsetof(struct scenario, e_nuntyped) },
                { "client-count", offsetof(struct scenario, e_nclients) },
                { "reserved0", offsetof(struct scenario, e_res0) },
                { "reserved1", offsetof(struct scenario, e_res1) },
            };
            size_t j;
            for (j = 0; j < ARRAY_LEN(keys); j++) {
                if (strcmp(k, keys[j].key) == 0) {
                    set_opt(p, (struct opt *)(void *)((char *)s + keys[j].off),
                            v, k);
                    break;
                }
            }
            if (j == ARRAY_LEN(keys))
                scn_error(p, "envelope: unknown key '%s'", k);
        }
    }
}

static void parse_frame(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    for (int i = 1; i < n; i++) {
        char *v = split_kv(tok[i]);
        const char *k = tok[i];
        if (v == NULL)
            scn_error(p, "frame: expected KEY=VALUE, got '%s'", k);
        if (strcmp(k, "at") == 0) {
            s->f_at_set = true;
            if (strncmp(v, "top-", 4) == 0) {
                s->f_at_top = true;
                s->f_at = num(p, v + 4, k);
            } else {
                s->f_at_top = false;
                s->f_at = num(p, v, k);
            }
        } else if (strcmp(k, "magic") == 0) {
            set_opt(p, &s->f_magic, v, k);
        } else if (strcmp(k, "major") == 0) {
            set_opt(p, &s->f_major, v, k);
        } else if (strcmp(k, "minor") == 0) {
            set_opt(p, &s->f_minor, v, k);
        } else if (strcmp(k, "size") == 0) {
            set_opt(p, &s->f_size, v, k);
        } else if (strcmp(k, "env-offset") == 0) {
            set_opt(p, &s->f_env_offset, v, k);
        } else if (strcmp(k, "env-size") == 0) {
            set_opt(p, &s->f_env_size, v, k);
        } else if (strcmp(k, "reserved") == 0) {
            set_opt(p, &s->f_reserved, v, k);
        } else {
            scn_error(p, "frame: unknown key '%s'", k);
        }
    }
}

static struct scn_slot *slot_line(struct parser *p, uint32_t slot)
{
    struct scenario *s = p->s;
    for (uint32_t i = 0; i < s->nslots; i++) {
        if (s->slot[i].slot == slot)
            return &s->slot[i];   /* a later line replaces an earlier one */
    }
    if (s->nslots == MAX_SLOTS)
        scn_error(p, "too many slot lines");
    struct scn_slot *e = &s->slot[s->nslots++];
    memset(e, 0, sizeof *e);
    e->slot = slot;
    return e;
}

/* slot SLOT USE TYPE RIGHTS [reserved=N] [real=TYPE:RIGHTS | real=empty]
        [answer-type=N] [answer-rights=N] */
static void parse_slot(struct parser *p, char **tok, int n)
{
    if (n < 5)
        scn_error(p, "slot SLOT USE TYPE RIGHTS [reserved=N] [real=TYPE:RIGHTS|empty] "
                     "[answer-type=N] [answer-rights=N]");
    uint64_t slot = num(p, tok[1], "slot");
    if (slot > UINT32_MAX)
        scn_error(p, "slot out of range");
    struct scn_slot *e = slot_line(p, (uint32_t)slot);
    e->use = NAMED_ARG(p, use_names, tok[2], "use");
    e->type = NAMED_ARG(p, type_names, tok[3], "type");
    e->rights = rights_arg(p, tok[4]);
    e->reserved = 0;
    e->answer_type.set = e->answer_rights.set = false;
    e->listed = true;
    e->real = true;
    e->real_type = e->type;
    e->real_rights = e->rights;
    for (int i = 5; i < n; i++) {
        char *v = split_kv(tok[i]);
        if (v == NULL)
            scn_error(p, "slot: expected KEY=VALUE, got '%s'", tok[i]);
        if (strcmp(tok[i], "reserved") == 0) {
            e->reserved = num(p, v, "reserved");
        } else if (strcmp(tok[i], "answer-type") == 0) {
            set_opt(p, &e->answer_type, v, "answer-type");
        } else if (strcmp(tok[i], "answer-rights") == 0) {
            set_opt(p, &e->answer_rights, v, "answer-rights");
        } else if (strcmp(tok[i], "real") == 0) {
            if (strcmp(v, "empty") == 0) {
                e->real = false;
                continue;
            }
            char *colon = strchr(v, ':');
            if (colon == NULL)
                scn_error(p, "real=TYPE:RIGHTS or real=empty");
            *colon = '\0';
            e->real_type = NAMED_ARG(p, type_names, v, "type");
            e->real_rights = rights_arg(p, colon + 1);
        } else {
            scn_error(p, "slot: unknown key '%s'", tok[i]);
        }
    }
}

/* cap SLOT TYPE RIGHTS: a capability memd holds that the envelope does not
   name. */
static void parse_cap(struct parser *p, char **tok, int n)
{
    if (n != 4)
        scn_error(p, "cap SLOT TYPE RIGHTS");
    uint64_t slot = num(p, tok[1], "slot");
    if (slot > UINT32_MAX)
        scn_error(p, "slot out of range");
    struct scn_slot *e = slot_line(p, (uint32_t)slot);
    e->listed = false;
    e->real = true;
    e->real_type = NAMED_ARG(p, type_names, tok[2], "type");
    e->real_rights = rights_arg(p, tok[3]);
}

static void parse_untyped(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (n < 2)
        scn_error(p, "untyped SLOT base=ADDR bits=N [device] [flags=N] [reserved=N] [real-bits=N]");
    uint64_t slot = num(p, tok[1], "slot");
    struct scn_untyped *u = NULL;
    for (uint32_t i = 0; i < s->nuntyped && u == NULL; i++) {
        if (s->untyped[i].slot == slot)
            u = &s->untyped[i];   /* a later line replaces an earlier one */
    }
    if (u == NULL) {
        if (s->nuntyped == MAX_UNTYPED)
            scn_error(p, "too many untyped lines");
        u = &s->untyped[s->nuntyped++];
    }
    memset(u, 0, sizeof *u);
    u->slot = slot;
    bool bits_set = false, real_set = false;
    for (int i = 2; i < n; i++) {
        if (strcmp(tok[i], "device") == 0) {
            u->flags |= MEMD_UNTYPED_DEVICE;
            continue;
        }
        if (strcmp(tok[i], "unlisted") == 0) {
            u->unlisted = true;
            continue;
        }
        char *v = split_kv(tok[i]);
        if (v == NULL)
            scn_error(p, "untyped: expected KEY=VALUE, got '%s'", tok[i]);
        if (strcmp(tok[i], "base") == 0) {
            u->base = num(p, v, "base");
        } else if (strcmp(tok[i], "bits") == 0) {
            u->bits = num(p, v, "bits");
            bits_set = true;
        } else if (strcmp(tok[i], "flags") == 0) {
            u->flags = num(p, v, "flags");
        } else if (strcmp(tok[i], "reserved") == 0) {
            u->reserved = num(p, v, "reserved");
        } else if (strcmp(tok[i], "real-bits") == 0) {
            u->real_bits = num(p, v, "real-bits");
            real_set = true;
        } else {
            scn_error(p, "untyped: unknown key '%s'", tok[i]);
        }
    }
    if (!bits_set)
        scn_error(p, "untyped: bits=N missing");
    if (!real_set)
        u->real_bits = u->bits;
    if (u->real_bits > MEMD_UNTYPED_MAX_BITS)
        scn_error(p, "untyped: the model holds regions up to 2^%u bytes",
                  MEMD_UNTYPED_MAX_BITS);
}

static void parse_client_entry(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (s->nclients == MAX_CLIENTS)
        scn_error(p, "too many client lines");
    if (n < 2)
        scn_error(p, "client: which badge?");
    struct scn_client *c = &s->client[s->nclients++];
    memset(c, 0, sizeof *c);
    c->badge = num(p, tok[1], "badge");
    bool f = false, sl = false;
    for (int i = 2; i < n; i++) {
        char *v = split_kv(tok[i]);
        if (v == NULL)
            scn_error(p, "client BADGE frames=N slots=N [reserved=N]");
        if (strcmp(tok[i], "frames") == 0) {
            c->frames = num(p, v, "frames");
            f = true;
        } else if (strcmp(tok[i], "slots") == 0) {
            c->slots = num(p, v, "slots");
            sl = true;
        } else if (strcmp(tok[i], "reserved") == 0) {
            c->reserved = num(p, v, "reserved");
        } else {
            scn_error(p, "client: unknown key '%s'", tok[i]);
        }
    }
    if (!f || !sl)
        scn_error(p, "client BADGE frames=N slots=N: both budgets are needed");
}

static bool is_verb(const char *w)
{
    return strcmp(w, "alloc") == 0 || strcmp(w, "free") == 0 ||
           strcmp(w, "stats") == 0 || strcmp(w, "reclaim") == 0 ||
           strcmp(w, "raw") == 0 || strcmp(w, "departs") == 0 ||
           strcmp(w, "returns") == 0;
}

/* SENDER VERB ARGS... [op=N] [version=N] [reserved=N] [count=N] [pad=N] [cut=N] */
static void parse_message(struct parser *p, uint64_t badge, char **tok, int n)
{
    const char *verb = tok[0];
    bool departs = strcmp(verb, "departs") == 0;
    if (departs || strcmp(verb, "returns") == 0) {   /* a client's life, no message */
        if (n != 1)
            scn_error(p, departs ? "client B departs" : "client B returns");
        struct step *st = new_step(p, departs ? STEP_DEPART : STEP_RETURN);
        st->badge = badge;
        return;
    }
    struct step *st = new_step(p, STEP_MSG);
    st->badge = badge;
    st->args = list_alloc();
    if (strcmp(verb, "alloc") == 0)
        st->msg = MSG_ALLOC;
    else if (strcmp(verb, "free") == 0)
        st->msg = MSG_FREE;
    else if (strcmp(verb, "stats") == 0)
        st->msg = MSG_STATS;
    else if (strcmp(verb, "reclaim") == 0)
        st->msg = MSG_RECLAIM;
    else
        st->msg = MSG_RAW;
    for (int i = 1; i < n; i++) {
        char *v = split_kv(tok[i]);
        if (v != NULL) {
            const char *k = tok[i];
            if (strcmp(k, "op") == 0)
                set_opt(p, &st->m_op, v, k);
            else if (strcmp(k, "version") == 0)
                set_opt(p, &st->m_version, v, k);
            else if (strcmp(k, "reserved") == 0)
                set_opt(p, &st->m_reserved, v, k);
            else if (strcmp(k, "count") == 0)
                set_opt(p, &st->m_count, v, k);
            else if (strcmp(k, "pad") == 0)
                set_opt(p, &st->m_pad, v, k);
            else if (strcmp(k, "cut") == 0)
                set_opt(p, &st->m_cut, v, k);
            else
                scn_error(p, "message: unknown key '%s'", k);
            continue;
        }
        if (st->msg == MSG_FREE && strcmp(tok[i], "held") == 0) {
            st->free_held = true;
            continue;
        }
        if (st->nargs == MAX_LIST)
            scn_error(p, "too many arguments");
        uint64_t a = num(p, tok[i], "argument");
        if (st->msg == MSG_RAW ? a > 0xFFu : a > UINT32_MAX)
            scn_error(p, "argument out of range: %s", tok[i]);
        st->args[st->nargs++] = (uint32_t)a;
    }
    switch (st->msg) {
    case MSG_ALLOC:
    case MSG_RECLAIM:
        if (st->nargs != 1)
            scn_error(p, "%s takes one number", verb);
        break;
    case MSG_STATS:
        if (st->nargs != 0)
            scn_error(p, "stats takes no number");
        break;
    case MSG_FREE:
        if (st->free_held && st->nargs != 0)
            scn_error(p, "free held, or free N...: not both");
        break;
    case MSG_RAW:
        if (st->nargs > IPC_MSG_BUFFER_BYTES)
            scn_error(p, "a message holds at most %u bytes", IPC_MSG_BUFFER_BYTES);
        break;
    }
}

static void parse_kv_into(struct parser *p, struct kv *kv, uint32_t *nkv,
                          uint32_t max, const char *k, const char *v)
{
    if (*nkv == max)
        scn_error(p, "too many fields");
    struct kv *e = &kv[(*nkv)++];
    (void)snprintf(e->key, sizeof e->key, "%s", k);
    if (strcmp(k, "field") == 0)
        e->value = NAMED_ARG(p, field_names, v, "field");
    else if (strcmp(k, "op") == 0)
        e->value = NAMED_ARG(p, op_names, v, "op");
    else
        e->value = num(p, v, k);
}

/* expect RESULT [KEY=VALUE...] [frames N...] [slots N...] */
static void parse_expect(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (s->nsteps == 0 || s->steps[s->nsteps - 1].kind != STEP_MSG ||
        s->steps[s->nsteps - 1].has_expect)
        scn_error(p, "expect must follow a message");
    if (n < 2)
        scn_error(p, "expect RESULT ...");
    struct step *st = &s->steps[s->nsteps - 1];
    struct expect *ex = &st->ex;
    st->has_expect = true;
    if (strcmp(tok[1], "lost") == 0) {   /* the kernel fails memd's reply */
        if (n != 2)
            scn_error(p, "expect lost: nothing else can be expected of a lost reply");
        ex->lost = true;
        return;
    }
    ex->result = NAMED_ARG(p, result_names, tok[1], "result");
    uint32_t *list = NULL, *nlist = NULL;
    for (int i = 2; i < n; i++) {
        if (strcmp(tok[i], "frames") == 0) {
            ex->frames_set = true;
            ex->frames = list_alloc();
            list = ex->frames;
            nlist = &ex->nframes;
            continue;
        }
        if (strcmp(tok[i], "slots") == 0) {
            ex->slots_set = true;
            ex->slots = list_alloc();
            list = ex->slots;
            nlist = &ex->nslots;
            continue;
        }
        char *v = split_kv(tok[i]);
        if (v != NULL) {
            parse_kv_into(p, ex->kv, &ex->nkv, MAX_KV, tok[i], v);
            list = NULL;
            continue;
        }
        if (list == NULL || nlist == NULL)
            scn_error(p, "expect: '%s' is neither KEY=VALUE nor in a list", tok[i]);
        if (*nlist == MAX_LIST)
            scn_error(p, "too many numbers");
        uint64_t x = num(p, tok[i], "list element");
        if (x > UINT32_MAX)
            scn_error(p, "out of range: %s", tok[i]);
        list[(*nlist)++] = (uint32_t)x;
    }
}

/* expect-record BADGE KEY=VALUE... */
static void parse_expect_record(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (s->nsteps == 0 || !s->steps[s->nsteps - 1].has_expect)
        scn_error(p, "expect-record must follow an expect");
    struct expect *ex = &s->steps[s->nsteps - 1].ex;
    if (n < 2)
        scn_error(p, "expect-record BADGE KEY=VALUE...");
    if (ex->nrecords == MAX_RECORDS)
        scn_error(p, "too many records");
    struct record_expect *r = &ex->record[ex->nrecords++];
    r->badge = num(p, tok[1], "badge");
    for (int i = 2; i < n; i++) {
        char *v = split_kv(tok[i]);
        if (v == NULL)
            scn_error(p, "expect-record: KEY=VALUE expected");
        if (strcmp(tok[i], "held") != 0 && strcmp(tok[i], "frame-budget") != 0 &&
            strcmp(tok[i], "slot-budget") != 0)
            scn_error(p, "expect-record: keys are held, frame-budget, slot-budget");
        parse_kv_into(p, r->kv, &r->nkv, 4, tok[i], v);
    }
}

/* check client B holds N | check client B copies N | check calls SYS N |
   check untyped SLOT used N | check frames-made N |
   check client B frame N in-untyped SLOT | check client B frame N at ADDR */
static void parse_check(struct parser *p, char **tok, int n)
{
    struct step *st = new_step(p, STEP_CHECK);
    if (n == 5 && strcmp(tok[1], "client") == 0 &&
        (strcmp(tok[3], "holds") == 0 || strcmp(tok[3], "copies") == 0)) {
        st->check = strcmp(tok[3], "holds") == 0 ? CHECK_HOLDS : CHECK_COPIES;
        st->c_arg = num(p, tok[2], "badge");
        st->c_want = num(p, tok[4], "count");
    } else if (n == 4 && strcmp(tok[1], "calls") == 0) {
        st->check = CHECK_CALLS;
        st->c_arg = NAMED_ARG(p, sys_names, tok[2], "system call");
        st->c_want = num(p, tok[3], "count");
    } else if (n == 5 && strcmp(tok[1], "untyped") == 0 &&
               strcmp(tok[3], "used") == 0) {
        st->check = CHECK_UNTYPED_USED;
        st->c_arg = num(p, tok[2], "slot");
        st->c_want = num(p, tok[4], "frames");
    } else if (n == 3 && strcmp(tok[1], "frames-made") == 0) {
        st->check = CHECK_FRAMES_MADE;
        st->c_want = num(p, tok[2], "count");
    } else if (n == 7 && strcmp(tok[1], "client") == 0 && strcmp(tok[3], "frame") == 0 &&
               (strcmp(tok[5], "in-untyped") == 0 || strcmp(tok[5], "at") == 0)) {
        st->check = strcmp(tok[5], "at") == 0 ? CHECK_FRAME_AT : CHECK_FRAME_IN_UNTYPED;
        st->c_arg = num(p, tok[2], "badge");
        st->c_arg2 = num(p, tok[4], "frame");
        st->c_want = num(p, tok[6], "slot");
    } else {
        scn_error(p, "check client B holds N | check client B copies N | "
                     "check calls SYS N | check untyped SLOT used N | "
                     "check frames-made N | check client B frame N in-untyped SLOT | "
                     "check client B frame N at ADDR");
    }
}

static void parse_poke(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (n < 4 || (strcmp(tok[1], "frame") != 0 && strcmp(tok[1], "envelope") != 0))
        scn_error(p, "poke frame|envelope OFFSET BYTE...");
    if (s->npokes == MAX_POKES)
        scn_error(p, "too many pokes");
    struct scn_poke *k = &s->poke[s->npokes++];
    k->envelope = strcmp(tok[1], "envelope") == 0;
    uint64_t off = num(p, tok[2], "offset");
    if (off > MEMD_FRAME_MAX_BYTES)
        scn_error(p, "poke offset out of range");
    k->offset = (uint32_t)off;
    k->len = 0;
    for (int i = 3; i < n; i++) {
        uint64_t b = num(p, tok[i], "byte");
        if (b > 0xFFu || k->len == sizeof k->bytes)
            scn_error(p, "poke: bytes 0..255, at most 64");
        k->bytes[k->len++] = (uint8_t)b;
    }
}

/* metadata none | metadata [base=ADDR] [size=N] */
static void parse_metadata(struct parser *p, char **tok, int n)
{
    struct scenario *s = p->s;
    if (n == 2 && strcmp(tok[1], "none") == 0) {
        s->meta_none = true;
        s->meta_base.set = s->meta_size.set = false;
        return;
    }
    if (n < 2)
        scn_error(p, "metadata none | metadata [base=ADDR] [size=N]");
    s->meta_none = false;
    for (int i = 1; i < n; i++) {
        char *v = split_kv(tok[i]);
        if (v != NULL && strcmp(tok[i], "base") == 0)
            set_opt(p, &s->meta_base, v, "base");
        else if (v != NULL && strcmp(tok[i], "size") == 0)
            set_opt(p, &s->meta_size, v, "size");
        else
            scn_error(p, "metadata: base=ADDR and size=N, or none; not '%s'", tok[i]);
    }
}

static void parse_file(struct parser *p, const char *path, int depth);

/* An include line recurses, at most four files deep (checked below). */
static void parse_line(struct parser *p, char *line, int depth)  // NOLINT(misc-no-recursion)
{
    struct scenario *s = p->s;
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char *tok[MAX_LIST + 8];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w != NULL;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == (int)ARRAY_LEN(tok))
            scn_error(p, "line too long");
        tok[n++] = w;
    }
    if (n == 0)
        return;
    const char *d = tok[0];
    if (strcmp(d, "title") == 0) {
        size_t len = 0;
        s->title[0] = '\0';
        for (int i = 1; i < n; i++)
            len += (size_t)snprintf(s->title + len, sizeof s->title - len,
                                    "%s%s", i > 1 ? " " : "", tok[i]);
    } else if (strcmp(d, "twice") == 0) {
        s->twice = true;
    } else if (strcmp(d, "include") == 0) {
        if (n != 2 || depth > 4)
            scn_error(p, "include FILE (nested at most 4 deep)");
        char path[4096];
        const char *slash = strrchr(p->file, '/');
        if (slash != NULL && tok[1][0] != '/')
            (void)snprintf(path, sizeof path, "%.*s/%s", (int)(slash - p->file),
                     p->file, tok[1]);
        else
            (void)snprintf(path, sizeof path, "%s", tok[1]);
        struct parser sub = *p;
        sub.file = path;
        sub.line = 0;
        parse_file(&sub, path, depth + 1);
    } else if (strcmp(d, "envelope") == 0) {
        parse_envelope(p, tok, n);
    } else if (strcmp(d, "frame") == 0) {
        parse_frame(p, tok, n);
    } else if (strcmp(d, "metadata") == 0) {
        parse_metadata(p, tok, n);
    } else if (strcmp(d, "poke") == 0) {
        parse_poke(p, tok, n);
    } else if (strcmp(d, "slot") == 0) {
        parse_slot(p, tok, n);
    } else if (strcmp(d, "remove") == 0) {
        if (n != 3 || strcmp(tok[1], "slot") != 0)
            scn_error(p, "remove slot SLOT");
        uint64_t slot = num(p, tok[2], "slot");
        uint32_t i;
        for (i = 0; i < s->nslots && s->slot[i].slot != slot; i++)
            ;
        if (i == s->nslots)
            scn_error(p, "no slot line for %" PRIu64, slot);
        memmove(&s->slot[i], &s->slot[i + 1],
                (s->nslots - i - 1) * sizeof s->slot[0]);
        s->nslots--;
    } else if (strcmp(d, "cap") == 0) {
        parse_cap(p, tok, n);
    } else if (strcmp(d, "untyped") == 0) {
        parse_untyped(p, tok, n);
    } else if (strcmp(d, "ready-answer") == 0) {
        if (n != 2)
            scn_error(p, "ready-answer KERR");
        s->ready_answer = NAMED_ARG(p, kerr_names, tok[1], "kernel error");
    } else if (strcmp(d, "inject") == 0) {
        if (n != 4)
            scn_error(p, "inject SYSCALL NTH KERR");
        if (s->ninject == MAX_INJECT)
            scn_error(p, "too many injections");
        struct scn_inject *in = &s->inject[s->ninject++];
        in->sys = (uint32_t)NAMED_ARG(p, sys_names, tok[1], "system call");
        if (in->sys == SYS_CALL || in->sys == SYS_HALT || in->sys == SYS_QUERY_CAP)
            scn_error(p, "inject: CALL fails with ready-answer; HALT and QUERY_CAP cannot");
        uint64_t nth = num(p, tok[2], "nth");
        if (nth == 0 || nth > UINT32_MAX)
            scn_error(p, "inject: NTH counts from 1");
        in->nth = (uint32_t)nth;
        in->kerr = NAMED_ARG(p, kerr_names, tok[3], "kernel error");
        if (in->kerr == KERR_OK)
            scn_error(p, "inject: an injected failure cannot be ok");
    } else if (strcmp(d, "expect-startup") == 0 && n >= 2 && strcmp(tok[1], "unreported") == 0) {
        /* a test image of mode no-ready: no report, and a halt */
        char *v = n == 3 ? split_kv(tok[2]) : NULL;
        if (v == NULL || strcmp(tok[2], "halt") != 0)
            scn_error(p, "expect-startup unreported halt=STATUS");
        s->startup_set = true;
        s->startup_unreported = true;
        s->startup_status = NAMED_ARG(p, status_names, v, "startup status");
    } else if (strcmp(d, "expect-startup") == 0) {
        if (n < 2)
            scn_error(p, "expect-startup STATUS [detail=N]");
        s->startup_set = true;
        s->startup_unreported = false;
        s->startup_status = NAMED_ARG(p, status_names, tok[1], "startup status");
        for (int i = 2; i < n; i++) {
            char *v = split_kv(tok[i]);
            if (v == NULL || strcmp(tok[i], "detail") != 0)
                scn_error(p, "expect-startup STATUS [detail=N]");
            set_opt(p, &s->startup_detail, v, "detail");
        }
    } else if (strcmp(d, "client") == 0 || strcmp(d, "rootd") == 0) {
        uint64_t badge;
        int first;
        if (strcmp(d, "rootd") == 0) {
            badge = MEMD_BADGE_ROOTD;
            first = 1;
        } else {
            if (n < 3)
                scn_error(p, "client BADGE ...");
            badge = num(p, tok[1], "badge");
            first = 2;
        }
        if (first < n && is_verb(tok[first]))
            parse_message(p, badge, tok + first, n - first);
        else if (strcmp(d, "client") == 0)
            parse_client_entry(p, tok, n);
        else
            scn_error(p, "rootd VERB ...: alloc, free, stats, reclaim, raw");
    } else if (strcmp(d, "expect") == 0) {
        parse_expect(p, tok, n);
    } else if (strcmp(d, "expect-record") == 0) {
        parse_expect_record(p, tok, n);
    } else if (strcmp(d, "check") == 0) {
        parse_check(p, tok, n);
    } else if (strcmp(d, "repeat") == 0) {
        if (n != 2 || p->repeat_depth != 0)
            scn_error(p, "repeat N (not nested)");
        uint64_t times = num(p, tok[1], "times");
        if (times == 0 || times > 100000)
            scn_error(p, "repeat 1..100000");
        p->repeat_depth = 1;
        p->repeat_start = s->nsteps;
        p->repeat_times = (uint32_t)times;
        p->repeat_line = p->line;
    } else if (strcmp(d, "end") == 0) {
        if (n != 1 || p->repeat_depth != 1)
            scn_error(p, "end without repeat");
        p->repeat_depth = 0;
        uint32_t first = p->repeat_start, body = s->nsteps - first;
        for (uint32_t t = 1; t < p->repeat_times; t++) {
            for (uint32_t i = 0; i < body; i++) {
                struct step copy = s->steps[first + i];
                struct step *st = new_step(p, copy.kind);
                *st = copy;   /* lists are shared: steps never change them */
            }
        }
    } else {
        scn_error(p, "unknown directive '%s'", d);
    }
}

static void parse_file(struct parser *p, const char *path, int depth)  // NOLINT(misc-no-recursion)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        (void)fprintf(stderr, "kmodel: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char line[16384];
    while (fgets(line, sizeof line, f) != NULL) {
        p->line++;
        if (strchr(line, '\n') == NULL && !feof(f))
            scn_error(p, "line longer than %zu bytes", sizeof line - 1);
        parse_line(p, line, depth);
    }
    (void)fclose(f);
}

void parse_scenario(const char *path, struct scenario *s)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->ready_answer = KERR_OK;
    struct parser p = { .s = s, .file = path };
    parse_file(&p, path, 0);
    if (p.repeat_depth != 0) {
        p.line = p.repeat_line;
        scn_error(&p, "repeat without end");
    }
    if (!s->startup_set)
        scn_error(&p, "the scenario says nothing about startup: add expect-startup");
    for (uint32_t i = 0; i < s->nsteps; i++) {
        if (s->steps[i].kind == STEP_MSG && !s->steps[i].has_expect) {
            p.line = s->steps[i].line;
            scn_error(&p, "a message without an expect line");
        }
    }
}

